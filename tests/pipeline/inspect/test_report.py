"""`sluice inspect`: its JSON equals counts computed directly from the shards and the stage stats."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs.inspect_cli import main
from pipeline.inspect.report import inspect_shards
from pipeline.stats import Stats
from tests.pipeline.shards.test_shards import make_shards


def write_stats(directory, stage, records_in, dropped, **counters):
    directory.mkdir(exist_ok=True)
    stats = Stats(stage=stage, records_in=records_in, records_out=records_in - sum(dropped.values()))
    stats.dropped.update(dropped)
    stats.counters.update(counters)
    (directory / "_stats.json").write_text(stats.to_json())


@pytest.fixture
def run_dir(tmp_path):
    manifest, _ = make_shards(tmp_path / "shards", n_docs=300)
    write_stats(tmp_path / "documents", "extract", 1000, {"lang": 300, "gopher_quality": 150})
    write_stats(tmp_path / "deduped", "dedup", 550, {"exact_duplicate": 120, "minhash_duplicate": 80})
    write_stats(tmp_path / "classified", "classify", 350, {"low_quality": 50})
    write_stats(tmp_path / "shards", "tokenize", 300, {}, copies_added=0, tokens=manifest["tokens"])
    (tmp_path / "unrelated").mkdir()
    return tmp_path


def test_json_equals_direct_counts(run_dir, capsys):
    out = run_dir / "report.json"
    assert main([str(run_dir / "shards"), "--json", str(out), "--plots", str(run_dir / "plots"), "--verify"]) == 0
    report = json.loads(out.read_text())
    table = pq.read_table(sorted((run_dir / "shards").glob("shard-*.parquet")))
    lengths = np.array([len(t) for t in table.column("tokens").to_pylist()])
    assert report["documents"] == table.num_rows == report["unique_documents"]
    assert report["tokens"] == lengths.sum()
    assert report["bytes"] == sum(p.stat().st_size for p in (run_dir / "shards").glob("shard-*.parquet"))
    dist = report["tokens_per_document"]
    assert dist["max"] == lengths.max() and dist["percentiles"]["p50"] == np.percentile(lengths, 50)
    assert sum(dist["histogram"]["counts"]) == table.num_rows
    by_category = {r["name"]: r["tokens"] for r in report["tokens_per_category"]}
    frame = table.select(["category", "lang", "domain", "web_type", "n_tokens"]).to_pandas()
    assert by_category == frame.groupby("category")["n_tokens"].sum().to_dict()
    assert {r["name"]: r["documents"] for r in report["tokens_per_language"]} == frame["lang"].value_counts().to_dict()
    top = frame.groupby("domain")["n_tokens"].sum().sort_values(ascending=False)
    assert report["top_domains"][0] == {"name": top.index[0], "documents": int((frame.domain == top.index[0]).sum()),
                                        "tokens": int(top.iloc[0])}
    by_web_type = {r["name"]: r["tokens"] for r in report["tokens_per_web_type"]}
    assert by_web_type == frame.groupby("web_type")["n_tokens"].sum().to_dict() and set(by_web_type) == {
        "article", "forum", ""}
    assert report["quality"]["scored"] == table.num_rows and sum(report["quality"]["histogram"]["counts"]) == 300
    assert report["duplicates_removed"] == {"exact_duplicate": 120, "minhash_duplicate": 80, "total": 200}
    assert [s["stage"] for s in report["funnel"]] == ["extract", "dedup", "classify", "tokenize"]
    assert [s["records_out"] for s in report["funnel"]] == [550, 350, 300, 300]
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "funnel.png", "quality.png", "tokens_per_category.png", "tokens_per_document.png",
        "tokens_per_language.png", "tokens_per_web_type.png", "top_domains.png"]
    printed = capsys.readouterr().out
    assert f"{report['tokens']:,}" in printed and "minhash_duplicate 80" in printed


def test_explicit_stages_and_errors(run_dir, capsys):
    report = inspect_shards(str(run_dir / "shards"), stages=[str(run_dir / "deduped")])
    assert [s["stage"] for s in report["funnel"]] == ["dedup", "tokenize"]
    assert main([str(run_dir / "shards"), "--stages", str(run_dir / "unrelated")]) == 2
    assert "unrelated/_stats.json: missing" in capsys.readouterr().err
    (run_dir / "shards" / "shard-00001.parquet").write_bytes(b"PAR1")
    assert main([str(run_dir / "shards")]) == 2
    assert "shard-00001.parquet: 4 bytes, _manifest.json says" in capsys.readouterr().err


def test_manifest_counts_are_checked_against_the_shards(run_dir, capsys):
    """documents or tokens multiplied by 10 in manifest.json: refused, whether the totals alone were edited or a
    shard's entry too (then the n_tokens column, which inspect reads anyway, disagrees with it)."""
    shards = run_dir / "shards"
    manifest = json.loads((shards / "_manifest.json").read_text())
    for key in ("documents", "tokens"):
        (shards / "_manifest.json").write_text(json.dumps(dict(manifest, **{key: manifest[key] * 10})))
        assert main([str(shards)]) == 2
        assert f"manifest.json: says {key} = {manifest[key] * 10}, its shards add up to" in capsys.readouterr().err
    edited = json.loads(json.dumps(manifest))
    extra = edited["shards"][0]["tokens"] * 9
    edited["shards"][0]["tokens"] += extra
    edited["tokens"] += extra
    (shards / "_manifest.json").write_text(json.dumps(edited))
    assert main([str(shards)]) == 2
    err = capsys.readouterr().err
    assert "shard-00000.parquet: holds" in err and "manifest.json says" in err and len(err.splitlines()) == 1


def test_shards_without_a_web_type_column_read_as_unknown(run_dir):
    """Shards written before web types were carried have no web_type column; inspect still reads them."""
    from pipeline.shards.format import file_sha256

    shards = run_dir / "shards"
    manifest = json.loads((shards / "_manifest.json").read_text())
    for entry in manifest["shards"]:
        path = shards / entry["file"]
        source = pq.ParquetFile(path)
        groups = [source.read_row_group(g).drop_columns(["web_type"]) for g in range(source.num_row_groups)]
        with pq.ParquetWriter(path, groups[0].schema, write_page_checksum=True) as writer:
            for group in groups:  # the same row groups the manifest lists
                writer.write_table(group)
        entry["bytes"], entry["sha256"] = path.stat().st_size, file_sha256(str(path))
    manifest["bytes"] = sum(e["bytes"] for e in manifest["shards"])
    del manifest["schema"]["web_type"]
    (shards / "_manifest.json").write_text(json.dumps(manifest))
    report = inspect_shards(str(shards), verify=True)
    assert [(r["name"], r["tokens"]) for r in report["tokens_per_web_type"]] == [("", report["tokens"])]


def test_inspect_command_in_a_fresh_interpreter(run_dir):
    """As a user runs it: nothing the test process happened to import beforehand is there to lean on."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "jobs.cli", "inspect", str(run_dir / "shards")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tokens per web type" in result.stdout


def test_the_funnel_follows_the_order_sluice_run_recorded(run_dir):
    """A stage that drops nothing ties with the next on records in; the position `sluice run` wrote into each
    _stage.json orders them (semdedup before classify, though "classified" < "semdeduped" by name)."""
    from pipeline.stats import STAGE_FILE

    write_stats(run_dir / "semdeduped", "semdedup", 350, {})
    for position, name in enumerate(["documents", "deduped", "semdeduped", "classified", "shards"]):
        (run_dir / name / STAGE_FILE).write_text(json.dumps({"position": position}))
    funnel = inspect_shards(str(run_dir / "shards"))["funnel"]
    assert [s["stage"] for s in funnel] == ["extract", "dedup", "semdedup", "classify", "tokenize"]
    assert all("position" not in s for s in funnel)
