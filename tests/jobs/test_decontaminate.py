import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.decontaminate import EVAL_SETS_FILE, judge_batches, load_index
from jobs.run_config import RunConfig
from pipeline.decontaminate.ngrams import DecontaminateConfig, EvalSetConfig
from pipeline.stats import DropReason, Stats
from tests.pipeline.decontaminate.test_ngrams import FILLER, ITEM, NEAR_TOPIC

OTHER = "Name the longest river that flows entirely within the borders of a single European country today."


def write_eval_sets(tmp_path) -> DecontaminateConfig:
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "mmlu.jsonl").write_text(json.dumps({"question": ITEM, "answer": "B"}) + "\n")
    (tmp_path / "evals" / "geo.jsonl").write_text(json.dumps({"question": OTHER}) + "\n")
    sets = [EvalSetConfig(name=n, paths=[str(tmp_path / "evals" / f"{n}.jsonl")], fields=["question", "answer"])
            for n in ("mmlu", "geo")]
    return DecontaminateConfig(enabled=True, eval_sets=sets)


def documents() -> pa.Table:
    texts = [f"{FILLER} {ITEM.lower()} {FILLER}", NEAR_TOPIC, FILLER, f"Quiz: {OTHER}", f"{FILLER}\n\n{ITEM}"]
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts, "n_chars": [len(t) for t in texts]})


def test_cut_mode_rewrites_text_and_n_chars_and_stats_add_up(tmp_path):
    config = write_eval_sets(tmp_path)
    config.mode, config.margin_chars, config.min_chars_after_cut, config.batch_rows = "cut", 0, 100, 2
    index, records = load_index(config)
    stats = Stats()
    out = pa.Table.from_batches(list(judge_batches(documents().to_batches(), index, config, stats)))
    assert out.column("id").to_pylist() == ["d0", "d1", "d2", "d4"]  # d3 is too short after the cut
    texts = out.column("text").to_pylist()
    assert "mitochondria" not in texts[0] and texts[1] == NEAR_TOPIC and texts[3] == FILLER
    assert out.column("n_chars").to_pylist() == [len(t) for t in texts]
    assert stats.balanced() and stats.dropped == {DropReason.CONTAMINATED: 1}
    assert stats.counters["contaminated.geo"] == 1 and stats.counters["decontaminate.documents_cut"] == 2
    assert [(r["name"], r["items"]) for r in records] == [("mmlu", 1), ("geo", 1)]


def test_bad_eval_set_path_stops_the_run_with_one_line(tmp_path):
    from jobs.registry import STAGES
    from jobs.stage import RunContext, RunError

    (tmp_path / "run.toml").write_text('[decontaminate]\nenabled = true\n[[decontaminate.eval_sets]]\nname = "x"\n'
                                       f'paths = ["{tmp_path}/nope/*.parquet"]\n')
    config = RunConfig.load(tmp_path / "run.toml")
    stage = next(s for s in STAGES if s.name == "decontaminate")
    assert stage.enabled(config) and not stage.enabled(RunConfig())
    run = RunContext(args=argparse.Namespace(), config=config, out="", models="", tokenizer="", auto_tokenizer=False)
    with pytest.raises(RunError, match=r"evaluation set 'x': no file matches .*nope/\*\.parquet"):
        stage.prepare(run, "")


@pytest.mark.spark
def test_decontaminate_job_drops_planted_copies_and_lists_eval_sets(spark, tmp_path):
    from jobs.decontaminate import DecontaminateStage
    from jobs.tokenize_shards import _eval_sets

    config = write_eval_sets(tmp_path)
    sets = "".join(f'[[decontaminate.eval_sets]]\nname = "{s.name}"\npaths = ["{s.paths[0]}"]\n'
                   f'fields = ["question", "answer"]\n' for s in config.eval_sets)
    (tmp_path / "run.toml").write_text(f"[decontaminate]\nenabled = true\n{sets}")
    (tmp_path / "docs").mkdir()
    table = documents()
    pq.write_table(table.slice(0, 3), tmp_path / "docs" / "part-00000.parquet")
    pq.write_table(table.slice(3), tmp_path / "docs" / "part-00001.parquet")
    out = tmp_path / "decontaminated"
    argv = ["--input", str(tmp_path / "docs"), "--output", str(out), "--config", str(tmp_path / "run.toml")]
    assert DecontaminateStage().main(argv) == 0

    assert sorted(pq.read_table(out).column("id").to_pylist()) == ["d1", "d2"]
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["records_in"] == 5 and stats["dropped"] == {"contaminated": 3}
    assert stats["counters"]["contaminated.mmlu"] == 2 and stats["counters"]["contaminated.geo"] == 1
    listed = json.loads((out / EVAL_SETS_FILE).read_text())
    assert [(s["name"], s["files"]) for s in listed] == [("mmlu", ["mmlu.jsonl"]), ("geo", ["geo.jsonl"])]
    assert all(len(s["sha256"]) == 64 for s in listed)
    assert _eval_sets([str(out)]) == listed  # what the tokenize stage puts into manifest.json
    assert _eval_sets([str(tmp_path / "docs")]) is None
