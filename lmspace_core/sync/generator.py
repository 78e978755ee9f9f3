"""Training examples written by the language model: one question/answer pair grounded in each passage.

The model is asked for a question the passage answers and an answer using only the passage; a pair whose answer
is not supported by the passage (too few of its words occur there) is dropped rather than trained on.
"""

from __future__ import annotations

import re

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmspace_core.domain import Chunk, Document
from lmspace_core.sync.model import Example
from lmspace_core.sync.structure import MIN_ANSWER_CHARS, passage_text

SUPPORT_THRESHOLD = 0.6  # share of the answer's content words that must occur in the passage
_WORD = re.compile(r"[a-z0-9]{3,}")


class WriteGroundedPair(dspy.Signature):
    """Write one question a reader of this passage could ask, and answer it using only the passage.

    The answer must be fully supported by the passage: no outside knowledge, no guesses.
    """

    space_instructions: str = dspy.InputField(desc="standing instructions of the space the passage belongs to")
    passage: str = dspy.InputField()
    question: str = dspy.OutputField(desc="a specific question the passage answers")
    answer: str = dspy.OutputField(desc="the answer, only from the passage")


def supported(answer: str, passage: str) -> bool:
    """Whether enough of the answer's content words occur in the passage for it to count as grounded."""
    words = set(_WORD.findall(answer.lower()))
    if not words:
        return False
    return len(words & set(_WORD.findall(passage.lower()))) / len(words) >= SUPPORT_THRESHOLD


class GroundedPairWriter(dspy.Module):
    """`forward(document, chunk, instructions)` -> the model's grounded example for the chunk, or none."""

    def __init__(self) -> None:
        super().__init__()
        self.write = dspy.Predict(WriteGroundedPair)

    def forward(self, document: Document, chunk: Chunk, instructions: str) -> list[Example]:
        passage = passage_text(document, chunk)
        try:
            pair = self.write(space_instructions=instructions or "(none)", passage=passage)
        except AdapterParseError:
            return []
        question, answer = (pair.question or "").strip(), (pair.answer or "").strip()
        if not question or len(answer) < MIN_ANSWER_CHARS or not supported(answer, chunk.text):
            return []
        return [Example(question, answer, passage, document.id, document.source, "model")]
