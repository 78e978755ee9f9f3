"""`KnowledgeAgent`: grounded answers over a space, with numbered citations that are checked before returning."""

from __future__ import annotations

from collections.abc import Sequence

import dspy

from lmspace_core.agents.base import BaseAgent
from lmspace_core.agents.citations import cited_numbers, citation, format_passage, renumber
from lmspace_core.agents.extractive import extract_answer, not_found
from lmspace_core.agents.signatures import AnswerWithCitations
from lmspace_core.domain import Answer, AnswerMode, Hit, SearchFilter, Space, Turn
from lmspace_core.errors import ModelError

# One retry: a model that cites nothing or invents passage numbers twice in a row does not know the answer.
ATTEMPTS = 2


class KnowledgeAgent(BaseAgent):
    """Retrieve the space's best passages, then answer with `ChainOfThought(AnswerWithCitations)`.

    An answer must cite at least one passage and only passages that exist; otherwise it is asked once more and then
    reported as "not found in this space". Without a language model the answer is the best-matching sentences.
    """

    def __init__(self, source) -> None:
        super().__init__(source)
        self.respond = dspy.ChainOfThought(AnswerWithCitations)

    def query(
        self,
        question: str,
        space: str | Space | None = None,
        history: Sequence[Turn] = (),
        search_filter: SearchFilter = SearchFilter(),
    ) -> Answer:
        """Answer `question` from the space (default space when None), given the conversation so far."""
        target = self.space(space)
        hits = self.retrieve(target, question, search_filter)
        return self(question=question, hits=hits, space=target, history=history)

    def forward(self, question: str, hits: Sequence[Hit], space: Space, history: Sequence[Turn] = ()) -> Answer:
        lm = self.workspace.lm
        if lm is None:
            return extract_answer(question, hits, self.workspace.embedder, space.id)
        if not hits:
            return not_found(question, space.id)
        passages = [format_passage(number, hit) for number, hit in enumerate(hits, start=1)]
        inputs = dict(
            space_instructions=space.instructions or "(none)",
            history=dspy.History(messages=[{"question": t.question, "answer": t.answer} for t in history]),
            passages=passages,
            question=question,
        )
        for attempt in range(ATTEMPTS):
            prediction = self._predict(lm, inputs, attempt)
            if prediction is None:
                continue
            numbers = cited_numbers(prediction.answer, prediction.cited)
            if numbers and all(1 <= n <= len(hits) for n in numbers):
                citations = tuple(citation(new, hits[old - 1]) for new, old in enumerate(numbers, start=1))
                text = renumber(prediction.answer, numbers)
                return Answer(question, text, AnswerMode.GENERATED, citations, space.id)
        return not_found(question, space.id)

    def _predict(self, lm, inputs: dict, attempt: int) -> dspy.Prediction | None:
        """One model call; None when the reply cannot be parsed (counts as a failed attempt)."""
        # A fresh rollout id on retries, so a cached reply is not simply served again.
        config = {"rollout_id": attempt, "temperature": 1.0} if attempt else {}
        try:
            with dspy.context(lm=lm):
                return self.respond(**inputs, config=config)
        except dspy.utils.exceptions.AdapterParseError:
            return None
        except Exception as error:  # network, auth, quota: translated at the boundary for the user
            raise ModelError(f"The language model call failed: {error}") from error
