"""A FineWeb-style document corpus made of real text, for tests and benchmarks of corpus input (not committed data).

The texts are the WCXB dev split's ground-truth main contents (../shared/data/wcxb-dev, CC-BY-4.0). Rows past
those are what a real corpus also holds: exact copies of earlier rows, lightly edited copies (near duplicates) and
boilerplate ("Click here to subscribe."). Columns as FineWeb writes them: text, id, url, date, language,
language_score, token_count.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

BOILERPLATE = ("Click here to subscribe.", "Accept all cookies", "Page not found", "Loading...",
               "Sign in to continue. Forgot your password?")


def ground_truth_texts(wcxb_dev: Path) -> list[dict]:
    with gzip.open(wcxb_dev / "ground-truth.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if (r.get("main_content") or "").strip()]


def fineweb_rows(wcxb_dev: Path, n_rows: int = 2000, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    pages = ground_truth_texts(wcxb_dev)
    rows = []
    for i in range(n_rows):
        if i < len(pages) and i < int(n_rows * 0.75):
            page = pages[i]
            text, url = page["main_content"].strip(), page["url"]
        else:
            kind = rng.random()
            page = pages[rng.randrange(min(len(pages), int(n_rows * 0.75)))]
            url = page["url"] + f"?copy={i}"
            if kind < 0.4:
                text = page["main_content"].strip()  # an exact copy
            elif kind < 0.8:
                words = page["main_content"].split(" ")
                j = rng.randrange(len(words))
                text = " ".join(words[:j] + ["(updated)"] + words[j:]).strip()  # a near copy
            else:
                text = rng.choice(BOILERPLATE)
        rows.append({"text": text, "id": f"<urn:uuid:{rng.getrandbits(128):032x}>", "url": url,
                     "date": f"2025-0{1 + i % 9}-1{i % 10}T00:00:00Z", "language": "en",
                     "language_score": round(0.7 + 0.3 * rng.random(), 4), "token_count": len(text.split())})
    return rows


def write_fineweb_corpus(wcxb_dev: Path, output: Path, n_rows: int = 2000, files: int = 4,
                         seed: int = 0) -> list[Path]:
    """`files` Parquet files `000_0000{k}.parquet` (FineWeb's naming) holding `n_rows` rows together."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = fineweb_rows(wcxb_dev, n_rows, seed)
    output.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("text", pa.string()), ("id", pa.string()), ("url", pa.string()), ("date", pa.string()),
                        ("language", pa.string()), ("language_score", pa.float64()), ("token_count", pa.int64())])
    paths = []
    per_file = -(-len(rows) // files)
    for k in range(files):
        path = output / f"000_{k:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows[k * per_file:(k + 1) * per_file], schema=schema), path)
        paths.append(path)
    return paths
