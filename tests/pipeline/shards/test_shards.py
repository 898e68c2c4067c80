"""The shard writer and the ShardReader: positions, rank splits, resume, and every damaged-input error."""

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from pipeline.shards.format import MANIFEST, TOKENIZER_FILE, ShardError, build_manifest, manifest_json, shard_name
from pipeline.shards.reader import ShardReader
from pipeline.shards.writer import write_shards
from pipeline.tokenize.tokenizer import TokenizeConfig, eos_id, tokenize_batch, tokenizer_sha256, train_tokenizer
from tests.pipeline.tokenize.test_tokenizer import EOS, corpus_texts


def make_shards(directory, n_docs: int = 400, n_shards: int = 3, row_group_bytes: int = 6000, chunk: int = 97):
    """A shard directory written with the pipeline's own functions (no Spark): rows sorted by shuffle key and
    cut into n_shards equal runs. Returns (manifest, input table)."""
    directory.mkdir(exist_ok=True)
    tokenizer = train_tokenizer(iter(corpus_texts(200)), vocab_size=300, eos_token=EOS)
    rng = random.Random(5)
    source = pa.RecordBatch.from_pydict({
        "id": [f"d{i}" for i in range(n_docs)], "text": corpus_texts(n_docs, seed=6),
        "category": [rng.choice(["news", "science", "sports"]) for _ in range(n_docs)],
        "quality": pa.array([rng.random() for _ in range(n_docs)], pa.float32()),
        "lang": [rng.choice(["en", "de"]) for _ in range(n_docs)],
        "domain": [f"site{rng.randint(0, 9)}.example" for _ in range(n_docs)],
        "web_type": [rng.choice(["article", "forum", ""]) for _ in range(n_docs)],  # "": no web-type model ran
    })
    rows, _ = tokenize_batch(source, tokenizer, eos_id(tokenizer, EOS), TokenizeConfig())
    table = pa.Table.from_batches([rows]).sort_by("shuffle_key")
    shard = np.arange(len(table)) * n_shards // len(table)
    table = table.append_column("shard", pa.array(shard))
    infos = list(write_shards(table.to_batches(max_chunksize=chunk), str(directory), row_group_bytes))
    tokenizer_json = tokenizer.to_str()
    (directory / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
    info = {"file": TOKENIZER_FILE, "sha256": tokenizer_sha256(tokenizer_json), "eos_token": EOS,
            "eos_id": eos_id(tokenizer, EOS), "vocab_size": tokenizer.get_vocab_size()}
    manifest = build_manifest(infos, info, {"tokenize": {}}, "test")
    (directory / MANIFEST).write_text(manifest_json(manifest))
    return manifest, table


@pytest.fixture
def shards(tmp_path):
    manifest, table = make_shards(tmp_path / "shards")
    return tmp_path / "shards", manifest, table


def test_reader_yields_every_row_in_order(shards):
    path, manifest, table = shards
    assert len(manifest["shards"]) == 3 and all(len(s["row_groups"]) > 1 for s in manifest["shards"])
    docs = list(ShardReader(str(path), verify=True))
    assert [d.id for d in docs] == table.column("id").to_pylist()
    assert [d.tokens.tolist() for d in docs] == table.column("tokens").to_pylist()
    assert [(d.shard, d.row) for d in docs[:2]] == [(0, 0), (0, 1)]
    batches = list(ShardReader(str(path)).iter_batches(["id", "n_tokens"]))
    assert sum(len(b) for b in batches) == len(table) and batches[0].schema.names == ["id", "n_tokens"]


def test_writer_bytes_do_not_depend_on_batching(tmp_path):
    a, _ = make_shards(tmp_path / "a", chunk=97)
    b, _ = make_shards(tmp_path / "b", chunk=1000)
    assert a == b
    for entry in a["shards"]:
        assert (tmp_path / "a" / entry["file"]).read_bytes() == (tmp_path / "b" / entry["file"]).read_bytes()


def test_resume_from_state_dict(shards):
    path, _, table = shards
    reader = ShardReader(str(path))
    stream = iter(reader)
    head = [next(stream).id for _ in range(150)]
    state = reader.state_dict()
    assert state == {"epoch": 0, "shard": 1, "row": 150 - reader.manifest["shards"][0]["rows"]}
    resumed = ShardReader(str(path))
    resumed.load_state_dict(json.loads(json.dumps(state)))
    assert head + [d.id for d in resumed] == table.column("id").to_pylist()
    assert resumed.state_dict() == {"epoch": 1, "shard": 0, "row": 0}  # a finished pass rolls over
    assert len(list(resumed)) == len(table)


def test_rank_and_worker_splits_are_disjoint_and_complete(shards):
    path, _, table = shards
    reader = ShardReader(str(path))
    parts = [reader.shard(rank, 2).shard(worker, 3) for rank in range(2) for worker in range(3)]
    ids = [[d.id for d in part] for part in parts]
    assert sorted(i for part in ids for i in part) == sorted(table.column("id").to_pylist())
    assert sum(len(p) for p in parts) == len(table) and all(ids)
    part = reader.shard(1, 2)
    stream = iter(part)
    head = [next(stream).id for _ in range(40)]
    again = reader.shard(1, 2)
    again.load_state_dict(part.state_dict())
    rest = [d.id for d in again]
    assert len(head) + len(rest) == len(reader.shard(1, 2))
    assert head + rest == [d.id for d in reader.shard(1, 2)]
    assert sorted(head + rest) == sorted(ids[3] + ids[4] + ids[5])
    with pytest.raises(ValueError, match="rank 2"):
        reader.shard(2, 2)


def test_missing_truncated_and_unlisted_files(shards):
    path, _, _ = shards
    (path / shard_name(1)).rename(path / "moved.parquet")
    with pytest.raises(ShardError, match=f"{shard_name(1)}: listed in {MANIFEST} but missing"):
        ShardReader(str(path))
    data = (path / "moved.parquet").read_bytes()
    (path / "moved.parquet").unlink()
    (path / shard_name(1)).write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=rf"{shard_name(1)}: {len(data) // 2} bytes, {MANIFEST} says {len(data)}"):
        ShardReader(str(path))
    (path / shard_name(1)).write_bytes(data)
    (path / shard_name(7)).write_bytes(data)
    with pytest.raises(ShardError, match=f"{shard_name(7)}: a shard file that {MANIFEST} does not list"):
        ShardReader(str(path))


def test_corrupt_shard(shards):
    path, _, _ = shards
    data = bytearray((path / shard_name(2)).read_bytes())
    data[-100:-8] = b"\xff" * 92  # same size: the footer is garbage
    (path / shard_name(2)).write_bytes(bytes(data))
    with pytest.raises(ShardError, match=f"{shard_name(2)}: sha256 differs from {MANIFEST}"):
        list(ShardReader(str(path), verify=True))
    with pytest.raises(ShardError, match=f"{shard_name(2)}: not a readable Parquet file"):
        list(ShardReader(str(path)))


def test_tampered_or_missing_manifest(shards):
    path, manifest, _ = shards
    tampered = json.loads(json.dumps(manifest))
    tampered["shards"][0]["rows"] += 1
    (path / MANIFEST).write_text(json.dumps(tampered))
    with pytest.raises(ShardError, match="manifest.json: malformed shard list"):
        ShardReader(str(path))
    tampered = json.loads(json.dumps(manifest))
    tampered["shards"][0]["row_groups"] = [tampered["shards"][0]["rows"]]
    (path / MANIFEST).write_text(json.dumps(tampered))
    with pytest.raises(ShardError, match=f"{shard_name(0)}: row groups .* disagree with {MANIFEST}"):
        next(iter(ShardReader(str(path))))
    (path / MANIFEST).write_text("{")
    with pytest.raises(ShardError, match="manifest.json: not valid JSON"):
        ShardReader(str(path))
    (path / MANIFEST).unlink()
    with pytest.raises(ShardError, match="manifest.json: missing"):
        ShardReader(str(path))


def test_reads_through_fsspec_urls(shards):
    path, _, table = shards
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for file in path.iterdir():
        fs.pipe(f"/shards/{file.name}", file.read_bytes())
    reader = ShardReader("memory://shards", verify=True)
    assert [d.id for d in reader] == table.column("id").to_pylist()
    assert reader.shard_paths[0] == "memory:///shards/shard-00000.parquet"


def read_all(path, verify: bool = False) -> list:
    return [(d.id, d.tokens.tolist(), d.category, d.quality, d.weight) for d in ShardReader(str(path), verify=verify)]


def test_single_bit_flips_never_reach_the_reader_as_other_tokens(shards):
    """The issue's case: 15 of 40 single-bit flips in a shard used to reach the trainer as other in-vocabulary
    tokens. With page CRCs every flip is an error naming the file or changes nothing that is read."""
    path, _, _ = shards
    original = read_all(path)
    target = path / shard_name(1)
    data = target.read_bytes()
    rng = random.Random(40)
    outcomes = {"error": 0, "same": 0}
    for _ in range(60):
        flipped = bytearray(data)
        flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(flipped))
        try:
            assert read_all(path) == original, "a flipped bit reached the reader as different data"
            outcomes["same"] += 1
        except ShardError as e:
            assert shard_name(1) in str(e)
            outcomes["error"] += 1
    target.write_bytes(data)
    assert outcomes["error"] > 40, outcomes


def test_page_crc_names_the_file_and_row_group(shards):
    path, manifest, _ = shards
    import pyarrow.parquet as pq

    target = path / shard_name(0)
    first_page = pq.ParquetFile(target).metadata.row_group(0).column(1).data_page_offset  # the tokens column
    data = bytearray(target.read_bytes())
    data[first_page + 40] ^= 0x10  # inside the page's compressed values, past its header
    target.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=rf"{shard_name(0)}: row group 0 is unreadable \(.*CRC checksum"):
        read_all(path)


@pytest.mark.parametrize("key", ["documents", "tokens", "bytes"])
def test_manifest_totals_multiplied_are_refused(shards, key):
    path, manifest, _ = shards
    tampered = dict(manifest, **{key: manifest[key] * 10})
    (path / MANIFEST).write_text(manifest_json(tampered))
    with pytest.raises(ShardError, match=rf"manifest.json: says {key} = {manifest[key] * 10}, its shards add up "
                                         rf"to {manifest[key]}"):
        ShardReader(str(path))


def test_tokenizer_is_checked_against_the_manifest(shards):
    path, manifest, _ = shards
    reader = ShardReader(str(path))
    assert json.loads(reader.tokenizer_json())["model"]["type"] == "BPE"
    text = (path / TOKENIZER_FILE).read_text()
    (path / TOKENIZER_FILE).write_text(text.replace('"dropout"', '"dropout" ', 1))  # same meaning, other bytes
    with pytest.raises(ShardError, match=r"tokenizer.json: sha256 differs from _manifest.json.s tokenizer.sha256"):
        reader.tokenizer_json()
    (path / TOKENIZER_FILE).write_text(text)
    wrong_eos = dict(manifest, tokenizer=dict(manifest["tokenizer"], eos_id=manifest["tokenizer"]["eos_id"] + 1))
    (path / MANIFEST).write_text(manifest_json(wrong_eos))
    with pytest.raises(ShardError, match=r"tokenizer.json: EOS token '.*' has id \d+, _manifest.json says \d+"):
        ShardReader(str(path)).tokenizer_json()
    (path / TOKENIZER_FILE).unlink()
    with pytest.raises(ShardError, match="tokenizer.json: missing"):
        ShardReader(str(path)).tokenizer_json()


def test_a_shard_listed_twice_is_refused(shards):
    path, manifest, _ = shards
    entry = manifest["shards"][0]
    doubled = dict(manifest, shards=[*manifest["shards"], entry],
                   **{t: manifest[t] + entry[k] for t, k in (("documents", "rows"), ("tokens", "tokens"),
                                                            ("bytes", "bytes"))})
    (path / MANIFEST).write_text(manifest_json(doubled))
    with pytest.raises(ShardError, match=rf"manifest.json: lists {entry['file']} more than once"):
        ShardReader(str(path))


@pytest.mark.parametrize("change,message", [
    ({"vocab_size": 2**40}, r"tokenizer.json: a vocabulary of \d+ ids, _manifest.json says tokenizer.vocab_size = "
                            r"1099511627776"),
    ({"vocab_size": 0}, r"manifest.json: tokenizer.vocab_size is 0"),
    ({"eos_id": -1}, r"manifest.json: tokenizer.eos_id -1 is outside the vocabulary"),
    ({"vocab_size": "300"}, r"manifest.json: tokenizer.vocab_size is '300', not an integer"),
])
def test_vocabulary_bounds_are_checked(shards, change, message):
    path, manifest, _ = shards
    (path / MANIFEST).write_text(manifest_json(dict(manifest, tokenizer=dict(manifest["tokenizer"], **change))))
    with pytest.raises(ShardError, match=message):
        ShardReader(str(path)).tokenizer_json()
