"""`sluice run` end to end with `[pii]` and `[decontaminate]` on: extract (masking) → dedup → classify →
decontaminate → tokenize, on the session's sample crawl and demo models (tests/jobs/pipeline_fixtures.py).

The evaluation set is made of text that really is in the corpus: a verbatim 60-word passage of three documents of
the reference run's classified/ output (one split over two fields, one upper-cased with its spaces turned into line
breaks), plus a second set with an unrelated passage. One run with both tables on (PII changes the extract stage's
hash, so every stage runs); a rerun in a copy of that run, after one item is taken out of the evaluation file (same
path, same TOML), redoes decontaminate and tokenize only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.jobs.pipeline_fixtures import CONFIG, Reference, reference_run, sluice_run_args, temp_dirs

pytestmark = pytest.mark.spark

PASSAGE_WORDS = 60
NGRAM = 13  # the [decontaminate] default
UNRELATED = (
    "Knead the sourdough for ten minutes on a floured board, then leave it covered in a warm kitchen until it has "
    "doubled in size. Shape the loaf gently so the gas stays inside, score the top with a sharp blade and bake it "
    "in a hot cast iron pot with the lid on for the first twenty minutes before letting the crust brown."
)


def words(text: str) -> list[str]:
    """Words as the decontamination index sees them, stated independently: lowercase, punctuation folded."""
    return re.findall(r"\w+", text.lower())


def ngrams(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + NGRAM]) for i in range(len(w) - NGRAM + 1)}


def unique_passage(text: str, elsewhere: set[tuple[str, ...]]) -> str | None:
    """A verbatim run of PASSAGE_WORDS whitespace-separated tokens of `text` none of whose n-grams occurs in
    another document (so that exactly this document shares it), or None."""
    tokens = list(re.finditer(r"\S+", text))
    for first in range(0, len(tokens) - PASSAGE_WORDS + 1, 10):
        passage = text[tokens[first].start():tokens[first + PASSAGE_WORDS - 1].end()]
        grams = ngrams(passage)
        if len(grams) >= PASSAGE_WORDS - NGRAM and not grams & elsewhere:
            return passage
    return None


def read_rows(directory: Path, columns: list[str] | None = None) -> dict[str, dict]:
    return {row["id"]: row for row in pq.read_table(directory, columns=columns).to_pylist()}


def shard_ids(shards: Path) -> set[str]:
    return set(pq.read_table(sorted(shards.glob("shard-*.parquet")), columns=["id"]).column("id").to_pylist())


def stats_of(directory: Path) -> dict:
    return json.loads((directory / "_stats.json").read_text())


def set_digest(path: Path) -> str:
    """An evaluation set's content hash as decontaminate/eval_sets.py defines it for a one-file set: sha256 over
    the file's length (8 bytes, little endian) and bytes."""
    data = path.read_bytes()
    return hashlib.sha256(len(data).to_bytes(8, "little") + data).hexdigest()


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@dataclass
class Run:
    reference: Reference
    run: Path
    config: Path
    bench: Path  # the evaluation set with the planted passages
    other: Path  # the unrelated one
    planted: dict[str, str] = field(default_factory=dict)  # document id -> its passage, in the evaluation file's order
    items: list[dict] = field(default_factory=list)  # rows of `bench`
    digests: dict[str, str] = field(default_factory=dict)  # set name -> content hash when the run was made
    log: str = ""


def plant(reference: Reference) -> dict[str, str]:
    """Three documents of the reference's classified/ that PII masking leaves alone, each with a passage of its own."""
    from pipeline.pii.formatter import PIIConfig, PIIFormatter

    masker = PIIFormatter(PIIConfig(enabled=True))
    extracted = read_rows(reference.run / "documents", ["id", "text"])
    classified = read_rows(reference.run / "classified", ["id", "text"])
    grams = {i: ngrams(row["text"]) for i, row in classified.items()}
    planted: dict[str, str] = {}
    for doc_id in sorted(classified):
        if masker.format(extracted[doc_id]["text"]) != extracted[doc_id]["text"]:
            continue  # masking would change this document in the run: its text is not the reference's
        elsewhere = set().union(*(g for i, g in grams.items() if i != doc_id))
        passage = unique_passage(classified[doc_id]["text"], elsewhere)
        if passage is not None:
            planted[doc_id] = passage
        if len(planted) == 3:
            return planted
    raise AssertionError(f"the sample crawl has fewer than 3 documents with a {PASSAGE_WORDS}-word passage of "
                         "their own")


def bench_items(planted: dict[str, str]) -> list[dict]:
    """One item split over question and answer (joined with a space), one with other case and whitespace, one
    verbatim."""
    first, second, third = planted.values()
    head = first.split()
    return [{"question": " ".join(head[:30]), "answer": " ".join(head[30:])},
            {"question": "\n  ".join(second.upper().split())},
            {"question": third}]


def run_sluice(args: list[str]) -> str:
    """`sluice run` in this process (the test session's Spark), its standard output returned."""
    from jobs.run import main as sluice_run

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = sluice_run(args)
    assert rc == 0, f"sluice run exited {rc}:\n{out.getvalue()[-3000:]}"
    return out.getvalue()


@pytest.fixture(scope="module")
def decontaminated(spark, tmp_path_factory) -> Run:
    from jobs.run_config import RunConfig
    from pipeline.config import defaults_toml
    from pipeline.decontaminate.ngrams import EvalSetConfig

    reference = reference_run(tmp_path_factory)
    base = tmp_path_factory.mktemp("decontaminated")
    evals = base / "evals"
    evals.mkdir()
    done = Run(reference, base / "run", base / "run.toml", evals / "bench.jsonl", evals / "other.jsonl")
    done.planted = plant(reference)
    done.items = bench_items(done.planted)
    write_jsonl(done.bench, done.items)
    write_jsonl(done.other, [{"question": UNRELATED}])
    done.digests = {"bench": set_digest(done.bench), "other": set_digest(done.other)}

    config = RunConfig.load(CONFIG)  # the demo's settings plus the two tables under test
    config.pii.enabled = True
    config.decontaminate.enabled = True
    config.decontaminate.mode = "drop"
    config.decontaminate.eval_sets = [
        EvalSetConfig(name="bench", paths=[str(done.bench)], fields=["question", "answer"]),
        EvalSetConfig(name="other", paths=[str(base / "evals" / "oth*.jsonl")], fields=["question"]),
    ]
    done.config.write_text(defaults_toml(config))
    assert RunConfig.load(done.config) == config
    done.log = run_sluice(args_for(done, done.run))
    return done


def args_for(done: Run, run: Path) -> list[str]:
    args = sluice_run_args(done.reference.inputs, run, "--tokenizer", str(done.reference.tokenizer))
    args[args.index("--config") + 1] = str(done.config)
    return args


def ran(log: str, stage: str) -> bool:
    return re.search(rf"^{stage}: \d+ in, \d+ out", log, re.M) is not None


def skipped(log: str, stage: str) -> bool:
    return re.search(rf"^{stage}: \S+ is complete and its config is unchanged; skipped$", log, re.M) is not None


def test_every_stage_ran_and_decontaminate_dropped_exactly_the_planted_documents(decontaminated):
    run, planted = decontaminated.run, decontaminated.planted
    for stage in ("extract", "dedup", "classify", "decontaminate", "tokenize"):
        assert ran(decontaminated.log, stage), f"{stage} did not run:\n{decontaminated.log[-3000:]}"
    assert "sluice run: done" in decontaminated.log
    assert not temp_dirs(run)

    classified = pq.read_table(run / "classified").sort_by("id")
    decontam = pq.read_table(run / "decontaminated").sort_by("id")
    classified_ids = classified.column("id").to_pylist()
    assert set(planted) <= set(classified_ids), "a planted document did not reach classified/ in this run"
    for doc_id, passage in planted.items():  # the passage is still verbatim in the run's own text
        assert passage in classified.filter(pc.equal(classified["id"], doc_id))["text"][0].as_py()
    assert decontam.column("id").to_pylist() == [i for i in classified_ids if i not in planted]
    kept = classified.filter(pc.invert(pc.is_in(classified["id"], pa.array(list(planted)))))
    assert decontam.equals(kept), "drop mode changed a document it kept"

    stats = stats_of(run / "decontaminated")
    assert stats["records_in"] == classified.num_rows == stats_of(run / "classified")["records_out"]
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    assert stats["dropped"] == {"contaminated": len(planted)}
    assert stats["counters"]["contaminated.bench"] == len(planted)
    assert "contaminated.other" not in stats["counters"]  # the unrelated passage matched nothing
    assert stats["counters"]["decontaminate.eval_ngrams"] > 0
    stage = json.loads((run / "decontaminated" / "_stage.json").read_text())
    assert stage["stage"] == "decontaminate"


def test_tokenize_read_the_decontaminated_output_and_the_manifest_lists_the_sets(decontaminated):
    run = decontaminated.run
    decontam_ids = set(read_rows(run / "decontaminated", ["id"]))
    tokenized = shard_ids(run / "shards")
    assert tokenized == decontam_ids  # none of the planted documents was tokenized
    assert not tokenized & set(decontaminated.planted)
    tokenize = stats_of(run / "shards")
    assert tokenize["records_in"] == stats_of(run / "decontaminated")["records_out"]

    manifest = json.loads((run / "shards" / "_manifest.json").read_text())
    listed = {s["name"]: s for s in manifest["eval_sets"]}
    assert sorted(listed) == ["bench", "other"]
    for name, digest in decontaminated.digests.items():
        assert listed[name]["sha256"] == digest
        assert listed[name]["files"] == [f"{name}.jsonl"] and listed[name]["items"] == (3 if name == "bench" else 1)
        assert listed[name]["ngrams"] > 0
    # each file's plain sha256 too, what `sha256sum` prints ("other" is the set no test rewrites)
    assert listed["other"]["file_sha256"] == [hashlib.sha256(decontaminated.other.read_bytes()).hexdigest()]
    assert manifest["config"]["decontaminate"]["enabled"] and manifest["config"]["pii"]["enabled"]


def test_pii_is_masked_in_extract_and_counted_in_its_stats(decontaminated):
    """The sample crawl has a few real addresses (module authors' e-mails, IPs in socket docs): the documents that
    differ from the reference run (no masking) are exactly those the counters call touched, and each placeholder
    in documents/ is one counted span. Masking never drops a document."""
    from pipeline.pii.detect import TYPES

    run, reference = decontaminated.run, decontaminated.reference.run
    ours, theirs = stats_of(run / "documents"), stats_of(reference / "documents")
    assert ours["records_out"] == theirs["records_out"] and ours["dropped"] == theirs["dropped"]
    counters = ours["counters"]
    masked = read_rows(run / "documents", ["id", "text"])
    plain = read_rows(reference / "documents", ["id", "text"])
    assert sorted(masked) == sorted(plain)
    touched = {i for i in masked if masked[i]["text"] != plain[i]["text"]}
    assert counters.get("pii.documents", 0) == len(touched)
    spans = 0
    for kind in TYPES:
        placeholder = f"<{kind.upper()}>"
        having = {i for i, row in masked.items() if placeholder in row["text"] and placeholder not in plain[i]["text"]}
        n = sum(masked[i]["text"].count(placeholder) for i in having)
        assert counters.get(f"pii.{kind}.documents", 0) == len(having), kind
        assert counters.get(f"pii.{kind}.spans", 0) == n, kind
        spans += n
    assert spans > 0 and counters["pii.email.spans"] > 0, "the sample crawl's e-mail addresses were not masked"
    for i in touched:  # an e-mail document had an address before masking
        if "<EMAIL>" in masked[i]["text"]:
            assert "@" in plain[i]["text"]


def test_cut_mode_on_the_planted_documents_removes_only_their_passages(decontaminated, tmp_path):
    """The job's batch function in cut mode (no margin) on the real documents: each planted passage is gone, the
    words around it stay, n_chars follows, and the other documents are untouched."""
    from jobs.decontaminate import judge_batches, load_index
    from pipeline.decontaminate.ngrams import DecontaminateConfig, EvalSetConfig
    from pipeline.stats import Stats

    write_jsonl(tmp_path / "bench.jsonl", decontaminated.items)
    config = DecontaminateConfig(enabled=True, mode="cut", margin_chars=0, min_chars_after_cut=0, batch_rows=4,
                                 eval_sets=[EvalSetConfig(name="bench", paths=[str(tmp_path / "bench.jsonl")],
                                                          fields=["question", "answer"])])
    index, _ = load_index(config)
    table = pq.read_table(decontaminated.run / "classified", columns=["id", "text", "n_chars"]).sort_by("id")
    stats = Stats()
    out = pa.Table.from_batches(list(judge_batches(table.to_batches(), index, config, stats)))
    before = {r["id"]: r for r in table.to_pylist()}
    after = {r["id"]: r for r in out.to_pylist()}
    assert sorted(after) == sorted(before) and stats.dropped == {}
    assert stats.counters["decontaminate.documents_cut"] == len(decontaminated.planted)
    for doc_id, row in after.items():
        assert row["n_chars"] == len(row["text"])
        if doc_id not in decontaminated.planted:
            assert row["text"] == before[doc_id]["text"]
            continue
        text = before[doc_id]["text"]
        start = text.index(decontaminated.planted[doc_id])
        end = start + len(decontaminated.planted[doc_id])
        assert words(row["text"]) == words(text[:start]) + words(text[end:])


def mtimes(*directories: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for d in directories for p in sorted(d.rglob("*"))}


def test_rerun_skips_every_stage_and_a_changed_eval_set_redoes_decontaminate_and_tokenize_only(
        decontaminated, tmp_path):
    """In a copy of the run, the same command again skips every stage and rewrites nothing. Then the last item is
    taken out of the evaluation file (same path, same TOML): the upstream stages are skipped untouched,
    decontaminate and tokenize run again, the item's document comes back, and the manifest records the set's new
    hash. (It rewrites the module's evaluation file: the other tests use what the fixture recorded of it.)"""
    run = tmp_path / "run"
    shutil.copytree(decontaminated.run, run)  # copy2: mtimes kept
    stages = {"extract": "documents", "dedup": "deduped", "classify": "classified",
              "decontaminate": "decontaminated", "tokenize": "shards"}
    complete = mtimes(*(run / d for d in stages.values()))
    log = run_sluice(args_for(decontaminated, run))
    for stage in stages:
        assert skipped(log, stage) and not ran(log, stage), f"{stage} was not skipped:\n{log[-3000:]}"
    assert mtimes(*(run / d for d in stages.values())) == complete, "a skipped stage was rewritten"

    upstream = [run / d for d in ("documents", "deduped", "classified")]
    before = mtimes(*upstream)
    released = list(decontaminated.planted)[-1]  # the document of the last item
    write_jsonl(decontaminated.bench, decontaminated.items[:-1])

    log = run_sluice(args_for(decontaminated, run))

    for stage in ("extract", "dedup", "classify"):
        assert skipped(log, stage), f"{stage} was not skipped:\n{log[-3000:]}"
    assert ran(log, "decontaminate") and ran(log, "tokenize")
    assert mtimes(*upstream) == before
    stats = stats_of(run / "decontaminated")
    assert stats["dropped"] == {"contaminated": len(decontaminated.planted) - 1}
    decontam_ids = set(read_rows(run / "decontaminated", ["id"]))
    assert released in decontam_ids and not decontam_ids & (set(decontaminated.planted) - {released})
    assert shard_ids(run / "shards") == decontam_ids
    listed = {s["name"]: s for s in json.loads((run / "shards" / "_manifest.json").read_text())["eval_sets"]}
    assert listed["bench"]["sha256"] == set_digest(decontaminated.bench) != decontaminated.digests["bench"]
    assert listed["bench"]["items"] == 2 and listed["other"]["sha256"] == decontaminated.digests["other"]
    assert not temp_dirs(run)
