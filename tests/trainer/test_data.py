import json

import numpy as np
import pytest
import torch

from tests.trainer.conftest import pattern_docs, write_shards
from trainer.data import (
    IGNORE_INDEX,
    DataConfig,
    DataError,
    ShardLoader,
    cut_sequences,
    default_buckets,
    open_documents,
)


def test_cut_sequences_predicts_every_token_once():
    doc = np.arange(11)
    pieces = cut_sequences(doc, 4)
    assert [p.tolist() for p in pieces] == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9, 10]]
    assert cut_sequences(np.arange(1), 4) == []


def test_default_buckets():
    assert default_buckets(128) == [16, 24, 32, 48, 64, 96, 128]


def first_batches(loader: ShardLoader, n: int) -> list[dict]:
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_batches_respect_the_budget_and_vary_in_shape(shard_dir):
    loader = ShardLoader(shard_dir, DataConfig(tokens_per_batch=512, shuffle_buffer=64), max_seq_len=128)
    batches = first_batches(loader, 20)
    shapes = {tuple(b["input_ids"].shape) for b in batches}
    assert len(shapes) > 3
    for b in batches:
        B, S = b["input_ids"].shape
        assert S <= 128 and (B * S <= 512 or B == 1)
        real = b["labels"] != IGNORE_INDEX
        assert torch.equal(b["attention_mask"], real)  # every real input position has a target, padding none
        # right padding only, and targets are the inputs shifted by one
        assert torch.all(real[:, :-1] | ~real[:, 1:])
        assert torch.all((b["input_ids"][:, 1:] == b["labels"][:, :-1])[real[:, 1:]])


def all_targets(batches) -> list[int]:
    return sorted(int(x) for b in batches for x in b["labels"][b["labels"] != IGNORE_INDEX])


@pytest.mark.parametrize("num_workers,world_size", [(0, 1), (2, 1), (0, 3)])
def test_one_epoch_reads_each_document_once_across_ranks_and_workers(tmp_path, num_workers, world_size):
    docs = pattern_docs(60, seed=3, max_len=100)
    root = write_shards(tmp_path / "s", docs, n_shards=2)
    cfg = DataConfig(tokens_per_batch=256, shuffle_buffer=1000, num_workers=num_workers)
    got = []
    for rank in range(world_size):
        loader = ShardLoader(root, cfg, 128, rank=rank, world_size=world_size)
        for role in range(max(1, num_workers)):  # a window larger than the data is one epoch
            got += loader.dataset.read_window(loader.dataset.consumer(role), role, window=0)
    targets = sorted(int(x) for _, labels, _ in got for x in labels[labels != IGNORE_INDEX])
    assert targets == sorted(t for d in docs for t in d[1:])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_position_resumes_the_same_stream(shard_dir, num_workers):
    cfg = DataConfig(tokens_per_batch=512, shuffle_buffer=40, num_workers=num_workers)
    reference = first_batches(ShardLoader(shard_dir, cfg, 128), 16)
    loader = ShardLoader(shard_dir, cfg, 128)
    first_batches(loader, 7)
    state = json.loads(json.dumps(loader.state_dict()))  # plain data
    resumed = ShardLoader(shard_dir, cfg, 128)
    resumed.load_state_dict(state)
    for want, got in zip(reference[7:], first_batches(resumed, 9), strict=True):
        assert torch.equal(want["input_ids"], got["input_ids"]) and torch.equal(want["labels"], got["labels"])


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_documents(tmp_path / "nope")


def test_a_directory_without_manifest_is_named(tmp_path):
    with pytest.raises(DataError, match="manifest.json: missing"):
        open_documents(tmp_path)
    write_shards(tmp_path / "s", pattern_docs(10), n_shards=1, manifest=False)
    with pytest.raises(DataError, match="manifest.json: missing"):
        open_documents(tmp_path / "s")


def test_a_shard_that_disagrees_with_the_manifest_is_named(tmp_path):
    root = write_shards(tmp_path / "s", pattern_docs(10), n_shards=1)
    (root / "shard-00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="shard-00000.parquet: 18 bytes, manifest.json says"):
        open_documents(root)


def test_verify_checks_each_shard_against_its_sha256(tmp_path):
    root = write_shards(tmp_path / "s", pattern_docs(40), n_shards=1)
    data = bytearray((root / "shard-00000.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    (root / "shard-00000.parquet").write_bytes(bytes(data))
    with pytest.raises(DataError, match="sha256 differs"):
        next(iter(ShardLoader(root, DataConfig(verify=True), 128)))


def test_manifest_problems_are_named(tmp_path):
    root = write_shards(tmp_path / "s", pattern_docs(10), n_shards=1)
    (root / "shard-00000.parquet").unlink()
    with pytest.raises(DataError, match="shard-00000.parquet: listed in manifest.json but missing"):
        open_documents(root)
    (root / "manifest.json").write_text("{")
    with pytest.raises(DataError, match="manifest.json: not valid JSON"):
        open_documents(root)


def test_too_many_consumers_for_the_data_is_explained(tmp_path):
    root = write_shards(tmp_path / "s", pattern_docs(3), n_shards=1)
    with pytest.raises(DataError, match="gets no documents: the shards have fewer documents than ranks x workers"):
        ShardLoader(root, DataConfig(), 128, rank=3, world_size=4)


def test_one_row_group_splits_into_row_ranges_for_four_ranks(tmp_path):
    """Fewer row groups than ranks: each rank reads its own range of rows, all of them once, in shard order."""
    docs = pattern_docs(41, seed=5, max_len=60)
    root = write_shards(tmp_path / "s", docs, n_shards=1, row_group_size=1000)
    reader = open_documents(root)
    assert reader.manifest["shards"][0]["row_groups"] == [41]
    seen = []
    for rank in range(4):
        for worker in range(2):
            part = reader.shard(rank, 4).shard(worker, 2)
            rows = [d.row for d in part]
            assert rows == sorted(rows) and len(rows) in (5, 6)
            seen += rows
    assert sorted(seen) == list(range(41))
    cfg = DataConfig(tokens_per_batch=256, shuffle_buffer=1000, num_workers=2)
    got = []
    for rank in range(4):
        loader = ShardLoader(root, cfg, 128, rank=rank, world_size=4)
        for role in range(2):
            got += loader.dataset.read_window(loader.dataset.consumer(role), role, window=0)
    targets = sorted(int(x) for _, labels, _ in got for x in labels[labels != IGNORE_INDEX])
    assert targets == sorted(t for d in docs for t in d[1:])


def test_token_ids_beyond_the_vocabulary_are_named(shard_dir):
    loader = ShardLoader(shard_dir, DataConfig(), 128, vocab_size=100)
    with pytest.raises(DataError, match=r"shard-0000\d.parquet: token id \d+ >= model.vocab_size=100"):
        next(iter(loader))


def test_the_stream_rolls_over_epochs(tmp_path):
    docs = pattern_docs(12, seed=5, max_len=40)
    root = write_shards(tmp_path / "s", docs, n_shards=2, row_group_size=4)
    loader = ShardLoader(root, DataConfig(tokens_per_batch=64, shuffle_buffer=4), 128)
    batches = first_batches(loader, 60)
    per_epoch = sum(len(d) - 1 for d in docs)
    assert sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in batches) > 2 * per_epoch


def test_vocabulary_comes_from_the_shards_when_the_config_leaves_it_unset(tmp_path):
    from trainer.data import resolve_vocabulary
    from trainer.model import ModelConfig

    root = write_shards(tmp_path / "s", pattern_docs(10, vocab=300), n_shards=1, vocab_size=300, eos_id=7)
    cfg = ModelConfig()
    resolve_vocabulary(cfg, root)
    assert (cfg.vocab_size, cfg.eos_id) == (300, 7)
    resolve_vocabulary(ModelConfig(vocab_size=300), root)  # agreeing values are fine

    with pytest.raises(DataError, match=r"^model.vocab_size=512 but the shards in .* were tokenized with a "
                                        r"vocabulary of 300 \(manifest.json\)"):
        resolve_vocabulary(ModelConfig(vocab_size=512), root)

    bare = write_shards(tmp_path / "b", pattern_docs(10), n_shards=1, vocab_size=None)
    with pytest.raises(DataError, match="records no tokenizer vocab_size: set model.vocab_size"):
        resolve_vocabulary(ModelConfig(), bare)
    set_by_hand = ModelConfig(vocab_size=512)
    resolve_vocabulary(set_by_hand, bare)
    assert set_by_hand.vocab_size == 512


def test_cli_names_both_vocabularies_in_one_line(tmp_path, capsys):
    from trainer.train import main

    root = write_shards(tmp_path / "s", pattern_docs(40, vocab=300), n_shards=1, vocab_size=300)
    args = ["--data", str(root), "--config", "tiny", "--out", str(tmp_path / "r"), "--steps", "1"]
    assert main(args + ["--set", "model.vocab_size=512"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.vocab_size=512" in err and "vocabulary of 300" in err
    assert main(args) == 0  # unset: 300 from the manifest
    assert '"vocab_size": 300' in (tmp_path / "r" / "config.json").read_text()
