"""`sluice inspect --html report.html` (also written by `sluice run`): one self-contained HTML file to open in a
browser, no network: the funnel of every stage with its drop reasons, the distributions (tokens per document,
quality with the min_quality line, language, category before and after balancing, web type, domains), sample
documents per category and the documents each stage dropped, per reason (from each stage's `_dropped/`), with a
small inline script that filters everything by a search box (`report.html#search=lang` opens it filtered).

Everything shown is escaped; charts are inline SVG and CSS bars, so the file renders the same offline.
"""

from __future__ import annotations

import html

from pipeline.audit import read_dropped

SAMPLES_PER_CATEGORY = 3
SAMPLE_CHARS = 600
DROPPED_PER_REASON = 20  # of the (up to [audit] keep_dropped) kept per stage and reason: the file stays small

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.5em 0}
td,th{padding:.2em .7em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}td.n,th.n{text-align:right}
.bar{background:#4a7fb5;height:.9em;display:inline-block}.bar.after{background:#e0a040}
.doc{border:1px solid #ddd;border-radius:4px;padding:.4em .8em;margin:.4em 0;white-space:pre-wrap;font-size:.9em}
.doc .meta{color:#666;font-size:.85em;white-space:normal}#search{font-size:1.1em;padding:.3em;width:24em}
.hidden{display:none}.reason{font-weight:bold;color:#a33}
"""

_SCRIPT = """
const box=document.getElementById('search');
box.addEventListener('input',()=>{const q=box.value.toLowerCase();let shown=0;
for(const el of document.querySelectorAll('.searchable')){const hit=!q||el.textContent.toLowerCase().includes(q);
el.classList.toggle('hidden',!hit);if(hit)shown++;}
document.getElementById('shown').textContent=q?shown+' matching':'';});
if(location.hash.startsWith('#search=')){box.value=decodeURIComponent(location.hash.slice(8));
box.dispatchEvent(new Event('input'));}
"""


def report_extras(report: dict) -> dict:
    """What the HTML adds to `inspect_shards`' numbers: dropped samples per stage, the classify stage's category
    counts (before balancing) and sample documents per category, and min_quality from the manifest's config."""
    from pipeline.shards.reader import ShardReader

    config = ShardReader(report["path"]).manifest.get("config") or {}
    dropped = {s["stage"]: read_dropped(s["path"]) for s in report["funnel"]}
    classified = next((s["path"] for s in report["funnel"] if s["stage"] == "classify"), None)
    before, samples = _classified(classified) if classified else ({}, {})
    return {"min_quality": (config.get("classify") or {}).get("min_quality"), "dropped": dropped,
            "category_before": before, "samples": samples}


def _classified(path: str) -> tuple[dict, dict]:
    """(documents per category, the first SAMPLES_PER_CATEGORY documents of each) of a classify output."""
    import fsspec
    import pyarrow.parquet as pq

    from pipeline.integrity import parquet_files

    counts: dict[str, int] = {}
    samples: dict[str, list[dict]] = {}
    try:
        files = parquet_files([path])
    except ValueError:
        return {}, {}
    for file in files:
        with fsspec.open(file, "rb") as f:
            pf = pq.ParquetFile(f)
            names = [c for c in ("id", "url", "category", "quality", "text") if c in pf.schema_arrow.names]
            if "category" not in names:
                return {}, {}
            for row in pf.read(columns=names).to_pylist():
                category = row.get("category") or ""
                counts[category] = counts.get(category, 0) + 1
                if len(samples.setdefault(category, [])) < SAMPLES_PER_CATEGORY:
                    row["text"] = (row.get("text") or "")[:SAMPLE_CHARS]
                    samples[category].append(row)
    return counts, samples


def render_html(report: dict, extras: dict) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Sluice data report: "
             f"{e(report['path'])}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Sluice data report</h1><p>{e(report['path'])}: <b id='documents'>{report['documents']:,}</b> "
             f"documents, <b id='tokens'>{report['tokens']:,}</b> tokens in {report['shards']} shards "
             f"({report['bytes']:,} bytes).</p>",
             "<p><input id='search' type='search' placeholder='Search stages, reasons, categories, documents…'> "
             "<span id='shown'></span></p>",
             _funnel(report["funnel"]),
             "<h2>Tokens per document</h2>", _histogram(report["tokens_per_document"]["histogram"], "tokens"),
             _percentiles(report["tokens_per_document"]),
             "<h2>Quality</h2>", _histogram(report["quality"]["histogram"], "quality", extras.get("min_quality")),
             _bars("Language", report["tokens_per_language"]),
             _categories(report["tokens_per_category"], extras.get("category_before") or {}),
             _bars("Web type", report["tokens_per_web_type"]),
             _bars("Domains (top)", report["top_domains"]),
             _samples(extras.get("samples") or {}),
             _dropped(extras.get("dropped") or {}),
             f"<script>{_SCRIPT}</script></body></html>\n"]
    return "\n".join(parts)


def write_html(report: dict, output: str, extras: dict | None = None) -> str:
    """Writes the report to `output` (local path or fsspec URL); returns `output`."""
    import fsspec

    text = render_html(report, extras if extras is not None else report_extras(report))
    with fsspec.open(output, "w", encoding="utf-8") as f:
        f.write(text)
    return output


def _funnel(funnel: list[dict]) -> str:
    e = html.escape
    rows = []
    for s in funnel:
        reasons = ", ".join(f"<span class='reason'>{e(k)}</span> {v:,}" for k, v in sorted(s["dropped"].items()))
        rows.append(f"<tr class='searchable funnel-row' data-stage='{e(s['stage'])}'><td>{e(s['stage'])}</td>"
                    f"<td class='n'>{s['records_in']:,}</td><td class='n'>{s['records_out']:,}</td>"
                    f"<td class='n'>{sum(s['dropped'].values()):,}</td><td>{reasons}</td></tr>")
    return ("<h2>Funnel</h2><table id='funnel'><tr><th>stage</th><th class='n'>in</th><th class='n'>out</th>"
            "<th class='n'>dropped</th><th>drop reasons</th></tr>" + "".join(rows) + "</table>")


def _histogram(hist: dict, label: str, marker: float | None = None) -> str:
    counts, edges = hist.get("counts") or [], hist.get("edges") or []
    if not counts:
        return "<p>(none)</p>"
    width, height, top = 640, 160, max(counts) or 1
    step = width / len(counts)
    bars = "".join(f"<rect x='{i * step:.1f}' y='{height - c / top * height:.1f}' width='{max(step - 1, 1):.1f}' "
                   f"height='{c / top * height:.1f}' fill='#4a7fb5'><title>{edges[i]}–{edges[i + 1]}: {c}</title>"
                   f"</rect>" for i, c in enumerate(counts))
    line = ""
    if marker is not None and edges and edges[-1] > edges[0]:
        x = (marker - edges[0]) / (edges[-1] - edges[0]) * width
        line = (f"<line x1='{x:.1f}' x2='{x:.1f}' y1='0' y2='{height}' stroke='#c00' stroke-width='2'/>"
                f"<text x='{x + 4:.1f}' y='12' fill='#c00' font-size='11'>min_quality {marker}</text>")
    return (f"<svg role='img' aria-label='{html.escape(label)} histogram' width='{width}' height='{height + 16}'>"
            f"{bars}{line}<text x='0' y='{height + 13}' font-size='11'>{edges[0]}</text>"
            f"<text x='{width}' y='{height + 13}' font-size='11' text-anchor='end'>{edges[-1]}</text></svg>")


def _percentiles(dist: dict) -> str:
    cells = "".join(f"<td class='n'>{k} {v:,.0f}</td>" for k, v in dist.get("percentiles", {}).items())
    return (f"<table><tr><td>mean {dist.get('mean', 0):,.1f}</td>{cells}<td>max {dist.get('max', 0):,}</td></tr>"
            "</table>")


def _bars(title: str, rows: list[dict]) -> str:
    e = html.escape
    top = max((r["tokens"] for r in rows), default=0) or 1
    body = "".join(f"<tr class='searchable'><td>{e(r['name'] or '(none)')}</td><td class='n'>{r['documents']:,}</td>"
                   f"<td class='n'>{r['tokens']:,}</td><td>{_bar(r['tokens'], top)}</td></tr>" for r in rows)
    return (f"<h2>{e(title)}</h2><table><tr><th></th><th class='n'>documents</th><th class='n'>tokens</th><th></th>"
            f"</tr>{body}</table>")


def _bar(value: float, top: float, kind: str = "") -> str:
    return f"<span class='bar {kind}' style='width:{300 * value / top:.0f}px'></span>"


def _categories(after: list[dict], before: dict) -> str:
    """Documents per category before balancing (classify's output) next to rows in the shards after it."""
    e = html.escape
    docs_after = {r["name"]: r["documents"] for r in after}
    names = sorted(set(docs_after) | set(before), key=lambda n: (-docs_after.get(n, 0), n))
    top = max([*docs_after.values(), *before.values(), 1])
    body = "".join(
        f"<tr class='searchable'><td>{e(n or '(none)')}</td><td class='n'>{before.get(n, 0):,}</td>"
        f"<td class='n'>{docs_after.get(n, 0):,}</td><td>{_bar(before.get(n, 0), top)}<br>"
        f"{_bar(docs_after.get(n, 0), top, 'after')}</td></tr>" for n in names)
    return ("<h2>Category before / after balancing</h2><p>Documents per category in classify's output (blue) and "
            "rows in the shards after balancing's copies and downsampling (orange).</p>"
            "<table><tr><th>category</th><th class='n'>before</th>"
            f"<th class='n'>after (rows)</th><th></th></tr>{body}</table>")


def _doc(row: dict, head: str) -> str:
    e = html.escape
    return (f"<div class='doc searchable'><div class='meta'>{head} {e(row.get('id') or '')} "
            f"<a href='{e(row.get('url') or '')}' rel='noreferrer'>{e(row.get('url') or '')}</a></div>"
            f"{e(row.get('text') or '')}</div>")


def _samples(samples: dict) -> str:
    e = html.escape
    out = ["<h2>Sample documents per category</h2>"]
    for category in sorted(samples):
        for row in samples[category]:
            quality = row.get("quality")
            q = f" quality {quality:.3f}" if isinstance(quality, float) else ""
            out.append(_doc(row, f"<b>{e(category or '(none)')}</b>{q}"))
    return "".join(out) if len(out) > 1 else out[0] + "<p>(no classify output beside the shards)</p>"


def _dropped(dropped: dict) -> str:
    e = html.escape
    out = ["<h2>Dropped documents, per stage and reason</h2>"]
    for stage, rows in dropped.items():
        shown: dict[str, int] = {}
        for row in rows:
            shown[row["reason"]] = shown.get(row["reason"], 0) + 1
            if shown[row["reason"]] > DROPPED_PER_REASON:
                continue
            row = dict(row, text=(row.get("text") or "")[:SAMPLE_CHARS])
            value = row.get("value")
            measured = f" value {value:.4g}" if isinstance(value, float) else ""
            out.append(_doc(row, f"<span class='reason'>{e(stage)} · {e(row.get('rule') or row['reason'])}</span>"
                                 f"{measured}").replace("class='doc searchable'",
                                                        f"class='doc searchable dropped' data-reason="
                                                        f"'{e(row['reason'])}'", 1))
    return "".join(out) if len(out) > 1 else out[0] + "<p>(no stage kept dropped documents: [audit] keep_dropped)</p>"
