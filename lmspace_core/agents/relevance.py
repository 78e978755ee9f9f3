"""Whether retrieved passages are about the question at all, before any sentence of them is offered as an answer.

The best passage's cosine similarity alone cannot tell: on a space of shell documentation, "how do I bake sourdough
bread?" scores 0.224 and real questions about the space's own documents score from 0.294 up, too thin a margin for
one cutoff. A second signal is whether the question's content words occur in the passages: an unrelated question
shares few or none of them, a real one most (a paraphrase still names its subject).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lmspace_core.domain import Hit

# Below this cosine similarity the best passage is unrelated to the question (MiniLM scores unrelated text ~0-0.15).
MIN_RELEVANCE = 0.2
# Below this, a question at most half of whose content words occur in the passages is unrelated to them; above it
# the similarity alone vouches for the passages (a paraphrase that shares few words with its answer).
MIN_UNSUPPORTED_RELEVANCE = 0.35

_WORD = re.compile(r"[^\W_]+")
# Words that say what kind of question it is, not what it is about: finding them in a passage proves nothing.
_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be been before being best between both but by can
could did do does doing done each either else ever every few for from get gets getting good got had has have
having he her here him his how i if in into is it its just kind know like make makes many may me might more most
much must my need needs no nor not now of off often on once one only or other our out over own please should so
some such than that the their them then there these they thing things this those through to too try under until
up us use used using very want was way ways we well were what when where whether which while who whom why will
with would you your
""".split())
_SUFFIXES = ("ing", "ed", "es", "s", "e", "ly")


def _stem(word: str) -> str:
    """The word without one common inflection (`baking`, `baked`, `bakes`, `bake` all read `bak`)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> set[str]:
    """Stems of the words of `text` that carry its subject: case-folded, without stopwords and one-letter words."""
    words = (word for word in _WORD.findall(text.casefold()) if len(word) > 1 and word not in _STOPWORDS)
    return {_stem(word) for word in words}


def _occurs(stem: str, present: set[str]) -> bool:
    """Whether `stem` is one of `present` or starts one of them, or one starts it, when the shorter has five letters
    or more (`configur` in `configuration`)."""
    if stem in present:
        return True
    for other in present:
        short, long = sorted((stem, other), key=len)
        if len(short) >= 5 and long.startswith(short):
            return True
    return False


def coverage(question: str, passages: Sequence[str]) -> float:
    """The share of the question's content words that occur in `passages` (1.0 for a question without any)."""
    wanted = content_stems(question)
    if not wanted:
        return 1.0
    present = set().union(*(content_stems(passage) for passage in passages))
    return sum(_occurs(stem, present) for stem in wanted) / len(wanted)


def answerable(question: str, hits: Sequence[Hit]) -> bool:
    """Whether `hits` can answer `question`: the best passage is similar enough, and if it is only weakly similar,
    more than half of the question's content words occur in the passages. Measured on the 50 questions of
    tests/data/retrieval: the two below `MIN_UNSUPPORTED_RELEVANCE` (0.294, 0.322) find 83% and 100% of their words,
    unrelated questions on that space and on /usr/share/doc/bash at most 50% (bench/RESULTS.md, "Off-topic")."""
    if not hits or (best := hits[0].score) < MIN_RELEVANCE:
        return False
    return best >= MIN_UNSUPPORTED_RELEVANCE or coverage(question, [hit.chunk.text for hit in hits]) > 0.5
