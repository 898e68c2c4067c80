"""What integrity checks cost on read, and what they catch.

    python benchmarks/shard_verify_bench.py [--shards 3] [--shard-mb 64] [--flips 200]

Ours: pipeline.shards.reader.ShardReader reading every row group of every shard (the trainer's read), with each page's
CRC-32 verified (always on); and pipeline.integrity.verify_parquet on a documents-like text file (the check the
Spark stages run on their input). Reference: the same reads with pyarrow and no verification. Also: the sha256
that `ShardReader(verify=True)` adds per shard, and, for single-bit flips at seeded random offsets of a shard,
how many reach the reader as different data with and without page CRCs. CPU seconds, best of seven
interleaved runs (warm page cache: the cost measured is CPU, not disk). Writes benchmarks/results/shard_verify.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.machine import describe_machine  # noqa: E402
from pipeline.integrity import verify_parquet  # noqa: E402
from pipeline.shards.format import (  # noqa: E402
    MANIFEST,
    TOKENIZER_FILE,
    ShardError,
    build_manifest,
    file_sha256,
    manifest_json,
)
from pipeline.shards.reader import ShardReader  # noqa: E402
from pipeline.shards.writer import write_shards  # noqa: E402

TOKENS_PER_DOC = 1000
VOCAB = 32000


def make_shards(directory: Path, n_shards: int, shard_mb: int, checksums: bool = True) -> dict:
    """Shards of random token ids (zipf-ish, as real ids compress) written by the pipeline's own writer."""
    rng = np.random.default_rng(0)
    docs_per_shard = (shard_mb << 20) // (4 * TOKENS_PER_DOC)
    n = docs_per_shard * n_shards
    lengths = rng.integers(TOKENS_PER_DOC // 2, TOKENS_PER_DOC * 3 // 2, n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.minimum(rng.zipf(1.3, int(offsets[-1])), VOCAB - 1).astype(np.uint32)
    batch = pa.RecordBatch.from_pydict({
        "id": [f"doc{i:09d}" for i in range(n)], "tokens": pa.ListArray.from_arrays(pa.array(offsets), values),
        "n_tokens": pa.array(lengths, pa.int32()), "category": ["web"] * n,
        "quality": pa.array(rng.random(n), pa.float32()), "weight": pa.array(np.ones(n), pa.float32()),
        "lang": ["en"] * n, "domain": [f"site{i % 97}.example" for i in range(n)],
        "shard": pa.array(np.arange(n) // docs_per_shard),
    })
    directory.mkdir(parents=True, exist_ok=True)
    original = pq.ParquetWriter
    if not checksums:  # the writer before integrity checks: the same files without page CRCs
        pq.ParquetWriter = lambda *a, **k: original(*a, **{**k, "write_page_checksum": False})
    try:
        infos = list(write_shards((batch.slice(i, 4096) for i in range(0, n, 4096)), str(directory), 8 << 20))
    finally:
        pq.ParquetWriter = original
    (directory / TOKENIZER_FILE).write_text("{}")
    manifest = build_manifest(infos, {"file": TOKENIZER_FILE}, {}, "bench")
    (directory / MANIFEST).write_text(manifest_json(manifest))
    return manifest


def best_of(fns: dict, repeat: int = 7) -> dict:
    """Best time of each function, run interleaved: load from other work on a shared machine hits all alike."""
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.process_time()  # CPU seconds of all threads: less at the mercy of the machine's load
            fn()
            times[name].append(time.process_time() - start)
    return {name: min(t) for name, t in times.items()}


def read_with_reader(directory: Path) -> None:
    for _ in ShardReader(str(directory)).iter_batches():
        pass


def read_plain(directory: Path, crc: bool = False) -> None:
    for path in sorted(directory.glob("shard-*.parquet")):
        pf = pq.ParquetFile(path, page_checksum_verification=crc)
        for g in range(pf.num_row_groups):
            pf.read_row_group(g)


def flip_outcomes(directory: Path, flips: int, seed: int = 40) -> dict:
    """Single-bit flips in shard 0: how many raise ShardError, change nothing read, or change what is read."""
    reference = [b for b in ShardReader(str(directory)).iter_batches()]
    target = directory / "shard-00000.parquet"
    data = target.read_bytes()
    rng = random.Random(seed)
    counts = {"error": 0, "unchanged": 0, "different_data": 0}
    for _ in range(flips):
        flipped = bytearray(data)
        flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(flipped))
        try:
            got = [b for b in ShardReader(str(directory)).iter_batches()]
            same = len(got) == len(reference) and all(a.equals(b) for a, b in zip(got, reference, strict=True))
            counts["unchanged" if same else "different_data"] += 1
        except (ShardError, OSError, pa.ArrowException):
            counts["error"] += 1
    target.write_bytes(data)
    return counts


def documents_file(path: Path, mb: int) -> None:
    rng = random.Random(1)
    words = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choice(words) for _ in range(400)) for _ in range(2000)]
    rows = (mb << 20) // sum(len(t) for t in texts[:100]) * 100
    table = pa.table({"id": [f"d{i}" for i in range(rows)],
                      "text": [texts[i % len(texts)] + str(i) for i in range(rows)]})
    pq.write_table(table, path, compression="zstd", write_page_checksum=True, row_group_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--shard-mb", type=int, default=64, help="uncompressed token bytes per shard")
    parser.add_argument("--documents-mb", type=int, default=128, help="uncompressed text of the documents file")
    parser.add_argument("--flips", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = make_shards(tmp / "crc", args.shards, args.shard_mb)
        file_bytes = manifest["bytes"]
        token_bytes = 4 * manifest["tokens"]
        timed = best_of({
            "reader": lambda: read_with_reader(tmp / "crc"), "crc": lambda: read_plain(tmp / "crc", crc=True),
            "plain": lambda: read_plain(tmp / "crc"),
            "sha": lambda: [file_sha256(p) for p in sorted((tmp / "crc").glob("shard-*.parquet"))]})
        read_reader, read_crc, read_ref, sha = timed["reader"], timed["crc"], timed["plain"], timed["sha"]
        make_shards(tmp / "nocrc", 1, max(1, args.shard_mb // 8), checksums=False)
        make_shards(tmp / "crc_small", 1, max(1, args.shard_mb // 8))
        without_crc = flip_outcomes(tmp / "nocrc", args.flips)
        with_crc_small = flip_outcomes(tmp / "crc_small", args.flips)

        documents_file(tmp / "docs.parquet", args.documents_mb)
        doc_bytes = (tmp / "docs.parquet").stat().st_size
        timed = best_of({"verify": lambda: verify_parquet(str(tmp / "docs.parquet")),
                         "plain": lambda: [None for _ in pq.ParquetFile(tmp / "docs.parquet").iter_batches(65536)]})
        verify_docs, plain_docs = timed["verify"], timed["plain"]

    gb_file = file_bytes / 1e9
    per_shard_256 = 256 * (1 << 20) / token_bytes  # a default shard (target_shard_mb = 256 of token bytes)
    result = {
        "name": "shard_verify",
        "machine": describe_machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "unit": "CPU-s per GB of shard file (warm cache); ours: pyarrow read with page CRCs verified",
        "ours": round(read_crc / gb_file, 3),
        "reference": round(read_ref / gb_file, 3),
        "ratio": round(read_crc / read_ref, 3),
        "crc_overhead_s_per_gb": round((read_crc - read_ref) / gb_file, 3),
        "sha256_s_per_gb": round(sha / gb_file, 3),
        "shard_reader_s_per_gb": round(read_reader / gb_file, 3),
        "per_default_shard_s": {
            "read_with_crc": round(read_crc * per_shard_256, 3), "read_without": round(read_ref * per_shard_256, 3),
            "shard_reader": round(read_reader * per_shard_256, 3), "sha256_once": round(sha * per_shard_256, 3)},
        "shard_file_bytes_per_token_byte": round(file_bytes / token_bytes, 3),
        "single_bit_flips_in_one_shard": {"with_page_crc": with_crc_small, "without_page_crc": without_crc},
        "documents_verify": {"ours_s_per_gb": round(verify_docs / (doc_bytes / 1e9), 3),
                             "reference_s_per_gb": round(plain_docs / (doc_bytes / 1e9), 3),
                             "ratio": round(verify_docs / plain_docs, 3), "file_mb": round(doc_bytes / 2**20, 1)},
        "params": {"shards": args.shards, "shard_mb_tokens": args.shard_mb, "file_mb": round(file_bytes / 2**20, 1),
                   "tokens": manifest["tokens"], "flips": args.flips, "documents_mb_text": args.documents_mb,
                   "pyarrow": pa.__version__},
    }
    print(json.dumps(result, indent=1))
    out = Path(__file__).parent / "results" / "shard_verify.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
