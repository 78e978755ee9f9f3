"""`KnowledgeAgent`: grounded answers over a space, with numbered citations that are checked before returning."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import dspy
from dspy.streaming import StreamListener, StreamResponse
from dspy.utils.exceptions import AdapterParseError

from lmspace_core.agents.base import BaseAgent
from lmspace_core.agents.citations import cited_numbers, citation, format_passage, renumber, retry_config
from lmspace_core.agents.extractive import extract_answer, not_found
from lmspace_core.agents.programs import KNOWLEDGE, compiled, program_path
from lmspace_core.agents.signatures import AnswerWithCitations
from lmspace_core.domain import Answer, AnswerMode, Hit, SearchFilter, Space, Turn
from lmspace_core.errors import ModelError
from lmspace_core.lm import model_call_failed

if TYPE_CHECKING:
    from lmspace_core.agents.optimize import OptimizationReport
    from lmspace_core.examples import SpaceExample

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

    def stream_query(
        self,
        question: str,
        space: str | Space | None = None,
        history: Sequence[Turn] = (),
        search_filter: SearchFilter = SearchFilter(),
    ) -> Iterator[str | Answer]:
        """Like `query`, but yields the answer text as the model writes it, then the checked `Answer` last.

        The streamed text is provisional: if its citations fail the check, the final `Answer` is the retry's or
        "not found", and a caller shows that instead.
        """
        target = self.space(space)
        hits = self.retrieve(target, question, search_filter)
        yield from self._answers(question, hits, target, history, stream=True)

    def add_example(self, question: str, answer: str, space: str | Space | None = None) -> SpaceExample:
        """Record the answer the agent should give to `question` in the space: what `optimize` learns from."""
        from lmspace_core.examples import open_examples

        with open_examples(self.workspace.settings) as store:
            return store.add(self.space(space).scope, question, answer)

    def optimize(self, space: str | Space | None = None, program: str = KNOWLEDGE, **options) -> OptimizationReport:
        """Compile the space's answering program (or `program="planner"`: its research planner) on its examples;
        the space uses it from then on if it scores as well. Options: `optimizer`, `force`, `progress`
        (`lmspace_core.agents.optimize.optimize`)."""
        from lmspace_core.agents.optimize import optimize

        return optimize(self, self.space(space), program, **options)

    def responder(self, space: Space) -> dspy.Module:
        """The answering module for `space`: the program `lmspace optimize` compiled for it, else `respond`."""
        return compiled(self.respond, program_path(self.workspace.settings.data_dir, space, KNOWLEDGE))

    def forward(self, question: str, hits: Sequence[Hit], space: Space, history: Sequence[Turn] = ()) -> Answer:
        *_, answer = self._answers(question, hits, space, history, stream=False)
        return answer

    def _answers(
        self, question: str, hits: Sequence[Hit], space: Space, history: Sequence[Turn], stream: bool
    ) -> Iterator[str | Answer]:
        """The streamed text, then the answer, marked as possibly stale when its passages came from the local cache
        of a space (Azure unreachable)."""
        cached_at = min((hit.cached_at for hit in hits if hit.cached_at is not None), default=None)
        for part in self._answer_parts(question, hits, space, history, stream):
            yield replace(part, cached_at=cached_at) if isinstance(part, Answer) and cached_at else part

    def _answer_parts(
        self, question: str, hits: Sequence[Hit], space: Space, history: Sequence[Turn], stream: bool
    ) -> Iterator[str | Answer]:
        lm = self.language_model(space)
        if lm is None:
            yield extract_answer(question, hits, self.workspace.embedder, space.id)
            return
        if not hits:
            yield not_found(question, space.id)
            return
        inputs = answer_inputs(space, question, hits, history)
        respond = self.responder(space)
        for attempt in range(ATTEMPTS):
            if stream and attempt == 0:
                prediction = yield from self._stream_prediction(respond, lm, inputs)
            else:
                prediction = self._prediction(respond, lm, inputs, attempt)
            if prediction is None:
                continue
            # Passages are numbered by relevance: in the order the search ranked them, whatever order they are used.
            numbers = sorted(cited_numbers(prediction.answer, prediction.cited))
            if numbers and all(1 <= n <= len(hits) for n in numbers):
                citations = tuple(citation(new, hits[old - 1]) for new, old in enumerate(numbers, start=1))
                yield Answer(question, renumber(prediction.answer, numbers), AnswerMode.GENERATED, citations, space.id)
                return
        yield not_found(question, space.id)

    @staticmethod
    def _prediction(respond: dspy.Module, lm, inputs: dict, attempt: int) -> dspy.Prediction | None:
        """One model call; None when the reply cannot be parsed (counts as a failed attempt)."""
        config = retry_config(attempt)
        with model_errors(), dspy.context(lm=lm):
            try:
                return respond(**inputs, config=config)
            except AdapterParseError:
                return None

    @staticmethod
    def _stream_prediction(respond: dspy.Module, lm, inputs: dict) -> Iterator[str]:
        """Yield the answer field's text as it streams; return the final prediction (None if unparsable)."""
        listener = StreamListener(signature_field_name="answer")
        streaming = dspy.streamify(respond, stream_listeners=[listener], async_streaming=False)
        prediction = None
        with model_errors(), dspy.context(lm=lm):
            try:
                for chunk in streaming(**inputs):
                    if isinstance(chunk, StreamResponse):
                        yield chunk.chunk
                    elif isinstance(chunk, dspy.Prediction):
                        prediction = chunk
            except AdapterParseError:
                return None
        return prediction


def answer_inputs(space: Space, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> dict:
    """What the `AnswerWithCitations` program reads: the same when answering and when it is being optimised."""
    return dict(
        space_instructions=space.instructions or "(none)",
        history=dspy.History(messages=[{"question": t.question, "answer": t.answer} for t in history]),
        passages=[format_passage(number, hit) for number, hit in enumerate(hits, start=1)],
        question=question,
    )


@contextmanager
def model_errors() -> Iterator[None]:
    """Translate failures of the model call (network, auth, quota) into a `ModelError` the user can read."""
    try:
        yield
    except (AdapterParseError, ModelError):
        raise
    except Exception as error:
        raise model_call_failed(error) from error
