"""Numbering retrieved passages for a model, and checking that what the model cites exists."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lmspace_core.domain import Citation, Hit

_MARKER = re.compile(r"\[(\d+)\]")


def format_passage(number: int, hit: Hit) -> str:
    """`[n] source (location): text`, the form the `AnswerWithCitations` signature describes."""
    where = hit.chunk.location.describe()
    label = f"{hit.document.source} ({where})" if where else hit.document.source
    return f"[{number}] {label}: {hit.chunk.text}"


def cited_numbers(answer: str, cited: Sequence[int] | None) -> list[int]:
    """Passage numbers an answer relies on: its `cited` list plus any inline [n] markers, in first-seen order."""
    numbers = list(cited or []) + [int(n) for n in _MARKER.findall(answer)]
    return list(dict.fromkeys(numbers))


def without_markers(text: str) -> str:
    """The text with its inline [n] markers removed: what it says, whoever numbered the passages."""
    return " ".join(_MARKER.sub("", text).split()).replace(" .", ".").replace(" ,", ",")


def citation(number: int, hit: Hit, quote: str | None = None, score: float | None = None) -> Citation:
    """Citation `number` of `hit`'s passage, quoting all of it unless `quote` says which part, scored by the search
    unless `score` says how well the quote itself matched."""
    return Citation(
        number=number,
        document_id=hit.document.id,
        source=hit.document.source,
        location=hit.chunk.location,
        quote=hit.chunk.text if quote is None else quote,
        score=hit.score if score is None else score,
        ordinal=hit.chunk.ordinal,
        passage=hit.chunk.text,
    )


# What may separate two words of a quote in its passage: the quote joined lines and dropped list (`-`, `1.`), heading
# and table markers, heading underlines and bold `**` (see `extractive`).
_GAP = r"(?:[\s*#|+\-=~^]|\d+[.)](?=\s))+"


def quote_span(passage: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` sits in `passage` as (start, end) offsets, or None when it is not there.

    Words must follow each other as in the quote; line breaks, list and table markers and bold markers between or
    around them do not count, since an extracted quote drops them.
    """
    kept = [index for index, character in enumerate(passage) if character != "*"]
    stripped = "".join(passage[index] for index in kept)
    words = quote.replace("*", "").split()
    found = re.search(_GAP.join(re.escape(word) for word in words), stripped) if words else None
    return (kept[found.start()], kept[found.end() - 1] + 1) if found else None


def renumber(answer: str, numbers: Sequence[int]) -> str:
    """Rewrite inline markers so that the passages `numbers` lists read [1], [2], ... in that order."""
    mapping = {old: new for new, old in enumerate(numbers, start=1)}
    return _MARKER.sub(lambda m: f"[{mapping.get(int(m.group(1)), int(m.group(1)))}]", answer)


def retry_config(attempt: int) -> dict:
    """Call settings for attempt `attempt` (0 first): a retry gets a fresh rollout so a cached reply is not reused."""
    return {"rollout_id": attempt, "temperature": 1.0} if attempt else {}
