"""The production near-duplicate functions (pipeline/dedup/clusters.py) agree with the oracle: driven here by
pyarrow joins the way jobs/dedup_clusters.py drives them with Spark's, without Spark."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.dedup import clusters
from pipeline.dedup.lsh import verified
from pipeline.dedup.oracle import reference_components, reference_near_duplicate_clusters
from pipeline.dedup.primitives import DedupConfig
from tests.pipeline.dedup.test_oracle import VERIFY_CONFIG, chain_and_pair


def _in_groups(table: pa.Table, column: str, step, batch_rows: int = 3) -> pa.Table:
    """`step` over `table` sorted by `column`, fed in small batches and re-cut by whole_groups (as in a task)."""
    batches = table.sort_by(column).to_batches(max_chunksize=batch_rows)
    return pa.concat_tables([step(t) for t in clusters.whole_groups(batches, column)])


def _components(edges: list[tuple[str, str]]) -> tuple[dict[str, str], int]:
    pairs = {(min(a, b), max(a, b)) for a, b in edges if a != b}
    for rounds in range(1, 50):
        a, b = zip(*sorted(pairs), strict=True) if pairs else ((), ())
        both = pa.table({"u": [*a, *b], "v": [*b, *a]}, schema=pa.schema([("u", pa.string()), ("v", pa.string())]))
        large = _in_groups(both, "u", clusters.large_star)
        large_pairs = sorted(set(zip(*large.to_pydict().values(), strict=True)))
        large = pa.table({"a": [p[0] for p in large_pairs], "b": [p[1] for p in large_pairs]},
                         schema=pa.schema([("a", pa.string()), ("b", pa.string())]))
        small = set(zip(*_in_groups(large, "b", clusters.small_star).to_pydict().values(), strict=True))
        if small == pairs:
            label = {b: a for a, b in pairs} | {a: a for a, _ in pairs}
            return label, rounds
        pairs = small
    raise AssertionError("no convergence")


def _production(ids, band_keys, signatures, cfg: DedupConfig):
    """keeper_of and counters from the production functions, the rounds run as verified_groups runs them."""
    members = {(key, doc_id) for doc_id, keys in zip(ids, band_keys, strict=True) for key in set(keys) - {0}}
    size = {}
    for key, _ in members:
        size[key] = size.get(key, 0) + 1
    members = sorted((k, i) for k, i in members if size[k] > 1)
    degree = {}
    for key, doc_id in members:
        degree[doc_id] = degree.get(doc_id, 0) + size[key] - 1
    state = pa.table({"key": pa.array([k for k, _ in members], pa.int64()), "id": [i for _, i in members],
                      "degree": pa.array([degree[i] for _, i in members], pa.int64()),
                      "role": pa.array([clusters.PENDING] * len(members), pa.int32()),
                      "rep": pa.nulls(len(members), pa.string()), "ok": pa.nulls(len(members), pa.bool_())})
    row = {doc_id: n for n, doc_id in enumerate(ids)}
    counters = {"near_candidate_pairs": 0, "near_verified_pairs": 0, "near_rejected_pairs": 0, "verify_rounds": 0}
    groups = []
    for _ in range(cfg.verify_rounds):
        state = _in_groups(state, "key", clusters.representative_round)
        todo = state.filter(pc.and_(pc.is_valid(state["rep"]), pc.not_equal(state["role"], clusters.REPRESENTATIVE)))
        pairs = sorted(set(zip(todo["id"].to_pylist(), todo["rep"].to_pylist(), strict=True)))
        if not pairs:
            break
        ok = {p: not cfg.verify or bool(verified(signatures[row[p[0]]], signatures[row[p[1]]], cfg.threshold))
              for p in pairs}
        n_ok = sum(ok.values())
        counters["verify_rounds"] += 1
        counters["near_candidate_pairs"] += len(pairs)
        counters["near_verified_pairs"] += n_ok
        counters["near_rejected_pairs"] += len(pairs) - n_ok
        groups += [(k, i, r) for k, i, r in zip(*todo.select(["key", "id", "rep"]).to_pydict().values(), strict=True)
                   if ok[(i, r)]]
        if n_ok == len(pairs):
            break
        state = state.set_column(5, "ok", pa.array([ok.get((i, r)) for i, r in
                                                    zip(state["id"].to_pylist(), state["rep"].to_pylist(),
                                                        strict=True)], pa.bool_()))
    verified_groups = pa.table({"key": pa.array([g[0] for g in groups], pa.int64()), "id": [g[1] for g in groups],
                                "rep": [g[2] for g in groups]}, schema=pa.schema(
        [("key", pa.int64()), ("id", pa.string()), ("rep", pa.string())]))
    credits = _in_groups(verified_groups, "key", clusters.verified_group_credits)
    shared = {}
    for doc_id, n in zip(*credits.to_pydict().values(), strict=True):
        shared[doc_id] = shared.get(doc_id, 0) + n
    label, _ = _components([(i, r) for _, i, r in groups])
    ranked = pa.table({"label": [label[n] for n in shared], "node": list(shared), "shared": list(shared.values())})
    keeper = dict(zip(*_in_groups(ranked, "label", clusters.cluster_keepers).to_pydict().values(), strict=True))
    return {n: keeper[label[n]] for n in shared}, shared, counters


def _signatures(texts: dict[str, str], cfg: DedupConfig):
    from pipeline.dedup.lsh import band_hashes
    from pipeline.dedup.minhash import MinHasher

    ids = sorted(texts)
    sig = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures([texts[i] for i in ids])
    return ids, [k.tolist() for k in band_hashes(sig, *cfg.lsh_params(), cfg.seed)], sig


def _agree(ids, band_keys, sig, cfg: DedupConfig):
    truth = reference_near_duplicate_clusters(ids, band_keys, sig, cfg.threshold, cfg.verify, cfg.verify_rounds)
    keeper_of, shared, counters = _production(ids, band_keys, sig, cfg)
    assert keeper_of == truth.keeper_of and shared == truth.shared and counters == truth.counters
    return truth


def test_chain_and_pair_as_the_oracle_decides():
    for verify in (True, False):
        cfg = DedupConfig(**VERIFY_CONFIG, verify=verify)
        truth = _agree(*_signatures(chain_and_pair(), cfg), cfg)
        assert truth.keeper_of["ca"] == "cb"


def test_a_second_representative_as_the_oracle_decides():
    sig = np.zeros((4, 16), dtype=np.uint32)
    sig[1:3, :12] = 7
    sig[3, :2] = 9
    truth = _agree(["a", "b", "c", "d"], [[1, 2], [1], [1], [2]], sig, DedupConfig(threshold=0.8))
    assert truth.counters["verify_rounds"] == 2


def test_planted_corpus_as_the_oracle_decides():
    from benchmarks.planted_duplicates import PlantedCorpus

    corpus = PlantedCorpus.build(n_docs=300, seed=5, big=30, chains=2, chain_length=15, small_clusters=8)
    ids, texts = next(corpus.batches(300))
    cfg = DedupConfig(num_perm=128, verify_rounds=3)
    _agree(*_signatures(dict(zip(ids, texts, strict=True)), cfg), cfg)


def test_star_steps_find_the_components_of_a_long_chain_in_few_rounds():
    rng = random.Random(4)
    chain = [f"{rng.getrandbits(40):010x}" for _ in range(200)]
    edges = list(zip(chain, chain[1:], strict=False))
    others = [f"{rng.getrandbits(40):010x}" for _ in range(60)]
    edges += [(rng.choice(others[:30]), rng.choice(others[:30])) for _ in range(40)]
    label, rounds = _components(edges)
    truth = reference_components([], edges)
    assert label == {node: truth[node] for a, b in edges for node in (a, b) if a != b}
    assert rounds <= 12


def test_whole_groups_never_split_a_group():
    keys = [1, 1, 2, 2, 2, 2, 2, 3, 4, 4]
    table = pa.table({"key": keys, "n": list(range(10))})
    parts = list(clusters.whole_groups(table.to_batches(max_chunksize=3), "key"))
    assert pa.concat_tables(parts).equals(table)
    seen = [set(p["key"].to_pylist()) for p in parts]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1 :])


def test_signature_rows_round_trip_through_arrow():
    rows = np.arange(12, dtype=np.uint32).reshape(3, 4)
    column = clusters.binary_rows(rows)
    assert (clusters.uint32_rows(column, 3) == rows).all()
    assert (clusters.uint32_rows(column.cast(pa.large_binary()), 3) == rows).all()
