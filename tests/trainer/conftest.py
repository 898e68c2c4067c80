import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
except ImportError:  # the [train] extra is not installed: these tests have nothing to run on
    collect_ignore_glob = ["test_*.py"]
else:
    # tiny models gain nothing from intra-op threads, and on a shared CPU spinning threads cost a lot
    torch.set_num_threads(1)


def write_shards(root: Path, docs: list[list[int]], n_shards: int = 2, row_group_size: int = 16,
                 manifest: bool = True, vocab_size: int | None = 512, eos_id: int = 0) -> Path:
    """Shards in the shard format (shard-NNNNN.parquet + manifest.json), written with plain pyarrow only."""
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for s in range(n_shards):
        part = docs[s::n_shards]
        table = pa.table({
            "id": [f"doc-{s}-{i}" for i in range(len(part))],
            "tokens": pa.array(part, type=pa.list_(pa.uint32())),
            "n_tokens": pa.array([len(d) for d in part], type=pa.int32()),
            "category": ["test"] * len(part),
            "quality": pa.array([1.0] * len(part), type=pa.float32()),
            "weight": pa.array([1.0] * len(part), type=pa.float32()),
            "lang": ["en"] * len(part),
            "domain": ["example.com"] * len(part),
        })
        name = f"shard-{s:05d}.parquet"
        pq.write_table(table, root / name, row_group_size=row_group_size)
        data = (root / name).read_bytes()
        groups = [min(row_group_size, len(part) - i) for i in range(0, len(part), row_group_size)]
        entries.append({"file": name, "rows": len(part), "tokens": sum(len(d) for d in part), "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(), "row_groups": groups})
    if manifest:
        tokenizer = {"vocab_size": vocab_size, "eos_id": eos_id} if vocab_size else {}
        totals = {total: sum(e[key] for e in entries)
                  for total, key in (("documents", "rows"), ("tokens", "tokens"), ("bytes", "bytes"))}
        (root / "manifest.json").write_text(json.dumps({"format": "sluice.shards", "format_version": 1,
                                                        "shards": entries, **totals, "tokenizer": tokenizer}))
    return root


def pattern_docs(n: int, vocab: int = 512, seed: int = 0, max_len: int = 300) -> list[list[int]]:
    """Learnable documents: arithmetic progressions mod vocab with a per-document start and stride."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        length = int(np.clip(rng.lognormal(4.0, 0.8), 3, max_len))
        start, stride = int(rng.integers(vocab)), int(rng.integers(1, 4))
        docs.append([(start + stride * i) % vocab for i in range(length)])
    return docs


@pytest.fixture(scope="session")
def shard_dir(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"), pattern_docs(400))


def add_tokenizer(root: Path, vocab_size: int = 512, eos_token: str = "<|endoftext|>") -> str:
    """A WordLevel tokenizer.json beside the shards (EOS id 0), recorded in the manifest as the tokenize job
    records it (file, sha256, eos_token, eos_id, vocab_size); returns its text."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    vocab = {eos_token: 0, **{f"t{i}": i for i in range(1, vocab_size)}}
    text = Tokenizer(WordLevel(vocab, unk_token="t1")).to_str()
    (root / "tokenizer.json").write_text(text, encoding="utf-8")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["tokenizer"] = {"file": "tokenizer.json", "sha256": hashlib.sha256(text.encode()).hexdigest(),
                             "eos_token": eos_token, "eos_id": 0, "vocab_size": vocab_size}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return text
