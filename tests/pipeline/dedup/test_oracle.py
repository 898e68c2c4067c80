"""The near-duplicate decision in plain Python (the oracle the production functions and the job are tested
against): verified candidates, the chain that needs its centre, a second representative, the keeper rule."""

from __future__ import annotations

from pipeline.dedup.primitives import DedupConfig


def prose(seed: int, n_words: int = 300) -> str:
    import random
    from pydoc_data.topics import topics

    words = " ".join(topics[k] for k in sorted(topics)).split()
    start = random.Random(seed).randrange(len(words) - n_words)
    return " ".join(words[start : start + n_words])


def edit(text: str, positions, tag: str) -> str:
    words = text.split()
    for p in positions:
        words[p] = f"{tag}{p}"
    return " ".join(words)


def chain_and_pair() -> dict[str, str]:
    """ca ~ cb ~ cc (4 words replaced per step: J ~ 0.87) with J(ca, cc) ~ 0.76 < 0.8, and p1, p2 at J ~ 0.62."""
    a = prose(1)
    b = edit(a, [40, 100, 160, 220], "bee")
    c = edit(b, [70, 130, 190, 250], "cee")
    p = prose(50)
    return {"ca": a, "cb": b, "cc": c, "p1": p, "p2": edit(p, range(10, 290, 20), "pee")}


VERIFY_CONFIG = {"num_perm": 256, "bands": 64, "rows": 4, "threshold": 0.8}  # every pair above shares a bucket


def _near(texts: dict[str, str], **overrides):
    from pipeline.dedup.lsh import band_hashes
    from pipeline.dedup.minhash import MinHasher
    from pipeline.dedup.oracle import reference_near_duplicate_clusters

    cfg = DedupConfig(**{**VERIFY_CONFIG, **overrides})
    ids = sorted(texts)
    sig = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures([texts[i] for i in ids])
    keys = band_hashes(sig, *cfg.lsh_params(), cfg.seed)
    result = reference_near_duplicate_clusters(ids, [k.tolist() for k in keys], sig, cfg.threshold, cfg.verify,
                                     cfg.verify_rounds)
    return result, dict(zip(ids, sig, strict=True)), dict(zip(ids, keys, strict=True))


def test_chain_and_pair_preconditions():
    """Every pair shares a bucket; the signatures put ca~cb, cb~cc at or above 0.8 and ca~cc, p1~p2 below."""
    from pipeline.dedup.minhash import jaccard_estimate

    _, sig, keys = _near(chain_and_pair())
    for x, y in [("ca", "cb"), ("cb", "cc"), ("ca", "cc"), ("p1", "p2")]:
        assert set(keys[x].tolist()) & set(keys[y].tolist()), (x, y)
    assert jaccard_estimate(sig["ca"], sig["cb"]) >= 0.8 and jaccard_estimate(sig["cb"], sig["cc"]) >= 0.8
    assert jaccard_estimate(sig["ca"], sig["cc"]) < 0.8
    assert 0.5 < jaccard_estimate(sig["p1"], sig["p2"]) < 0.7


def test_verification_rejects_a_low_pair_and_the_chain_keeps_its_centre():
    result, _, _ = _near(chain_and_pair())
    # p1, p2 share buckets at J ~ 0.6: rejected, both kept. The chain is one cluster through its verified links
    # (cb, in every bucket of ca or cc, is the representative) and keeps its centre.
    assert result.keeper_of == {"ca": "cb", "cb": "cb", "cc": "cb"}
    assert result.shared["cb"] > result.shared["ca"] and result.shared["cb"] > result.shared["cc"]
    c = result.counters
    assert c["near_candidate_pairs"] == c["near_verified_pairs"] + c["near_rejected_pairs"]
    assert c["near_rejected_pairs"] >= 1
    unverified, _, _ = _near(chain_and_pair(), verify=False)  # without verification p1, p2 would merge
    assert unverified.keeper_of["p1"] == unverified.keeper_of["p2"]
    assert unverified.counters["near_rejected_pairs"] == 0


def test_a_second_representative_links_what_the_first_rejected():
    import numpy as np

    from pipeline.dedup.oracle import reference_near_duplicate_clusters

    # bucket 1 = {a, b, c}, bucket 2 = {a, d}: a has the highest degree and represents bucket 1 first; b and c
    # are far from a but equal to each other, so only a second round (representative b) links them.
    sig = np.zeros((4, 16), dtype=np.uint32)
    sig[1:3, :12] = 7  # b, c: 4 of 16 slots equal to a's
    sig[3, :2] = 9  # d: 14 of 16 equal to a's
    result = reference_near_duplicate_clusters(["a", "b", "c", "d"], [[1, 2], [1], [1], [2]], sig, 0.8)
    assert result.keeper_of == {"a": "a", "d": "a", "b": "b", "c": "b"}
    assert result.counters == {"near_candidate_pairs": 4, "near_verified_pairs": 2, "near_rejected_pairs": 2,
                               "verify_rounds": 2}


def test_keeper_rule():
    from pipeline.dedup.clusters import keeper_rank
    from pipeline.dedup.oracle import reference_keeper as keeper

    assert keeper({"b": 3, "a": 2, "c": 3}) == "b"  # most shared buckets, ties to the smallest id
    assert keeper({"z": 1}) == "z"
    assert keeper_rank(5, "x") < keeper_rank(4, "a")


def test_dots_preset_finds_the_planted_clusters():
    from benchmarks.planted_duplicates import PlantedCorpus
    from pipeline.dedup.lsh import band_hashes
    from pipeline.dedup.minhash import MinHasher
    from pipeline.dedup.oracle import reference_near_duplicate_clusters

    corpus = PlantedCorpus.build(n_docs=600, seed=3, big=60, chains=2, chain_length=25, small_clusters=12)
    ids, texts = next(corpus.batches(600))
    cfg = DedupConfig(preset="dots_llm1")
    sig = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures(texts)
    keys = band_hashes(sig, *cfg.lsh_params(), cfg.seed)
    result = reference_near_duplicate_clusters(ids, [k.tolist() for k in keys], sig, cfg.threshold)
    found: dict[str, set[str]] = {}
    for doc_id, kept in result.keeper_of.items():
        found.setdefault(kept, set()).add(doc_id)
    # Exact copies are found here too (the job finds them earlier, by fingerprint): each planted cluster is one
    # found cluster, and nothing else is clustered.
    assert sorted(map(sorted, found.values())) == sorted(sorted(m) for m in corpus.clusters.values())


def test_planted_corpus_is_deterministic_and_scores_the_truth():
    from benchmarks.planted_duplicates import PlantedCorpus

    corpus = PlantedCorpus.small()
    again = PlantedCorpus.small()
    ids, texts = next(corpus.batches(corpus.n_docs))
    assert (ids, texts) == next(again.batches(again.n_docs)) and len(set(ids)) == corpus.n_docs
    assert len(corpus.clusters["big"]) == 100 and len(corpus.clusters["chain0"]) == 30
    perfect = {i: 1 for i in ids}
    for members in corpus.clusters.values():
        for m in members:
            del perfect[m]
        perfect[members[0]] = len(members)
    score = corpus.score(perfect)
    assert score["found_exactly"] == score["planted_clusters"] and score["unique_kept"] == score["unique_docs"]
