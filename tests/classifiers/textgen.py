"""Deterministic labelled text for classifier tests: topical prose, spam, and page clutter.

fastText diverges on tiny vocabularies, so every generator draws from a few hundred real words.
"""

from __future__ import annotations

import random


def _words(text: str) -> list[str]:
    return text.split()


FUNCTION = _words(
    "the a of in on for with to from by as at this that these which while because although however often "
    "usually also many most several some each every new recent early later"
)
TOPICS = {
    "science": "atom molecule quantum physics experiment laboratory hypothesis theory electron photon energy "
               "particle researcher measurement telescope galaxy gravity chemistry reaction enzyme protein "
               "genome cell evolution species fossil climate ocean data model equation",
    "sports": "football match goal striker coach league season tournament champion referee stadium team "
              "player transfer score victory defeat penalty keeper tennis racket marathon runner medal "
              "olympic cyclist training fitness",
    "cooking": "recipe oven flour butter sugar garlic onion sauce simmer bake roast dough pastry spice "
               "pepper salt kitchen chef dish flavour vegetable tomato cheese pasta soup dessert chocolate "
               "cream grill",
    "finance": "market stock bond investor portfolio dividend interest inflation bank loan mortgage credit "
               "revenue profit earnings quarter shareholder fund currency exchange budget tax debt "
               "economy growth price asset",
    "travel": "journey flight airport hotel beach island mountain village museum cathedral passport luggage "
              "tourist guide itinerary train ferry coast harbour castle landscape hiking trail valley "
              "river festival market",
    "health": "patient doctor hospital treatment symptom diagnosis vaccine therapy nurse clinic disease "
              "infection medicine dose surgery recovery diet exercise sleep heart blood pressure cancer "
              "study trial risk",
}
VERBS = _words(
    "describes explains shows improves measures changes reveals supports reduces increases affects "
    "requires follows combines compares produces"
)
SPAM = _words(
    "buy cheap now click here free offer discount casino bonus win prize limited deal subscribe viagra "
    "replica watches loans cash fast best price order today hot singles"
)
CLUTTER_LINES = [
    "Share this article", "Related posts", "Read more", "Subscribe to our newsletter", "Follow us on Twitter",
    "We use cookies to improve your experience. Accept all", "Home | About | Contact | Privacy", "Leave a comment",
    "Posted by admin", "Tags: news, update", "Copyright 2024 All rights reserved", "Previous article",
    "Next article", "Sign in", "Advertisement", "Print this page", "Back to top", "Terms of use",
    "Share on Facebook", "Comments (0)", "Categories", "Search", "Menu", "Skip to content",
]


def sentence(rng: random.Random, topic: str) -> str:
    words = TOPICS[topic].split()
    parts = []
    for _ in range(rng.randint(2, 4)):
        parts += [rng.choice(FUNCTION), rng.choice(words), rng.choice(VERBS), rng.choice(FUNCTION), rng.choice(words)]
    text = " ".join(parts)
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!", "?"])


def article(rng: random.Random, topic: str, paragraphs: int = 4) -> list[str]:
    """Paragraph lines of a topical article."""
    return [" ".join(sentence(rng, topic) for _ in range(rng.randint(2, 4))) for _ in range(paragraphs)]


def spam(rng: random.Random) -> str:
    words = SPAM + TOPICS[rng.choice(list(TOPICS))].split()[:6]
    return " ".join(rng.choice(words) for _ in range(rng.randint(20, 60))) + " !!!"


def page(rng: random.Random, topic: str) -> tuple[list[str], list[bool]]:
    """An extracted page: clutter lines around article paragraphs; labels True for article lines."""
    head = rng.sample(CLUTTER_LINES, rng.randint(1, 4))
    tail = rng.sample(CLUTTER_LINES, rng.randint(1, 4))
    body = article(rng, topic, rng.randint(2, 6))
    return head + body + tail, [False] * len(head) + [True] * len(body) + [False] * len(tail)


def quality_set(seed: int, n: int = 300) -> tuple[list[str], list[str]]:
    """(good articles, spam) documents."""
    rng = random.Random(seed)
    good = [" ".join(article(rng, rng.choice(list(TOPICS)))) for _ in range(n)]
    return good, [spam(rng) for _ in range(n)]


def domain_set(seed: int, n: int = 600) -> tuple[list[str], list[str]]:
    """(texts, topics) with every topic of TOPICS."""
    rng = random.Random(seed)
    topics = [rng.choice(list(TOPICS)) for _ in range(n)]
    return [" ".join(article(rng, t, 2)) for t in topics], topics


def clutter_pages(seed: int, n: int = 200):
    from classifiers.clutter import LabelledPage

    rng = random.Random(seed)
    return [LabelledPage(*page(rng, rng.choice(list(TOPICS)))) for _ in range(n)]


def train_small_models(models_dir) -> dict:
    """quality_v1, domain_v1 and clutter_v1 in `models_dir`, small enough for tests (~1 s, a few MB)."""
    from classifiers.clutter import ClutterTraining, train_clutter
    from classifiers.domain import DomainTraining, train_domain
    from classifiers.fasttext_model import TrainParams
    from classifiers.quality import QualityTraining, train_quality

    small = {"dim": 16, "bucket": 20_000}
    good, bad = quality_set(1)
    texts, topics = domain_set(2)
    return {
        "quality": train_quality(good, bad, models_dir / "quality_v1.bin",
                                 QualityTraining(params=TrainParams(lr=0.1, epoch=10, **small))),
        "domain": train_domain(texts, topics, models_dir / "domain_v1.bin",
                               DomainTraining(params=TrainParams(lr=0.3, epoch=15, word_ngrams=1, **small))),
        "clutter": train_clutter(clutter_pages(3), models_dir / "clutter_v1.bin",
                                 ClutterTraining(params=TrainParams(lr=0.2, epoch=15, **small))),
    }
