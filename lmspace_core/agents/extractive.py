"""Answers without a language model: the sentences of the retrieved passages that best match the question.

This is what a space answers when no model is configured. It is labelled as extracted text everywhere it is shown,
so nobody mistakes it for a generated answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from lmspace_core.agents.citations import citation
from lmspace_core.agents.relevance import answerable
from lmspace_core.domain import Answer, AnswerMode, Hit
from lmspace_core.embeddings.base import Embedder

EXTRACTED_LABEL = "Extracted passages (no language model is configured; these are the best-matching sentences, cited):"
NOT_FOUND_TEXT = "Not found in this space: none of its passages answer this question."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_STANDALONE_LINE = re.compile(r"^(#|\|)")  # a markdown heading or a table row
_LIST_ITEM = re.compile(r"^([-*+]|\d+[.)]) ")  # its marker is not quoted; indented lines below it continue it
_UNDERLINE = re.compile(r"^[=\-~^]{3,}$")  # what underlines a heading in plain text and reST (or a rule): dropped
_EMPHASIS = re.compile(r"\*\*")  # bold markers (not `__`: `__init__.py` must stay as written)
# Markup around a piece: bullets, `#`s and table pipes, standing apart from the text. Symbols touching a word are
# part of it: `GPL-2+` is another licence than `GPL-2`, `--force` an option, `C++` a language.
_MARKUP = re.compile(r"^(?:[-*+#|]+\s+)+|(?:\s+[-*+#|]+)+$|^[-*+#|]+$")


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of a passage, where list items and table rows each stand alone, without its headings.

    Headings are left out: a heading quoted as an answer ("Record Classes and Retention Periods") says nothing, and
    the citation's location already names it. An underlined heading (`6.11 Bash POSIX Mode` over `====`) is the text
    above its underline. A list item keeps its wrapped lines but not its marker (`1. Bash will` read as a sentence
    ending in `1.` before).
    """
    paragraphs: list[str] = []
    # In a Debian copyright or control file a line holding only " ." is an empty line inside a field.
    for block in re.split(r"\n\s*\n|\n[ \t]+\.[ \t]*(?=\n|$)", text):
        running: list[str] = []
        for line in (line.strip() for line in block.splitlines()):
            item, standalone, underline = _LIST_ITEM.match(line), _STANDALONE_LINE.match(line), _UNDERLINE.match(line)
            if item or standalone or underline:  # each ends the paragraph above it, which an underline makes a heading
                paragraphs.extend(([] if underline else [" ".join(running)])
                                  + ([line] if standalone and not line.startswith("#") else []))
                running = [line[item.end():]] if item else []
            elif line:
                running.append(line)
        paragraphs.append(" ".join(running))
    return [paragraph for paragraph in paragraphs if paragraph]


def _pieces(text: str) -> list[str]:
    """Every sentence-like piece of a passage in order, stripped of markup, short ones included."""
    pieces = (
        _MARKUP.sub("", _EMPHASIS.sub("", piece).strip())
        for paragraph in _paragraphs(text)
        for piece in _SENTENCE_END.split(paragraph)
    )
    return [piece for piece in pieces if piece]


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage that can answer something on their own (at least four words).

    A sentence that leads into what follows it ("Add yourself to this group:") is joined with the next piece, so the
    value it introduces ("dialout") is quoted with it instead of being cut off.
    """
    pieces = _pieces(text)
    sentences = []
    for index, piece in enumerate(pieces):
        if len(piece.split()) < 4:
            continue
        if piece.endswith(":") and index + 1 < len(pieces):
            piece = f"{piece} {pieces[index + 1]}"
        sentences.append(piece)
    return sentences


def not_found(question: str, space_id: str) -> Answer:
    return Answer(question=question, text=NOT_FOUND_TEXT, mode=AnswerMode.NOT_FOUND, citations=(), space_id=space_id)


def extract_answer(
    question: str, hits: Sequence[Hit], embedder: Embedder, space_id: str, max_sentences: int = 3
) -> Answer:
    """The `max_sentences` sentences of `hits` closest to the question, each cited to its passage; "not found" when
    the passages are not about the question (`relevance.answerable`)."""
    if not answerable(question, hits):
        return not_found(question, space_id)
    seen: set[str] = set()
    candidates = []
    for hit in hits:  # best passage first, so a sentence two overlapping passages share is cited to the better one
        for sentence in split_sentences(hit.chunk.text):
            if (key := " ".join(sentence.split()).casefold()) not in seen:
                seen.add(key)
                candidates.append((hit, sentence))
    if not candidates:
        candidates = [(hit, hit.chunk.text.strip()) for hit in hits[:max_sentences]]
    vectors = embedder.embed([question] + [sentence for _, sentence in candidates])
    scores = vectors[1:] @ vectors[0]
    chosen = np.argsort(-scores, kind="stable")[:max_sentences]
    citations = tuple(  # most relevant first: each numbered and scored by its own similarity to the question
        citation(number, candidates[i][0], quote=candidates[i][1], score=float(scores[i]))
        for number, i in enumerate(chosen, start=1)
    )
    lines = [EXTRACTED_LABEL] + [
        f"[{c.number}] “{c.quote}” — {c.source}" + (f" ({c.location.describe()})" if c.location.describe() else "")
        for c in citations
    ]
    return Answer(question, "\n".join(lines), AnswerMode.EXTRACTED, citations, space_id)
