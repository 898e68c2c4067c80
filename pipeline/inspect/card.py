"""The dataset card of a run: OUTPUT/README.md with the Hugging Face YAML header (features, sizes, languages) and the
funnel, so the run folder can be pushed to a hub as it is and `datasets.load_dataset(OUTPUT)` reads the shards.

The card sits in the run folder, not among the shards: pyarrow.dataset, pandas and polars read every file of a
folder they are given and fail on a README.md there, while files starting with `_` (the manifest, the tokenizer,
the stats) are skipped by them. Its `configs` entry points the hub and `datasets` at `shards/shard-*.parquet`.
"""

from __future__ import annotations

import json

from pipeline.shards.format import shard_arrow_schema

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def _feature(field) -> dict:
    import pyarrow as pa

    if pa.types.is_list(field.type):
        return {"name": field.name, "sequence": str(field.type.value_type)}
    dtype = {"float": "float32", "double": "float64"}.get(str(field.type), str(field.type))
    return {"name": field.name, "dtype": dtype}


def _size_category(n: int) -> str:
    return next((label for limit, label in _SIZE_CATEGORIES if n < limit), "n>1B")


def _yaml_value(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON scalar is a YAML scalar


def dataset_card(report: dict, shards_dir: str = "shards") -> str:
    """README.md text from `inspect_shards`' report of OUTPUT/shards."""
    languages = sorted({r["name"] for r in report["tokens_per_language"] if r["name"] and r["name"] != "und"})
    lines = ["---", "configs:", "- config_name: default", "  data_files:", "  - split: train",
             f"    path: {shards_dir}/shard-*.parquet", "dataset_info:", "  features:"]
    for field in shard_arrow_schema():
        feature = _feature(field)
        lines.append(f"  - name: {feature['name']}")
        key = "sequence" if "sequence" in feature else "dtype"
        lines.append(f"    {key}: {feature[key]}")
    lines += ["  splits:", "  - name: train", f"    num_bytes: {report['bytes']}",
              f"    num_examples: {report['documents']}", f"  download_size: {report['bytes']}",
              f"  dataset_size: {report['bytes']}"]
    if languages:
        lines += ["language:"] + [f"- {_yaml_value(code)}" for code in languages]
    lines += ["size_categories:", f"- {_size_category(report['documents'])}", "tags:", "- sluice", "- pretraining",
              "---", "", "# Sluice shards", "",
              f"{report['documents']:,} documents, {report['tokens']:,} tokens in {report['shards']} tokenized "
              f"Parquet shards under `{shards_dir}/` (one row per document: `tokens` is the list of token ids, "
              f"EOS last; the tokenizer is `{shards_dir}/_tokenizer.json`, the manifest with every shard's sha256 "
              f"`{shards_dir}/_manifest.json`).", "", "## Funnel", "",
              "| stage | in | out | dropped |", "|---|---:|---:|---|"]
    for stage in report["funnel"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(stage["dropped"].items())) or "—"
        lines.append(f"| {stage['stage']} | {stage['records_in']:,} | {stage['records_out']:,} | {reasons} |")
    lines += ["", "## Reading", "", "```python",
              "import datasets; datasets.load_dataset(\".\")  # this card's configs: shards/shard-*.parquet",
              "import pandas; pandas.read_parquet(\"shards\")",
              "import polars; polars.read_parquet(\"shards/*.parquet\")",
              "import duckdb; duckdb.sql(\"select count(*) from 'shards/*.parquet'\")", "```", ""]
    return "\n".join(lines)
