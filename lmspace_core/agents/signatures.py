"""Every DSPy signature LMSpace uses, in one place, so prompts are reviewed and versioned together."""

from __future__ import annotations

import dspy


class AnswerWithCitations(dspy.Signature):
    """Answer the question using only the numbered passages from the knowledge space.

    Follow the space instructions. Support every statement with the numbers of the passages it comes from, written
    inline like [1] or [2][3]. Never cite a number that is not in the passages. If the passages do not contain the
    answer, say that the space does not contain it and cite nothing.
    """

    space_instructions: str = dspy.InputField(desc="standing instructions of this space; always follow them")
    history: dspy.History = dspy.InputField(desc="earlier questions and answers of this conversation")
    passages: list[str] = dspy.InputField(desc="numbered passages, each '[n] source (location): text'")
    question: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="the answer, with [n] citations inline")
    cited: list[int] = dspy.OutputField(desc="the passage numbers the answer relies on")
