"""MinHash signatures per CPU-second on one core: ours (pipeline/dedup/minhash.py, the compiled numba kernel, and its
numpy reference path) vs datasketch.MinHash.update_batch.

Same ~2 KB prose documents, same 5-word shingles, 128 and 2048 permutations. datasketch's time includes what
its users do before update_batch (lowercase, split into words, build and encode the 5-gram strings); ours
starts from the raw texts. Times are this process's CPU time (the machine is shared: wall clock would count
other people's jobs); numba's compilation happens in the untimed warm-up. Run: python benchmarks/minhash_bench.py
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe_machine  # noqa: E402
from pipeline.dedup.minhash import MinHasher  # noqa: E402

WORD = re.compile(r"\w+")


def documents(n: int, n_words: int = 330) -> list[str]:
    from pydoc_data.topics import topics

    words = " ".join(topics[k] for k in sorted(topics)).split()
    rng = np.random.default_rng(0)
    return [" ".join(words[s : s + n_words]) for s in rng.integers(0, len(words) - n_words, n)]


def datasketch_signatures(texts: list[str], num_perm: int, ngram: int = 5):
    from datasketch import MinHash

    template = MinHash(num_perm=num_perm, seed=1)
    out = []
    for text in texts:
        words = WORD.findall(text.lower())
        shingles = [" ".join(words[i : i + ngram]).encode() for i in range(max(1, len(words) - ngram + 1))]
        m = MinHash(num_perm=num_perm, seed=1, permutations=template.permutations, scheme=template.scheme)
        m.update_batch(shingles)
        out.append(m.hashvalues)
    return out


def rate(fn, texts: list[str], min_seconds: float = 3.0) -> float:
    fn(texts[:50])  # warm-up: tables, caches, numba's compilation
    done, start = 0, time.process_time()
    while time.process_time() - start < min_seconds:
        fn(texts)
        done += len(texts)
    return done / (time.process_time() - start)


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    for num_perm, n_ours, n_ref in ((128, 4000, 400), (2048, 2000, 100)):
        texts = documents(n_ours)
        ours = rate(MinHasher(num_perm=num_perm, ngram=5, seed=1).signatures, texts)
        numpy_path = rate(MinHasher(num_perm=num_perm, ngram=5, seed=1, engine="numpy").signatures, texts)
        ref = rate(lambda t, p=num_perm: datasketch_signatures(t, p), texts[:n_ref])
        rows.append({"num_perm": num_perm, "ours": round(ours), "numpy": round(numpy_path), "reference": round(ref),
                     "ratio": round(ours / ref, 1)})
    print(f"{'num_perm':>8} {'numba docs/s':>13} {'numpy docs/s':>13} {'datasketch docs/s':>18} {'ratio':>6}")
    for r in rows:
        print(f"{r['num_perm']:>8} {r['ours']:>13,} {r['numpy']:>13,} {r['reference']:>18,} {r['ratio']:>6}")
    import datasketch
    import numba

    result = {
        "name": "minhash",
        "machine": describe_machine("shared, one core used"),
        "date": date.today().isoformat(),
        "unit": "signatures per CPU-second, one core",
        "ours": {str(r["num_perm"]): r["ours"] for r in rows},
        "ours_numpy_reference_path": {str(r["num_perm"]): r["numpy"] for r in rows},
        "reference": {str(r["num_perm"]): r["reference"] for r in rows},
        "ratio": {str(r["num_perm"]): r["ratio"] for r in rows},
        "params": {"ngram": 5, "doc_chars": int(np.mean([len(t) for t in documents(200)])),
                   "reference": f"datasketch {datasketch.__version__} MinHash.update_batch (scheme affine32)",
                   "numpy": np.__version__, "numba": numba.__version__,
                   "note": "other engineers' jobs shared the 2 cores during the run; CPU time of this process"},
    }
    out = Path(__file__).parent / "results" / "minhash.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
