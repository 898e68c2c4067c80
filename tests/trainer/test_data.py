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
        # right padding only, and targets are the inputs shifted by one
        assert torch.all(real[:, :-1] | ~real[:, 1:])
        assert torch.all((b["input_ids"][:, 1:] == b["labels"][:, :-1])[real[:, 1:]])


def all_targets(batches) -> list[int]:
    return sorted(int(x) for b in batches for x in b["labels"][b["labels"] != IGNORE_INDEX])


@pytest.mark.parametrize("manifest", [True, False])
@pytest.mark.parametrize("num_workers,world_size", [(0, 1), (2, 1), (0, 3)])
def test_one_epoch_reads_each_document_once_across_ranks_and_workers(tmp_path, num_workers, world_size, manifest):
    docs = pattern_docs(60, seed=3, max_len=100)
    root = write_shards(tmp_path / "s", docs, n_shards=2, manifest=manifest)
    cfg = DataConfig(tokens_per_batch=256, shuffle_buffer=1000, num_workers=num_workers)
    got = []
    for rank in range(world_size):
        loader = ShardLoader(root, cfg, 128, rank=rank, world_size=world_size)
        for role in range(max(1, num_workers)):  # a window larger than the data is one epoch
            got += loader.dataset.read_window(loader.dataset.consumer(role), role, window=0)
    targets = sorted(int(x) for _, labels in got for x in labels[labels != IGNORE_INDEX])
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


def test_empty_directory_is_named(tmp_path):
    with pytest.raises(DataError, match="no shard-"):
        open_documents(tmp_path)


def test_corrupt_shard_is_named(tmp_path):
    (tmp_path / "shard-00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="shard-00000.parquet: not a readable Parquet"):
        open_documents(tmp_path)


def test_shard_without_tokens_column_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a"], "text": ["hello"]}), tmp_path / "shard-00000.parquet")
    with pytest.raises(DataError, match="no 'tokens' column"):
        open_documents(tmp_path)


def test_manifest_problems_are_named(tmp_path):
    root = write_shards(tmp_path / "s", pattern_docs(10), n_shards=1)
    (root / "shard-00000.parquet").unlink()
    with pytest.raises(DataError, match="shard-00000.parquet: listed in manifest.json but missing"):
        open_documents(root)
    (root / "manifest.json").write_text("{")
    with pytest.raises(DataError, match="manifest.json: not valid JSON"):
        open_documents(root)


def test_too_many_consumers_for_the_data_is_explained(tmp_path):
    root = write_shards(tmp_path / "s", pattern_docs(10), n_shards=1)
    with pytest.raises(DataError, match="gets no documents"):
        ShardLoader(root, DataConfig(), 128, rank=1, world_size=2)


def test_token_ids_beyond_the_vocabulary_are_named(shard_dir):
    loader = ShardLoader(shard_dir, DataConfig(), 128, vocab_size=100)
    with pytest.raises(DataError, match=r"shard-0000\d.parquet: token id \d+ >= model.vocab_size=100"):
        next(iter(loader))


@pytest.mark.parametrize("manifest", [True, False])
def test_the_stream_rolls_over_epochs(tmp_path, manifest):
    docs = pattern_docs(12, seed=5, max_len=40)
    root = write_shards(tmp_path / "s", docs, n_shards=2, row_group_size=4, manifest=manifest)
    loader = ShardLoader(root, DataConfig(tokens_per_batch=64, shuffle_buffer=4), 128)
    batches = first_batches(loader, 60)
    per_epoch = sum(len(d) - 1 for d in docs)
    assert sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in batches) > 2 * per_epoch
