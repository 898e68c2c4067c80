import gzip
import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.decontaminate.eval_sets import EvalSetError, load_eval_set
from pipeline.decontaminate.ngrams import DecontaminateConfig, EvalSetConfig, NgramIndex, judge_batch, words

QUESTION = ("Which of the following best describes the main function of mitochondria in eukaryotic cells "
            "during aerobic respiration?")
CHOICES = ["They synthesise proteins from amino acids", "They produce most of the cell's ATP",
           "They store genetic information for the nucleus", "They digest worn out organelles"]
ITEM = f"{QUESTION} {' '.join(CHOICES)} B"
FILLER = " ".join(f"Paragraph {i} talks about gardening, weather and the town's history at some length."
                  for i in range(8))
NEAR_TOPIC = ("Mitochondria are the organelles that produce most of a eukaryotic cell's ATP during aerobic "
              "respiration; textbooks describe them as the powerhouse of the cell, and exam questions ask about it.")


def index(*items: str, ngram: int = 13) -> NgramIndex:
    return NgramIndex.build([("mmlu", list(items))], ngram)


def verdicts(texts, idx, **config):
    return judge_batch(texts, idx, DecontaminateConfig(**config))


@pytest.mark.parametrize("copy", [
    ITEM,  # verbatim
    ITEM.upper(),  # case
    ITEM.replace(" ", "\n  "),  # whitespace
    ITEM.replace("?", " ?").replace("'", "’"),  # punctuation
    ITEM.replace("best", "most").replace("store", "keep"),  # small edits leave other 13-grams whole
])
def test_planted_copies_are_dropped(copy):
    idx = index(ITEM)
    out = verdicts([f"{FILLER} {copy} {FILLER}", NEAR_TOPIC, FILLER], idx)
    assert [v.contaminated_by for v in out] == ["mmlu", None, None]


def test_min_overlap_counts_distinct_ngrams_of_one_item():
    idx = index(ITEM)
    first_14_words = " ".join(ITEM.split()[:14])  # two 13-grams
    assert verdicts([first_14_words], idx, min_overlap=2)[0].contaminated_by == "mmlu"
    assert verdicts([first_14_words], idx, min_overlap=3)[0].contaminated_by is None
    assert verdicts([f"{first_14_words}. {first_14_words}"], idx, min_overlap=3)[0].contaminated_by is None


def test_cut_mode_removes_the_span_and_margin_and_keeps_the_rest():
    idx = index(ITEM)
    text = f"{FILLER}\n{ITEM}\n{FILLER}"
    (v,) = verdicts([text], idx, mode="cut", margin_chars=10, min_chars_after_cut=50)
    assert v.contaminated_by is None and v.text is not None
    assert "mitochondria" not in v.text.lower() and v.text.startswith("Paragraph 0") and v.text.endswith("length.")
    assert len(text) - len(v.text) >= len(ITEM) and v.cut_chars >= len(ITEM) + 10
    assert all(w in text.split() for w in v.text.split())  # margins stop at word edges


def test_cut_mode_drops_what_is_too_short_to_keep():
    (v,) = verdicts([f"Intro. {ITEM}"], index(ITEM), mode="cut", margin_chars=0, min_chars_after_cut=50)
    assert v.contaminated_by == "mmlu"


def test_short_items_and_empty_documents():
    idx = index("too short to index", ITEM)
    assert [v.contaminated_by for v in verdicts(["", "too short to index", ITEM], idx)] == [None, None, "mmlu"]


def test_words_keep_character_spans():
    text = "Héllo, WORLD!  déjà-vu 東京"
    w = words(["x", text])
    spans = [text[s:e] for s, e in zip(w.starts[1:], w.ends[1:], strict=True)]
    assert spans == ["Héllo", "WORLD", "déjà", "vu", "東", "京"]
    assert words(["hello world"]).hashes.tolist() == words(["HELLO,  World"]).hashes.tolist()


def test_the_set_name_is_the_item_with_most_shared_ngrams():
    other = "An entirely different evaluation question about the capital cities of European countries and rivers."
    idx = NgramIndex.build([("a", [other]), ("b", [ITEM])], 13)
    assert verdicts([ITEM], idx)[0].contaminated_by == "b"
    assert verdicts([other], idx)[0].contaminated_by == "a"


def write_sets(tmp_path):
    rows = [{"question": QUESTION, "choices": CHOICES, "answer": "B"}, {"question": "second item only", "answer": 1}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"question": "third"}) + "\n")
    pq.write_table(pa.Table.from_pylist([{"text": "a parquet item"}]), tmp_path / "c.parquet")


def test_eval_sets_load_from_globs_jsonl_gz_and_parquet(tmp_path):
    write_sets(tmp_path)
    fields = ["question", "choices", "answer"]
    jsonl = load_eval_set(EvalSetConfig(name="qa", paths=[str(tmp_path / "*.jsonl*")], fields=fields))
    assert jsonl.texts == [ITEM, "second item only 1", "third"]
    assert len(jsonl.sha256) == 64 and [f.rsplit("/", 1)[-1] for f in jsonl.files] == ["a.jsonl", "b.jsonl.gz"]
    # each file's plain sha256 (what sha256sum prints) is recorded too
    assert jsonl.record(7)["file_sha256"] == [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()
                                              for n in ("a.jsonl", "b.jsonl.gz")]
    parquet = load_eval_set(EvalSetConfig(name="p", paths=[str(tmp_path / "c.parquet")]))
    assert parquet.texts == ["a parquet item"]
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "changed"}) + "\n")
    assert load_eval_set(EvalSetConfig(name="qa", paths=[str(tmp_path / "*.jsonl*")], fields=fields)).sha256 != \
        jsonl.sha256


@pytest.mark.parametrize("make, paths, fields, message", [
    (None, ["missing/*.jsonl"], ["text"], "no file matches"),
    (None, ["nothing-here.jsonl"], ["text"], "no file matches"),
    ("x.csv", ["x.csv"], ["text"], "unknown format"),
    ("x.jsonl", ["x.jsonl"], ["text"], r"x\.jsonl:2: not valid JSON"),
    ("x.parquet", ["x.parquet"], ["text"], "not a readable Parquet file"),
    ("y.jsonl", ["y.jsonl"], ["prompt"], "no row has any of the fields prompt"),
])
def test_bad_eval_sets_give_one_clear_error(tmp_path, make, paths, fields, message):
    if make:
        body = '{"text": "ok"}\n{oops\n' if make == "x.jsonl" else '{"text": "ok"}\n'
        (tmp_path / make).write_text(body if make != "x.parquet" else "not parquet")
    config = EvalSetConfig(name="bad", paths=[str(tmp_path / p) for p in paths], fields=fields)
    with pytest.raises(EvalSetError, match=message) as e:
        load_eval_set(config)
    assert "'bad'" in str(e.value) and "\n" not in str(e.value)


def test_config_is_checked():
    with pytest.raises(ConfigError, match="at least one"):
        from_dict(DecontaminateConfig, {"enabled": True}, prefix="decontaminate")
    with pytest.raises(ConfigError, match="'cut'"):
        from_dict(DecontaminateConfig, {"mode": "trim"}, prefix="decontaminate")
    config = from_dict(DecontaminateConfig, {"enabled": True, "eval_sets": [{"name": "m", "paths": ["a.jsonl"]}]})
    assert config.eval_sets[0].fields == ["text"]


def test_bloom_index_finds_the_same_copies_in_a_third_of_the_memory():
    import numpy as np

    from pipeline.decontaminate.bloom import BloomIndex
    from pipeline.decontaminate.ngrams import build_index

    rng = np.random.default_rng(0)
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    bulk = [" ".join(rng.choice(vocabulary, 40)) for _ in range(2000)]
    sets = [("bulk", bulk), ("mmlu", [ITEM])]
    exact = build_index(sets, DecontaminateConfig())
    bloom = build_index(sets, DecontaminateConfig(index="bloom"))
    assert isinstance(bloom, BloomIndex) and bloom.ngrams_per_set() == exact.ngrams_per_set()
    assert bloom.nbytes < exact.nbytes / 2.5
    docs = [f"{FILLER} {ITEM.upper()}", NEAR_TOPIC, FILLER, bulk[7]]
    assert [v.contaminated_by for v in verdicts(docs, bloom)] == ["mmlu", None, None, "bulk"]
    probes = rng.integers(0, 2**63, 200_000, dtype=np.uint64)  # n-grams no set holds
    assert (bloom.lookup(probes) >= 0).mean() < 1e-5
