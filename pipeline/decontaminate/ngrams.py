"""Benchmark decontamination: documents that share word n-grams with an evaluation set are dropped or cut.

Text is normalised as the MinHash shingles are (pipeline/dedup/minhash.py: lowercase, punctuation and whitespace
folded, one word per character in scripts without spaces), so a pasted evaluation item is found whatever its
case, spacing or punctuation. Every word n-gram (13 by default, as GPT-3 and datatrove use) becomes a 64-bit
hash: a position-weighted sum of the word hashes, mixed. The index is the sorted array of the evaluation sets'
distinct n-gram hashes with, for each, the item it first came from: 12 bytes per n-gram (12 MB per million), a
binary search per document n-gram. A document sharing at least `min_overlap` n-grams with one evaluation item
is contaminated by that item's set: `mode = "drop"` drops it (reason `contaminated`, counted per set), `mode =
"cut"` removes every matched n-gram's characters plus `margin_chars` on each side, and drops what is left when
it is shorter than `min_chars_after_cut` (GPT-3's procedure, which also used a 200-character margin).

    [decontaminate]
    enabled = true
    [[decontaminate.eval_sets]]
    name = "mmlu"
    paths = ["s3://bucket/evals/mmlu/*.parquet"]
    fields = ["question", "choices", "answer"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np

from pipeline.config import AutoCount, Count, Range
from pipeline.dedup.minhash import astral_char_values, char_value_table, fmix64, word_hash_powers


@dataclass(kw_only=True)
class EvalSetConfig:
    name: str  # reported in _stats.json (contaminated.<name>) and the manifest
    paths: list[str]  # files or fsspec globs: .jsonl / .json (JSON lines, optionally .gz / .zst) or .parquet
    fields: list[str] = field(default_factory=lambda: ["text"])  # joined with spaces; list values are joined too

    def __post_init__(self) -> None:
        if not self.name or not self.paths or not self.fields:
            raise ValueError("an evaluation set needs a name, at least one path and at least one field")


@dataclass(kw_only=True)
class DecontaminateConfig:
    """The [decontaminate] table: which evaluation sets the corpus must not contain, and what to do on a match."""

    enabled: bool = False  # off by default: the demo's outputs stay byte-identical
    eval_sets: list[EvalSetConfig] = field(default_factory=list)
    ngram: Count = 13  # words per n-gram; an evaluation item with fewer words gives none (is never matched)
    min_overlap: Count = 1  # distinct n-grams a document must share with one evaluation item to count as contaminated
    mode: Literal["drop", "cut"] = "drop"
    # exact: sorted hashes + item numbers, 12 MB per million n-grams; bloom: one Bloom filter per set, 4.2 MB per
    # million n-grams at bloom_error 1e-7, for sets too big to broadcast; min_overlap then counts per set
    index: Literal["exact", "bloom"] = "exact"
    # per n-gram lookup in bloom mode; a document of w words is wrongly matched with probability about w times this
    # (at 1e-4, a tenth of 1000-word pages were dropped for nothing: measured in benchmarks/decontam_bench.py)
    bloom_error: Annotated[float, Range(0.0, 1.0, open_lo=True, open_hi=True)] = 1e-7
    margin_chars: AutoCount = 200  # cut mode: also removed on each side of a matched span
    min_chars_after_cut: AutoCount = 200  # cut mode: a document left shorter than this is dropped as contaminated
    batch_rows: Count = 1024

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.min_overlap < 1 or self.margin_chars < 0 or self.min_chars_after_cut < 0:
            raise ValueError("ngram and min_overlap must be >= 1, margin_chars and min_chars_after_cut >= 0")
        if not 0 < self.bloom_error < 1:
            raise ValueError(f"bloom_error must be between 0 and 1, got {self.bloom_error}")
        names = [s.name for s in self.eval_sets]
        if len(set(names)) != len(names):
            raise ValueError(f"evaluation set names must be unique, got {names}")
        if self.enabled and not self.eval_sets:
            raise ValueError("enabled = true needs at least one [[decontaminate.eval_sets]]")


@dataclass
class Words:
    """Normalised words of a batch: hashes, and each word's character span in its own text."""

    hashes: np.ndarray  # uint64
    starts: np.ndarray  # int64, character offset in the word's document
    ends: np.ndarray  # int64, exclusive
    offsets: np.ndarray  # int64, len n_docs + 1: words of doc i are [offsets[i], offsets[i+1])


def char_values(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The batch joined by newlines as MinHash's per-character values (0: separator), and each text's start."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    doc_starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=doc_starts[1:])
    joined = "\n".join(texts)
    codes = np.frombuffer(joined.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
    if codes.size == len(joined) and not ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
        return char_value_table().take(codes), doc_starts
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return astral_char_values(codes, char_value_table()), doc_starts


# Characters per sub-batch: keeps the per-character uint64 arrays and the power table small and in cache (a whole
# 1024-page batch at once built a 2**23-entry table, 128 MB with its inverse, and ran at a third of the speed).
_CHUNK_CHARS = 1 << 18


def words(texts: list[str]) -> Words:
    """Normalised words of a batch, computed in sub-batches of about _CHUNK_CHARS characters."""
    parts, start, size = [], 0, 0
    for i, text in enumerate(texts):
        size += len(text) + 1
        if size >= _CHUNK_CHARS or i == len(texts) - 1:
            parts.append(_words(texts[start : i + 1]))
            start, size = i + 1, 0
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _words([])
    offsets = [np.zeros(1, dtype=np.int64)]
    total = 0
    for part in parts:
        offsets.append(part.offsets[1:] + total)
        total += int(part.offsets[-1])
    return Words(np.concatenate([p.hashes for p in parts]), np.concatenate([p.starts for p in parts]),
                 np.concatenate([p.ends for p in parts]), np.concatenate(offsets))


def _words(texts: list[str]) -> Words:
    values, doc_starts = char_values(texts)
    is_word = values.astype(bool)
    single = (values & np.uint64(1)).astype(bool)
    edge = np.empty(values.size + 1, dtype=bool)  # edge[i]: a word starts or ends between char i-1 and char i
    edge[0] = edge[-1] = True
    edge[1:-1] = is_word[1:] != is_word[:-1]
    if single.any():
        edge[1:-1] |= single[1:] | single[:-1]
    cuts = np.flatnonzero(edge)
    starts = cuts[:-1][is_word[cuts[:-1]]] if values.size else cuts[:0]
    ends = cuts[np.searchsorted(cuts, starts, side="right")]
    if starts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Words(np.zeros(0, dtype=np.uint64), empty, empty, np.zeros(len(texts) + 1, dtype=np.int64))
    prefix = np.zeros(values.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        # word hash = sum of character values weighted by position inside the word (R ** (i - start))
        forward, backward = word_hash_powers(values.size)
        np.cumsum(values * forward[: values.size], out=prefix[1:])
        hashes = (prefix[ends] - prefix[starts]) * backward[starts]
    offsets = np.empty(len(texts) + 1, dtype=np.int64)
    offsets[:-1] = np.searchsorted(starts, doc_starts)
    offsets[-1] = starts.size
    doc_of_word = np.repeat(np.arange(len(texts)), np.diff(offsets))
    base = doc_starts[doc_of_word]
    return Words(hashes, starts - base, ends - base, offsets)


_WEIGHT_SEED = 0xDEC0


def ngram_hashes(w: Words, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word n-gram (documents with fewer than n words have none), and each document's
    slice of them; n-gram j of document d starts at word offsets[d] + j."""
    counts = np.diff(w.offsets)
    per_doc = np.maximum(counts - n + 1, 0)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    span = w.hashes.size - n + 1
    if offsets[-1] == 0 or span <= 0:
        return np.zeros(0, dtype=np.uint64), offsets
    weights = np.random.default_rng(_WEIGHT_SEED + n).integers(1, 2**63, n, dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        every = w.hashes[:span] * weights[0]
        for i in range(1, n):
            every += w.hashes[i : i + span] * weights[i]
    first = np.arange(offsets[-1], dtype=np.int64) + np.repeat(w.offsets[:-1] - offsets[:-1], per_doc)
    return fmix64(every[first]), offsets


def item_ngrams(sets: list[tuple[str, list[str]]], ngram: int, batch: int = 4096):
    """Per evaluation set: the n-gram hashes of its items and, for each, its global item number."""
    n_items = 0
    for _, texts in sets:
        all_hashes, all_items = [np.zeros(0, dtype=np.uint64)], [np.zeros(0, dtype=np.uint32)]
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]
            hashes, offsets = ngram_hashes(words(chunk), ngram)
            all_hashes.append(hashes)
            all_items.append(np.repeat(np.arange(n_items, n_items + len(chunk), dtype=np.uint32), np.diff(offsets)))
            n_items += len(chunk)
        yield np.concatenate(all_hashes), np.concatenate(all_items)


@dataclass
class NgramIndex:
    """Sorted distinct n-gram hashes of the evaluation sets and the item each came from (first seen)."""

    hashes: np.ndarray  # uint64, sorted, distinct
    items: np.ndarray  # uint32, global item number: the group `lookup` returns
    item_sets: np.ndarray  # uint16, evaluation set of each item
    set_names: list[str]
    ngram: int

    @classmethod
    def build(cls, sets: list[tuple[str, list[str]]], ngram: int) -> NgramIndex:
        parts = list(item_ngrams(sets, ngram))
        hashes = np.concatenate([h for h, _ in parts] or [np.zeros(0, dtype=np.uint64)])
        items = np.concatenate([i for _, i in parts] or [np.zeros(0, dtype=np.uint32)])
        item_sets = np.repeat(np.arange(len(sets), dtype=np.uint16), [len(texts) for _, texts in sets])
        hashes, first = np.unique(hashes, return_index=True)  # stable: the first item holding an n-gram keeps it
        return cls(hashes, items[first], item_sets, [name for name, _ in sets], ngram)

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes + self.items.nbytes + self.item_sets.nbytes

    def ngrams_per_set(self) -> list[int]:
        return np.bincount(self.item_sets[self.items], minlength=len(self.set_names)).tolist()

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Item number of each hash, -1 where no evaluation set has it."""
        if self.hashes.size == 0:
            return np.full(hashes.size, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.hashes, hashes), self.hashes.size - 1)
        return np.where(self.hashes[pos] == hashes, self.items[pos].astype(np.int64), -1)


@dataclass
class Verdict:
    """Per document: the contaminating set's name (None when clean) and, in cut mode, the text to keep."""

    contaminated_by: str | None
    text: str | None = None  # cut mode: the text with the matched spans removed (None: unchanged or dropped)
    cut_chars: int = 0


def build_index(sets: list[tuple[str, list[str]]], config: DecontaminateConfig):
    """The index `config.index` names; both answer `lookup(hashes)` with a group (item or set) number or -1."""
    if config.index == "bloom":
        from pipeline.decontaminate.bloom import BloomIndex

        return BloomIndex.build(sets, config.ngram, config.bloom_error)
    return NgramIndex.build(sets, config.ngram)


def judge_batch(texts: list[str], index, config: DecontaminateConfig) -> list[Verdict]:
    w = words(texts)
    hashes, offsets = ngram_hashes(w, index.ngram)
    hit_items = index.lookup(hashes)
    verdicts = [Verdict(None) for _ in texts]
    hit = np.flatnonzero(hit_items >= 0)
    if hit.size == 0:
        return verdicts
    doc_of = np.searchsorted(offsets, hit, side="right") - 1
    for d in np.unique(doc_of):
        rows = hit[doc_of == d]
        # distinct shared n-grams per item; the item sharing the most decides (ties: the lowest item number)
        pairs = np.unique(np.stack([hit_items[rows], hashes[rows].view(np.int64)]), axis=1)
        items, shared = np.unique(pairs[0], return_counts=True)
        if shared.max() < config.min_overlap:
            continue
        name = index.set_names[int(index.item_sets[items[np.argmax(shared)]])]
        if config.mode == "drop":
            verdicts[d] = Verdict(name)
            continue
        first_word = rows - offsets[d] + w.offsets[d]
        kept, cut = cut_spans(texts[d], w.starts[first_word], w.ends[first_word + index.ngram - 1],
                              config.margin_chars)
        dropped = len(kept.strip()) < config.min_chars_after_cut
        verdicts[d] = Verdict(name if dropped else None, None if dropped else kept, cut)
    return verdicts


def cut_spans(text: str, starts: np.ndarray, ends: np.ndarray, margin: int) -> tuple[str, int]:
    """`text` without the union of [start - margin, end + margin) spans; the removed characters count."""
    order = np.argsort(starts, kind="stable")
    pieces, last, removed = [], 0, 0
    cur_s = cur_e = None
    for s, e in zip(starts[order].tolist(), ends[order].tolist(), strict=True):
        s, e = _word_edge(text, s - margin, -1), _word_edge(text, e + margin, 1)
        if cur_e is not None and s <= cur_e:
            cur_e = max(cur_e, e)
            continue
        if cur_e is not None:
            pieces.append(text[last:cur_s])
            removed += cur_e - cur_s
            last = cur_e
        cur_s, cur_e = s, e
    pieces.append(text[last:cur_s])
    removed += cur_e - cur_s
    pieces.append(text[cur_e:])
    return "\n".join(p for p in (p.strip() for p in pieces) if p), removed


def _word_edge(text: str, pos: int, direction: int) -> int:
    """`pos` moved outwards to the nearest whitespace (or the text's end), so a margin never splits a word."""
    if pos <= 0 or pos >= len(text):
        return min(max(pos, 0), len(text))
    while 0 < pos < len(text) and not text[pos - 1 if direction < 0 else pos].isspace():
        pos += direction
    return pos
