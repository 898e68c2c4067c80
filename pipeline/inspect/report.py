"""What to check before spending GPU hours: the numbers behind `sluice inspect` (jobs/inspect_cli.py).

Reads manifest.json, the Parquet footers and the small columns (n_tokens, category, quality, lang, domain); it
never decodes a token list, so a large shard set takes seconds. The funnel comes from the `_stats.json` of every
stage: by default the stage outputs beside SHARDS (documents/, deduped/, classified/, shards/ under one run
directory), or the directories given with --stages.
"""

from __future__ import annotations

import json

import numpy as np

from pipeline.shards.format import DICTIONARY_COLUMNS, ShardError
from pipeline.shards.reader import ShardReader
from pipeline.stats import STAGE_FILE, STATS_FILE

SMALL_COLUMNS = ["n_tokens", "category", "quality", "lang", "domain", "web_type"]
PERCENTILES = (1, 10, 25, 50, 75, 90, 99)
TOP_DOMAINS = 20


def inspect_shards(path: str, stages: list[str] | None = None, verify: bool = False) -> dict:
    """Every number `sluice inspect` shows, as a JSON-ready dict; `verify` also checks every sha256."""
    import pyarrow as pa
    import pyarrow.compute as pc

    reader = ShardReader(path, verify=verify)  # checks the manifest, its totals and the files' sizes
    reader.tokenizer_json()  # the tokenizer is the one the manifest records, with its EOS id
    manifest, parts = reader.manifest, []
    dictionary = [c for c in DICTIONARY_COLUMNS if c in manifest.get("schema", {})]
    for index, file in enumerate(reader.shard_paths):
        pf = reader.open_shard(index, read_dictionary=dictionary)  # rows against the footer
        try:  # shards written before web types were carried have no web_type column: read as unknown ("")
            part = pf.read(columns=[c for c in SMALL_COLUMNS if c in pf.schema_arrow.names])
            if "web_type" not in part.column_names:
                part = part.append_column("web_type", pa.array([""] * part.num_rows, pa.string()).dictionary_encode())
        except (OSError, pa.ArrowException) as e:
            raise ShardError(f"{file}: unreadable column data ({e})") from None
        tokens, listed = int(pc.sum(part.column("n_tokens")).as_py() or 0), manifest["shards"][index]["tokens"]
        if tokens != listed:
            raise ShardError(f"{file}: holds {tokens} tokens, manifest.json says {listed} (the manifest was edited "
                             "or damaged)")
        parts.append(part)
    table = pa.concat_tables(parts).unify_dictionaries() if parts else pa.table(
        {c: pa.array([], t) for c, t in zip(SMALL_COLUMNS, [pa.int32(), pa.string(), pa.float32(), pa.string(),
                                                             pa.string(), pa.string()], strict=True)})
    n_tokens = table.column("n_tokens").to_numpy().astype(np.int64)
    quality = table.column("quality").to_numpy().astype(np.float64)
    funnel = stage_funnel(path, stages)
    tokenize_stats = next((s for s in funnel if s["stage"] == "tokenize"), {})
    copies = tokenize_stats.get("counters", {}).get("copies_added")
    return {
        "path": path,
        "shards": len(manifest["shards"]),
        "documents": manifest["documents"],
        "unique_documents": None if copies is None else manifest["documents"] - copies,
        "tokens": manifest["tokens"],
        "bytes": manifest["bytes"],
        "tokenizer": manifest.get("tokenizer", {}),
        "config_hash": manifest.get("config_hash"),
        "tokens_per_document": _distribution(n_tokens),
        "tokens_per_category": _group(table, "category", n_tokens),
        "tokens_per_language": _group(table, "lang", n_tokens),
        "top_domains": _group(table, "domain", n_tokens, top=TOP_DOMAINS),
        "tokens_per_web_type": _group(table, "web_type", n_tokens),
        "quality": _quality(quality),
        "duplicates_removed": _duplicates(funnel),
        "funnel": funnel,
    }


def _distribution(n_tokens: np.ndarray) -> dict:
    if not len(n_tokens):
        return {"mean": 0.0, "min": 0, "max": 0, "percentiles": {}, "histogram": {"edges": [], "counts": []}}
    edges = np.unique(np.geomspace(1, max(2, n_tokens.max() + 1), 41).round().astype(np.int64))
    counts, _ = np.histogram(n_tokens, bins=edges)
    return {
        "mean": float(n_tokens.mean()), "min": int(n_tokens.min()), "max": int(n_tokens.max()),
        "percentiles": {f"p{p}": float(v)
                        for p, v in zip(PERCENTILES, np.percentile(n_tokens, PERCENTILES), strict=True)},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _group(table, column: str, n_tokens: np.ndarray, top: int | None = None) -> list[dict]:
    """[{name, documents, tokens}] by tokens, descending (ties by name)."""
    values = table.column(column).combine_chunks()
    codes = values.indices.to_numpy(zero_copy_only=False) if hasattr(values, "indices") else None
    names = values.dictionary.to_pylist() if codes is not None else []
    if codes is None:  # not dictionary-encoded (a shard written by another tool)
        names, codes = np.unique(np.asarray(values.to_pylist(), dtype=object), return_inverse=True)
        names = list(names)
    docs = np.bincount(codes, minlength=len(names))
    tokens = np.bincount(codes, weights=n_tokens, minlength=len(names)).astype(np.int64)
    rows = [{"name": str(n), "documents": int(d), "tokens": int(t)}
            for n, d, t in zip(names, docs, tokens, strict=True) if d]
    rows.sort(key=lambda r: (-r["tokens"], r["name"]))
    return rows[:top] if top else rows


def _quality(quality: np.ndarray) -> dict:
    scored = quality[~np.isnan(quality)]
    lo, hi = (min(0.0, float(scored.min())), max(1.0, float(scored.max()))) if len(scored) else (0.0, 1.0)
    counts, edges = np.histogram(scored, bins=20, range=(lo, hi))
    return {"scored": len(scored), "unscored": int(len(quality) - len(scored)),
            "mean": float(scored.mean()) if len(scored) else None,
            "histogram": {"edges": edges.round(6).tolist(), "counts": counts.tolist()}}


def stage_funnel(shards_path: str, stages: list[str] | None = None) -> list[dict]:
    """The `_stats.json` of each stage, in pipeline order: `stages` as given, else SHARDS' sibling outputs in the
    order `sluice run` recorded (`position` in their _stage.json), else by records in, descending: every stage
    only drops (tokenize's weighted copies count as added, not as records in), so its input is no larger than the
    one before."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(shards_path.rstrip("/"))
    if stages:
        dirs = [fsspec.core.url_to_fs(s.rstrip("/"))[1] for s in stages]
        if root not in dirs:
            dirs.append(root)
    else:
        parent = root.rsplit("/", 1)[0] if "/" in root else "."
        dirs = [d for d in fs.ls(parent, detail=False) if fs.isdir(d)]
    funnel = []
    for d in dirs:
        try:
            with fs.open(f"{d}/{STATS_FILE}", "r") as f:
                stats = json.load(f)
        except FileNotFoundError:
            if stages:
                raise ShardError(f"{d}/{STATS_FILE}: missing (stage not run or not finished)") from None
            continue
        except ValueError as e:
            raise ShardError(f"{d}/{STATS_FILE}: not valid JSON ({e})") from None
        funnel.append({"stage": stats.get("stage", ""), "path": d, "records_in": stats.get("records_in", 0),
                       "dropped": stats.get("dropped", {}), "records_out": stats.get("records_out", 0),
                       "counters": stats.get("counters", {})})
    if not stages:
        funnel.sort(key=lambda s: (_position(fs, s["path"]), -s["records_in"], s["path"]))
    return funnel


def _position(fs, directory: str) -> int:
    try:
        with fs.open(f"{directory}/{STAGE_FILE}", "r") as f:
            return int(json.load(f).get("position", 1 << 30))
    except (FileNotFoundError, ValueError, TypeError, AttributeError):
        return 1 << 30


def _duplicates(funnel: list[dict]) -> dict:
    found = {r: n for s in funnel for r, n in s["dropped"].items() if r.endswith("duplicate")}
    return {**dict(sorted(found.items())), "total": sum(found.values())}


def format_report(r: dict) -> str:
    """The terminal table."""
    dist, q = r["tokens_per_document"], r["quality"]
    lines = [f"shards {r['path']}: {r['shards']} files, {r['bytes'] / 2**20:,.1f} MiB",
             f"  documents {r['documents']:>14,}" + (f"   (unique {r['unique_documents']:,})"
                                                     if r["unique_documents"] is not None else ""),
             f"  tokens    {r['tokens']:>14,}",
             "  tokens/doc mean {:,.1f}  min {:,}  max {:,}".format(dist["mean"], dist["min"], dist["max"]),
             "  " + "  ".join(f"{k} {v:,.0f}" for k, v in dist["percentiles"].items())]
    for title, key in (("tokens per category", "tokens_per_category"), ("tokens per language", "tokens_per_language"),
                       (f"top {TOP_DOMAINS} domains", "top_domains"), ("tokens per web type", "tokens_per_web_type")):
        rows = r[key]
        lines.append(f"{title} ({len(rows)}):")
        lines += [f"  {row['name'] or '(none)':<32}{row['documents']:>10,} docs{row['tokens']:>14,} tokens "
                  f"{100 * row['tokens'] / max(r['tokens'], 1):5.1f}%" for row in rows[:25]]
    lines.append(f"quality: {q['scored']:,} scored, {q['unscored']:,} unscored"
                 + (f", mean {q['mean']:.3f}" if q["mean"] is not None else ""))
    lines.append(f"duplicates removed: {r['duplicates_removed']['total']:,}")
    lines.append("funnel:")
    for s in r["funnel"]:
        drops = ", ".join(f"{k} {v:,}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1]))
        lines.append(f"  {s['stage'] or s['path']:<10}{s['records_in']:>12,} in {s['records_out']:>12,} out"
                     + (f"   dropped: {drops}" if drops else ""))
    return "\n".join(lines)


def write_plots(r: dict, directory: str) -> list[str]:
    """PNG plots of the distributions; returns their paths."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = os.path.join(directory, name)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    hist = r["tokens_per_document"]["histogram"]
    if hist["counts"]:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.stairs(hist["counts"], hist["edges"], fill=True)
        ax.set(xscale="log", xlabel="tokens per document", ylabel="documents", title="Document length")
        save(fig, "tokens_per_document.png")
    qh = r["quality"]["histogram"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.stairs(qh["counts"], qh["edges"], fill=True)
    ax.set(xlabel="quality score", ylabel="documents", title=f"Quality ({r['quality']['unscored']:,} unscored)")
    save(fig, "quality.png")
    for key, title in (("tokens_per_category", "Tokens per category"), ("tokens_per_language", "Tokens per language"),
                       ("top_domains", "Top domains by tokens"), ("tokens_per_web_type", "Tokens per web type")):
        rows = r[key][:30][::-1]
        fig, ax = plt.subplots(figsize=(7, 1.5 + 0.25 * len(rows)))
        ax.barh([row["name"] or "(none)" for row in rows], [row["tokens"] for row in rows])
        ax.set(xlabel="tokens", title=title)
        save(fig, f"{key}.png")
    if r["funnel"]:
        fig, ax = plt.subplots(figsize=(7, 4))
        names = [s["stage"] or s["path"] for s in r["funnel"]]
        ax.bar(names, [s["records_in"] for s in r["funnel"]], label="records in", alpha=0.5)
        ax.bar(names, [s["records_out"] for s in r["funnel"]], label="records out")
        ax.set(ylabel="records", title="Funnel")
        ax.legend()
        save(fig, "funnel.png")
    return written
