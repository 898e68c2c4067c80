"""A run-trained tokenizer belongs to its data: trained again when its input stage's hash or a [tokenize] training
key changes, or when its record is missing (a kill between the tokenizer and its record); kept otherwise."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.run_tokenizer import RECORD_SUFFIX, ensure_trained
from pipeline.tokenize.tokenizer import TokenizeConfig
from tests.pipeline.tokenize.test_tokenizer import EOS, corpus_texts


def corpus(tmp_path, stage_hash: str | None = "aaaa"):
    classified = tmp_path / "classified"
    classified.mkdir(exist_ok=True)
    pq.write_table(pa.table({"id": [str(i) for i in range(200)], "text": corpus_texts(200)}),
                   classified / "part-00000.parquet")
    if stage_hash is not None:
        (classified / "_stage.json").write_text(json.dumps({"stage": "classify", "config_hash": stage_hash}))
    return str(classified)


def test_trained_again_exactly_when_its_input_or_training_keys_change(tmp_path):
    data, tokenizer = corpus(tmp_path), str(tmp_path / "tokenizer.json")
    config = TokenizeConfig(vocab_size=300, eos_token=EOS, train_sample_mb=1)
    assert ensure_trained(data, tokenizer, config, ran_upstream=False)  # none yet
    record = json.loads((tmp_path / f"tokenizer.json{RECORD_SUFFIX}").read_text())
    assert record["vocab_size"] == 300 and record["corpus"] == data
    assert not ensure_trained(data, tokenizer, config, ran_upstream=False)  # same input, same keys: kept
    assert not ensure_trained(data, tokenizer, config, ran_upstream=True)  # an earlier stage ran, output unchanged

    (tmp_path / "classified" / "_stage.json").write_text(json.dumps({"config_hash": "bbbb"}))  # classify redone
    assert ensure_trained(data, tokenizer, config, ran_upstream=False)
    assert not ensure_trained(data, tokenizer, config, ran_upstream=False)

    bigger = TokenizeConfig(vocab_size=400, eos_token=EOS, train_sample_mb=1)  # [tokenize] vocab_size changed
    assert ensure_trained(data, tokenizer, bigger, ran_upstream=False)
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["vocab"].__len__() > 300

    (tmp_path / f"tokenizer.json{RECORD_SUFFIX}").unlink()  # killed after the tokenizer, before its record
    assert ensure_trained(data, tokenizer, bigger, ran_upstream=False)


def test_a_corpus_without_a_stage_record_keeps_the_old_rule(tmp_path):
    data, tokenizer = corpus(tmp_path, stage_hash=None), str(tmp_path / "tokenizer.json")
    config = TokenizeConfig(vocab_size=300, eos_token=EOS, train_sample_mb=1)
    assert ensure_trained(data, tokenizer, config, ran_upstream=False)
    assert not ensure_trained(data, tokenizer, config, ran_upstream=False)
    assert ensure_trained(data, tokenizer, config, ran_upstream=True)
