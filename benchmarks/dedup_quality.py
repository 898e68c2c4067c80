"""Near-duplicate quality and throughput of the dedup job, against datasketch's MinHashLSH.

Corpus: distinct prose passages (Python's own documentation, offline), each with copies edited at several
rates (word replacements, deletions, insertions; rates 0.02-0.05 land at J 0.6-0.8 from the base, lower between
two copies), so the exact Jaccard of every pair inside a family is known. Every fourth family is a chain
A~B~C instead: B edits A and C edits B (J ~ 0.85 between neighbours, ~0.72 between A and C), so a dedup that
merges the chain and keeps an end drops the other end with no J >= 0.7 neighbour kept.
recall    = share of surplus copies removed among documents linked by exact J >= 0.85 (per linked group,
            all but one should go);
precision = share of removed documents whose group of J >= 0.7 still keeps a document.
Ours is the real Spark job (jobs/dedup.py, local[2]) at the default setting (128 hashes, threshold 0.8) and
with preset = "dots_llm1" (2,048 hashes, 128 bands x 16 rows), each with candidate verification on (the
default) and the preset also with it off; the reference inserts and queries MinHashLSH with the same num_perm
and threshold (greedy: keep a document unless it hits one already kept).
Run: python benchmarks/dedup_quality.py [--families 300] [--throughput-docs 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import date
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe_machine  # noqa: E402
from pipeline.dedup.minhash import shingle_hashes, tokenize  # noqa: E402
from pipeline.document import document_arrow_schema  # noqa: E402

RATES = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.08, 0.12, 0.2, 0.3)
CHAIN_RATE, CHAIN_EVERY = 0.015, 4  # every 4th family is a chain A~B~C, each link editing the previous at this rate


@lru_cache(maxsize=1)
def prose_words() -> list[str]:
    """Python's documentation topics and the docstrings of the standard library's sources (read with ast,
    nothing imported or downloaded), in a fixed order."""
    import ast
    import sysconfig
    from pydoc_data.topics import topics

    chunks = [topics[k] for k in sorted(topics)]
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    chunks.append(doc)
    return " ".join(chunks).split()


def passages(n: int, n_words: int = 320, step: int = 320) -> list[list[str]]:
    """n windows of the prose; step < n_words makes overlapping windows (more documents, fewer distinct)."""
    words = prose_words()
    starts = [(k * step) % (len(words) - n_words) for k in range(n)] if step < n_words else range(
        0, len(words) - n_words, n_words)
    if len(starts) < n:
        raise SystemExit(f"only {len(starts)} distinct passages available, asked for {n}")
    return [words[s : s + n_words] for s in starts[:n]]


def edit(words: list[str], rate: float, rng: random.Random) -> str:
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue  # delete
        out.append(f"w{rng.randrange(10**6)}" if r < 2 * rate / 3 else w)  # replace
        if rng.random() < rate / 3:
            out.append(f"i{rng.randrange(10**6)}")  # insert
    return " ".join(out)


def corpus(families: int, seed: int = 1, step: int = 320) -> tuple[list[str], list[str], list[int]]:
    rng = random.Random(seed)
    ids, texts, family = [], [], []
    for f, words in enumerate(passages(families, step=step)):
        chain = f % CHAIN_EVERY == CHAIN_EVERY - 1
        for k, rate in enumerate(RATES[:3] if chain else RATES):
            ids.append(f"{rng.getrandbits(64):016x}")
            texts.append(edit(texts[-1].split(), CHAIN_RATE, rng) if chain and k else edit(words, rate, rng))
            family.append(f)
    return ids, texts, family


def exact_jaccard_pairs(texts: list[str], family: list[int]) -> dict[tuple[int, int], float]:
    sets = []
    hashes, offsets = shingle_hashes(tokenize(texts), 5)
    for i in range(len(texts)):
        sets.append(set(hashes[offsets[i] : offsets[i + 1]].tolist()))
    by_family: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        by_family.setdefault(f, []).append(i)
    candidates = {(x, y) for members in by_family.values() for x in members for y in members if x < y}
    # Passages of different families can overlap too (docstrings repeat): find those pairs through an
    # inverted index of shingles (ignoring shingles common to > 50 documents) and measure them as well.
    postings: dict[int, list[int]] = {}
    for i, s in enumerate(sets):
        for h in s:
            postings.setdefault(h, []).append(i)
    overlap: dict[tuple[int, int], int] = {}
    for docs in postings.values():
        if 1 < len(docs) <= 50:
            for a in range(len(docs)):
                for b in range(a + 1, len(docs)):
                    overlap[(docs[a], docs[b])] = overlap.get((docs[a], docs[b]), 0) + 1
    candidates |= {pair for pair, n in overlap.items() if n >= 0.3 * min(len(sets[pair[0]]), len(sets[pair[1]]))}
    return {(x, y): len(sets[x] & sets[y]) / max(1, len(sets[x] | sets[y])) for x, y in candidates}


def score(removed: set[int], n: int, pairs: dict[tuple[int, int], float]) -> tuple[float, float]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    near: dict[int, set[int]] = {i: set() for i in range(n)}
    for (x, y), j in pairs.items():
        if j >= 0.85:
            parent[find(x)] = find(y)
        if j >= 0.7:
            near[x].add(y)
            near[y].add(x)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    surplus = sum(len(g) - 1 for g in groups.values())
    caught = sum(min(len(g) - 1, sum(i in removed for i in g)) for g in groups.values())
    good = sum(any(x not in removed for x in near[d] | {d} if x != d) for d in removed)
    return caught / max(surplus, 1), good / max(len(removed), 1)


def datasketch_removed(texts: list[str], num_perm: int, threshold: float) -> set[int]:
    import re

    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    template = MinHash(num_perm=num_perm, seed=1)
    removed = set()
    for i, text in enumerate(texts):
        words = re.findall(r"\w+", text.lower())
        m = MinHash(num_perm=num_perm, seed=1, permutations=template.permutations, scheme=template.scheme)
        m.update_batch([" ".join(words[k : k + 5]).encode() for k in range(max(1, len(words) - 4))])
        if lsh.query(m):
            removed.add(i)
        else:
            lsh.insert(i, m)
    return removed


def write_docs(root: Path, ids: list[str], texts: list[str], n_files: int = 4) -> None:
    root.mkdir(parents=True)
    rows = [{"id": i, "url": f"https://bench.example/{i}", "domain": "bench.example", "warc_path": "bench",
             "warc_offset": k, "fetch_time": "2024-01-01T00:00:00Z", "lang": "en", "lang_score": 1.0, "text": t,
             "n_chars": len(t)} for k, (i, t) in enumerate(zip(ids, texts, strict=True))]
    for f in range(n_files):
        pq.write_table(pa.Table.from_pylist(rows[f::n_files], schema=document_arrow_schema()), root / f"{f}.parquet")


def run_job(work: Path, ids, texts, toml: str) -> tuple[set[str], float]:
    from jobs.dedup import DedupStage

    name = f"run{len(list(work.iterdir()))}"
    write_docs(work / f"{name}-in", ids, texts)
    (work / f"{name}.toml").write_text(toml)
    start = time.perf_counter()
    DedupStage().main(["--input", str(work / f"{name}-in"), "--output", str(work / f"{name}-out"),
                     "--config", str(work / f"{name}.toml"), "--master", "local[2]"])
    seconds = time.perf_counter() - start
    return set(pq.read_table(work / f"{name}-out", columns=["id"]).column("id").to_pylist()), seconds


def tree_peak_rss_mb() -> float:
    """Sum of the peak RSS (VmHWM) of this process and all its descendants (the Spark JVM, Python workers);
    an upper bound of the run's peak, read before the session stops. Linux only; 0 elsewhere."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total_kb, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


SETTINGS = {  # name: (num_perm, the job's [dedup] table)
    "default": (128, "threshold = 0.8\n"),
    "dots_llm1": (2048, 'preset = "dots_llm1"\nthreshold = 0.8\n'),
    "dots_llm1_unverified": (2048, 'preset = "dots_llm1"\nthreshold = 0.8\nverify = false\n'),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--families", type=int, default=300)
    p.add_argument("--throughput-docs", type=int, default=0)
    args = p.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                os.environ.get("PYTHONPATH", "")])
    threshold = 0.8
    ids, texts, family = corpus(args.families)
    pairs = exact_jaccard_pairs(texts, family)
    index = {d: i for i, d in enumerate(ids)}
    ours, reference, ratio = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (num_perm, table) in SETTINGS.items():
            kept, seconds = run_job(work, ids, texts, f"[dedup]\n{table}lines = false\n")
            removed = {index[d] for d in ids if d not in kept}
            recall, precision = score(removed, len(texts), pairs)
            ours[name] = {"recall": round(recall, 4), "precision": round(precision, 4), "removed": len(removed),
                          "seconds": round(seconds, 1)}
            if name.endswith("unverified"):
                continue
            t0 = time.perf_counter()
            ref_removed = datasketch_removed(texts, num_perm, threshold)
            ref_recall, ref_precision = score(ref_removed, len(texts), pairs)
            reference[name] = {"recall": round(ref_recall, 4), "precision": round(ref_precision, 4),
                               "removed": len(ref_removed), "seconds": round(time.perf_counter() - t0, 1)}
            ratio[name] = {"recall": round(recall / ref_recall, 4), "precision": round(precision / ref_precision, 4)}
        throughput = {}
        if args.throughput_docs:
            # Throughput corpus: windows 97 words apart over the same prose, so families overlap partly too.
            big_ids, big_texts, _ = corpus(max(1, args.throughput_docs // len(RATES)), seed=2, step=97)
            _, seconds = run_job(work, big_ids, big_texts, "[dedup]\npreset = \"dots_llm1\"\n")
            throughput = {"docs": len(big_texts), "seconds": round(seconds, 1),
                          "docs_per_s": round(len(big_texts) / seconds),
                          "config": "dots_llm1 preset (2048 hashes, 128x16), exact + near + line dedup",
                          "peak_rss_mb_process_tree": round(tree_peak_rss_mb())}
    result = {
        "name": "dedup_quality",
        "machine": describe_machine("Spark local[2]"),
        "date": date.today().isoformat(),
        "unit": "recall / precision (share)",
        "ours": ours,
        "reference": reference,
        "ratio": ratio,
        **({"throughput": throughput} if throughput else {}),
        "params": {"threshold": threshold, "docs": len(texts), "edit_rates": RATES, "chain_rate": CHAIN_RATE,
                   "chain_families": sum(1 for f in range(args.families) if f % CHAIN_EVERY == CHAIN_EVERY - 1),
                   "families": args.families, "num_perm": {k: v[0] for k, v in SETTINGS.items()},
                   "reference": "datasketch MinHashLSH greedy insert/query, same num_perm and threshold",
                   "recall": "surplus copies removed among groups linked by exact J >= 0.85",
                   "precision": "removed documents with a kept J >= 0.7 neighbour"},
    }
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / "results" / "dedup_quality.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
