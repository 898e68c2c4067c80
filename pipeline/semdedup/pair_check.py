"""The second check of semantic dedup: two documents close in embedding space are duplicates only if they also
have comparable lengths and share their rare content words.

An embedding measures what a text is about; two different articles on one subject sit close together, and a
cosine threshold alone removes unique documents (measured: a fastText vector removed 22.7% of unique articles).
A re-worded copy keeps what a different article on the same subject does not: the names, numbers and uncommon
words of its original. Each document gets a bottom-k sketch of its content words (the k smallest 32-bit hashes of
its distinct words of 4+ letters that are not common function words, numbers, and Han character pairs) and its
length; a pair passes when its length ratio and the estimated share of the smaller document's content words that
the other one has (containment) both reach their bounds. The sketch is a few hundred bytes per document, so the
check runs inside the pair-finding task, beside the vectors, without the texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xxhash

SKETCH_WORDS = 128  # bottom-k size: containment is estimated to about +-0.05 at 0.5
_WORD = re.compile(r"\w+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Function words of 4+ letters in the recipe's and the web's common languages: frequent in every document, so
# sharing them says nothing about being a copy.
_COMMON = frozenset("""
about above after again against also although among another anything around because been before being below
between both cannot could does doing done down during each either else enough even ever every first from further
have having here herself himself however into itself just last least less like made make many might more most
much must myself never next none nothing often once only other others ours over own perhaps quite rather really
said same says seem shall should since some something still such than that their theirs them then there
these they thing
things this those though through thus together too toward under until upon very want well were what whatever when
where whether which while whom whose will with within without would year years your yours yourself
aber alle allem allen aller alles also auch bereits damit dann darauf dass dein deine dem den denn der des diese
dieser dieses doch dort durch eine einem einen einer eines etwas euch haben hatte hier ihre ihrem ihren ihrer
immer jede jeder jedoch jetzt kann kein keine machen mehr mein meine mich mit nach nicht noch nun oder ohne schon
sehr sein seine sich sie sind soll sowie über unter viel vom von vor wann warum was weil weiter wenn werden wie
wieder wird wir wurde wurden zum zur zwischen
avec avoir cette comme dans elle elles encore être fait leur leurs mais même nous pour plus quand quel quelle
sans sont sous tout toute tous très vous
como cuando desde donde entre esta este esto estos hasta mucho muy para pero porque sobre también todo todos
""".split())


@dataclass(kw_only=True, frozen=True)
class PairCheck:
    """Bounds a candidate pair must reach besides the cosine threshold (calibrated, see README)."""

    min_length_ratio: float = 0.5  # shorter / longer, in characters
    min_containment: float = 0.7  # share of the smaller document's content words found in the other
    enabled: bool = True


def content_words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower()):
        if _HAN.search(word):  # Chinese has no spaces: pairs of Han characters stand for words
            han = "".join(_HAN.findall(word))
            words.update(han[i : i + 2] for i in range(max(1, len(han) - 1)))
        elif (len(word) >= 4 and word not in _COMMON) or word.isdigit():
            words.add(word)
    return words


def sketch(text: str, k: int = SKETCH_WORDS) -> tuple[np.ndarray, int]:
    """(sorted uint32 bottom-k hashes of the content words, number of distinct content words)."""
    words = content_words(text)
    hashes = np.fromiter((xxhash.xxh32_intdigest(w.encode("utf-8", "surrogatepass")) for w in words),
                         dtype=np.uint32, count=len(words))
    hashes = np.unique(hashes)
    return hashes[:k], len(words)


def containment(a: np.ndarray, n_a: int, b: np.ndarray, n_b: int, k: int = SKETCH_WORDS) -> float:
    """Estimated |A ∩ B| / min(|A|, |B|) from two bottom-k sketches: Jaccard from the k smallest hashes of the
    union, then |A ∩ B| = J (|A| + |B|) / (1 + J). 0 when either document has no content words."""
    if n_a == 0 or n_b == 0:
        return 0.0
    union = np.union1d(a, b)[:k]
    if len(union) == 0:
        return 0.0
    both = np.intersect1d(np.intersect1d(a, b, assume_unique=True), union, assume_unique=True)
    jaccard = len(both) / len(union)
    return min(1.0, jaccard * (n_a + n_b) / (1.0 + jaccard) / min(n_a, n_b))


def length_ratio(chars_a: int, chars_b: int) -> float:
    longer = max(chars_a, chars_b)
    return min(chars_a, chars_b) / longer if longer else 1.0


def passes(check: PairCheck, chars: tuple[int, int], sketches: tuple[tuple[np.ndarray, int], ...]) -> bool:
    if not check.enabled:
        return True
    if length_ratio(*chars) < check.min_length_ratio:
        return False
    (a, n_a), (b, n_b) = sketches
    return containment(a, n_a, b, n_b) >= check.min_containment


def passing(check: PairCheck, i: np.ndarray, j: np.ndarray, n_chars, sketch_of) -> np.ndarray:
    """Mask of the candidate pairs (i[k], j[k]) that pass; n_chars[x] is document x's length and sketch_of(x)
    its (sketch, content words). The semantic dedup stage and the calibration both decide with this."""
    if not check.enabled or len(i) == 0:
        return np.ones(len(i), dtype=bool)
    cache: dict[int, tuple[np.ndarray, int]] = {}

    def get(x: int) -> tuple[np.ndarray, int]:
        if x not in cache:
            cache[x] = sketch_of(x)
        return cache[x]

    return np.array([passes(check, (n_chars[x], n_chars[y]), (get(x), get(y)))
                     for x, y in zip(np.asarray(i).tolist(), np.asarray(j).tolist(), strict=True)], dtype=bool)
