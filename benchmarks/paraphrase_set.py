"""A planted paraphrase set for semantic dedup: groups of re-worded copies, and distinct passages on the same topics.

Passages are real prose available offline: Python's documentation topics and the long docstrings of the standard
library (read with ast, nothing imported). A source (one topic or one module) gives several consecutive passages,
so passages of one source are distinct documents on the same subject: the near misses a semantic dedup must keep.
A planted group is one passage plus copies made by:

* `reword`: a share of words replaced by a synonym or a near-synonym phrase, some filler words dropped — this
  breaks most 5-word shingles, so MinHash misses it;
* `reorder`: sentences shuffled (MinHash often still finds it: sentences keep their shingles);
* `template`: the text wrapped in another site's header, navigation and footer;
* `mix`: reworded, reordered and templated at once.

Every row has `group`: the planted group for a passage with copies, "" for a passage without. Used by
benchmarks/semdedup_bench.py and the semantic dedup tests.
"""

from __future__ import annotations

import ast
import random
import re
import sysconfig
from functools import lru_cache
from pathlib import Path

SYNONYMS = {
    "the": "this", "is": "becomes", "are": "become", "a": "one", "an": "one", "to": "towards", "of": "from",
    "and": "as well as", "or": "alternatively", "in": "within", "for": "meant for", "with": "using",
    "returns": "gives back", "return": "give back", "returned": "given back", "function": "routine",
    "functions": "routines", "object": "instance", "objects": "instances", "value": "result", "values": "results",
    "list": "sequence", "used": "employed", "use": "employ", "uses": "employs", "if": "when", "can": "may",
    "must": "has to", "should": "ought to", "new": "fresh", "all": "every", "each": "every single",
    "file": "document", "files": "documents", "name": "label", "names": "labels", "method": "operation",
    "methods": "operations", "default": "standard", "create": "build", "created": "built", "creates": "builds",
    "string": "text", "strings": "texts", "argument": "parameter", "arguments": "parameters", "number": "count",
    "error": "failure", "raised": "thrown", "raises": "throws", "raise": "throw", "called": "invoked",
    "call": "invocation", "not": "never", "only": "solely", "also": "too", "when": "whenever",
    "however": "but", "specified": "given", "specify": "give", "data": "information", "set": "collection",
    "type": "kind", "types": "kinds", "example": "instance", "first": "initial", "last": "final",
    "following": "next", "contains": "holds", "contain": "hold", "which": "that", "will": "shall",
    "be": "get", "this": "the present", "module": "library", "class": "type definition", "instance": "object",
}
FILLER = {"the", "a", "an", "that", "very", "just", "also"}
TEMPLATES = (
    ("Home | News | About | Contact\n{title}\n", "\nShare this article. Copyright 2024 Example Media."),
    ("Skip to main content\nMenu Search Sign in\n", "\nRelated posts\nLeave a comment\nSubscribe to our newsletter"),
    ("Posted by admin on March 3\n", "\nTags: python, programming\n42 comments"),
    ("", "\n\nThis page was last edited on 12 May. Text is available under a free licence."),
)
KINDS = ("reword", "reorder", "template", "mix")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1)
def sources() -> list[tuple[str, str]]:
    """(source name, prose) in a fixed order: the documentation topics, then long docstrings of the stdlib."""
    from pydoc_data.topics import topics

    out = [(f"topic:{k}", topics[k]) for k in sorted(topics)]
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "tests" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        docs = [ast.get_docstring(n) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
        prose = "\n".join(d for d in docs if d and len(d.split()) >= 40)
        if len(prose.split()) >= 240:
            out.append((f"module:{path.stem}", prose))
    return out


def passages(words_per_passage: int = 160) -> list[tuple[str, str]]:
    """(source, passage): consecutive sentence runs of about words_per_passage words, several per source."""
    out = []
    for name, prose in sources():
        current: list[str] = []
        for sentence in _SENTENCE.split(" ".join(prose.split())):
            current.append(sentence)
            if sum(len(s.split()) for s in current) >= words_per_passage:
                out.append((name, " ".join(current)))
                current = []
    return out


def reword(text: str, rng: random.Random, share: float = 0.6) -> str:
    words = []
    for word in text.split():
        bare = word.lower().strip(".,;:()")
        if bare in FILLER and rng.random() < 0.3:
            continue
        if bare in SYNONYMS and rng.random() < share:
            word = word.lower().replace(bare, SYNONYMS[bare], 1)
        words.append(word)
    return " ".join(words)


def reorder(text: str, rng: random.Random) -> str:
    sentences = _SENTENCE.split(text)
    rng.shuffle(sentences)
    return " ".join(sentences)


def template(text: str, rng: random.Random) -> str:
    head, foot = TEMPLATES[rng.randrange(len(TEMPLATES))]
    return head.format(title=" ".join(text.split()[:6])) + text + foot


def copy_of(text: str, kind: str, rng: random.Random) -> str:
    if kind == "reword":
        return reword(text, rng)
    if kind == "reorder":
        return reorder(text, rng)
    if kind == "template":
        return template(text, rng)
    return template(reorder(reword(text, rng), rng), rng)


def build(n_groups: int, copies: int = 2, n_distinct: int = 0, seed: int = 1) -> list[dict]:
    """Rows {id, text, group, kind, source}: n_groups planted groups of 1 + copies documents, and n_distinct
    passages without copies, preferably from the sources the planted passages come from (same topics)."""
    rng = random.Random(seed)
    pool = passages()
    by_source: dict[str, list[int]] = {}
    for i, (src, _) in enumerate(pool):
        by_source.setdefault(src, []).append(i)
    multi = sorted(s for s, idx in by_source.items() if len(idx) >= 2)
    planted, distinct = [], []
    for src in multi:  # alternate passages of a source: planted ones, and their same-topic near misses
        planted.extend(by_source[src][0::2])
        distinct.extend(by_source[src][1::2])
    rng.shuffle(planted)
    if len(planted) < n_groups:
        raise ValueError(f"only {len(planted)} passages can be planted; ask for fewer groups")
    planted = planted[:n_groups]
    used_sources = {pool[i][0] for i in planted}
    distinct = [i for i in distinct if pool[i][0] in used_sources] + [i for i in distinct if pool[i][0] not in
                                                                      used_sources]
    rows = []
    for g, i in enumerate(planted):
        src, text = pool[i]
        rows.append({"text": text, "group": f"g{g:04d}", "kind": "original", "source": src})
        for c in range(copies):
            kind = KINDS[(g + c) % len(KINDS)]
            rows.append({"text": copy_of(text, kind, rng), "group": f"g{g:04d}", "kind": kind, "source": src})
    for i in distinct[:n_distinct]:
        rows.append({"text": pool[i][1], "group": "", "kind": "distinct", "source": pool[i][0]})
    order = list(range(len(rows)))
    rng.shuffle(order)  # ids carry no hint of the group or of which copy is the original
    return [{"id": f"d{k:06d}", **rows[j]} for k, j in enumerate(order)]
