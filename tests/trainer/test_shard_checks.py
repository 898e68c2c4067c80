"""`sluice train` verifies what `sluice inspect` verifies, with the same code (pipeline.shards): the tokenizer's
sha256, EOS id and vocabulary size against the manifest, manifest totals, duplicate shard entries, vocabulary
bounds. A refused directory is one line and rc 2, before any run directory is written."""

import hashlib
import json

import pytest

from tests.trainer.conftest import add_tokenizer, pattern_docs, write_shards
from trainer.train import main


@pytest.fixture
def shards(tmp_path):
    root = write_shards(tmp_path / "shards", pattern_docs(60), vocab_size=512, eos_id=0)
    add_tokenizer(root)
    return root


def edit_manifest(root, change) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def refused(shards, tmp_path, capsys, before_the_run: bool = True) -> str:
    args = ["--data", str(shards), "--config", "tiny", "--out", str(tmp_path / "run"), "--steps", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sluice train: error: "), err
    assert not (tmp_path / "run").exists() or not before_the_run
    return err[0]


def test_the_checked_tokenizer_is_copied_into_the_run(shards, tmp_path):
    assert main(["--data", str(shards), "--config", "tiny", "--out", str(tmp_path / "run"), "--steps", "1"]) == 0
    assert (tmp_path / "run" / "tokenizer.json").read_bytes() == (shards / "tokenizer.json").read_bytes()


def test_a_different_tokenizer_is_refused(shards, tmp_path, capsys):
    data = json.loads((shards / "tokenizer.json").read_text())
    data["model"]["vocab"]["t5"], data["model"]["vocab"]["t6"] = 6, 5  # same size and EOS, other ids
    (shards / "tokenizer.json").write_text(json.dumps(data))
    assert "tokenizer.json: sha256 differs from manifest.json" in refused(shards, tmp_path, capsys)


def test_a_malformed_tokenizer_is_refused(shards, tmp_path, capsys):
    (shards / "tokenizer.json").write_text("{ not json")
    edit_manifest(shards, lambda m: m["tokenizer"].update(
        sha256=hashlib.sha256((shards / "tokenizer.json").read_bytes()).hexdigest()))
    assert "tokenizer.json: not a tokenizer.json" in refused(shards, tmp_path, capsys)


def test_a_tokenizer_the_manifest_does_not_record_is_refused(shards, tmp_path, capsys):
    edit_manifest(shards, lambda m: m.update(tokenizer={"vocab_size": 512, "eos_id": 0}))
    assert "sha256 differs from manifest.json" in refused(shards, tmp_path, capsys)


def test_a_missing_tokenizer_the_manifest_records_is_refused(shards, tmp_path, capsys):
    (shards / "tokenizer.json").unlink()
    assert "tokenizer.json: missing" in refused(shards, tmp_path, capsys)


def test_a_vocabulary_size_the_tokenizer_does_not_have_is_refused(shards, tmp_path, capsys):
    edit_manifest(shards, lambda m: m["tokenizer"].update(vocab_size=2**40))
    assert "a vocabulary of 512 ids, manifest.json says tokenizer.vocab_size = 1099511627776" in refused(
        shards, tmp_path, capsys)


def test_an_eos_outside_the_vocabulary_is_refused(tmp_path, capsys):
    shards = write_shards(tmp_path / "shards", pattern_docs(60), vocab_size=512, eos_id=512)
    assert "tokenizer.eos_id 512 is outside the vocabulary of 512" in refused(shards, tmp_path, capsys)


def test_a_shard_listed_twice_is_refused(shards, tmp_path, capsys):
    def twice(m):
        m["shards"].append(m["shards"][0])
        for total, key in (("documents", "rows"), ("tokens", "tokens"), ("bytes", "bytes")):
            m[total] += m["shards"][0][key]  # totals that add up: only the duplicate is wrong

    edit_manifest(shards, twice)
    assert "lists shard-00000.parquet more than once" in refused(shards, tmp_path, capsys)


def test_manifest_totals_that_do_not_add_up_are_refused(shards, tmp_path, capsys):
    edit_manifest(shards, lambda m: m.update(tokens=m["tokens"] + 1))
    assert "says tokens = " in refused(shards, tmp_path, capsys)


def test_token_ids_beyond_the_vocabulary_are_refused(tmp_path, capsys):
    """Ids are checked as row groups are read (a scan of every shard up front would cost a pass over the data)."""
    shards = write_shards(tmp_path / "shards", pattern_docs(60, vocab=600), vocab_size=512, eos_id=0)
    assert ">= model.vocab_size=512" in refused(shards, tmp_path, capsys, before_the_run=False)
