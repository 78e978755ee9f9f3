"""Evaluate, then switch: a deployed fine-tuned model against the model the space uses now, on held-out questions.

The questions are the space's own: its saved examples (written, or answers approved in the chat) first, then the
validation split of the job's dataset, which the model was not trained on. Both models get each question as the
fine-tuning data asked it (the dataset's system message, then the question) and are scored against the reference
answer without a judge model: 1 when the reply contains the whole reference answer (normalised as SQuAD does: case,
punctuation, articles), otherwise the token F1 of the two (the answer metric of prompt optimisation). A correct
answer wrapped in a longer reply is thus not penalised for its wrapping, and a vague one earns only the words it
shares with the reference.

The space's current model is its active fine-tuned deployment on the new model's backend (an Azure ML model is
compared with the deployment the space's endpoint serves it with, both asked through that endpoint), else, for an
Azure OpenAI model, the configured `lm.deployment` when the space's language model is Azure OpenAI (the agent reaches
a fine-tuned deployment through that same resource); with neither there is nothing to compare with, and the new
model's score is recorded alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lmspace_core.config import Settings
from lmspace_core.domain import Scope
from lmspace_core.errors import LMSpaceError
from lmspace_core.examples import SpaceExample, open_examples
from lmspace_core.sync.model import Dataset, ModelVersion

Chat = Callable[[str, list[dict[str, str]]], str]  # (deployment, messages) -> the reply's text


@dataclass(frozen=True)
class HeldOut:
    """A question the new model was not trained on, with the answer the space expects."""

    question: str
    answer: str
    origin: str  # "saved" (the space's examples) or "validation" (the dataset's validation split)


@dataclass(frozen=True)
class Evaluation:
    """Both models' mean scores on the same held-out questions (`score_before` is None with no current model)."""

    deployment: str
    current: str | None
    questions: int
    score_before: float | None
    score_after: float

    @property
    def summary(self) -> str:
        before = f"{self.score_before:.3f} for {self.current}" if self.current else "no current model to compare"
        return f"scored {self.score_after:.3f} for {self.deployment}, {before}, on {self.questions} held-out questions"


def saved_examples(settings: Settings, dataset: Dataset) -> list[SpaceExample]:
    """The examples saved in the dataset's space (from chat, or written), which a model was not trained on."""
    with open_examples(settings) as store:
        return store.list(Scope(dataset.enterprise_id, dataset.space_id))


def held_out(dataset: Dataset, saved: Sequence[SpaceExample], limit: int) -> list[HeldOut]:
    """Up to `limit` questions: the saved examples, then the validation split; each question once."""
    candidates = [HeldOut(e.question, e.answer, "saved") for e in saved]
    candidates += [HeldOut(e.question, e.answer, "validation") for e in dataset.validation]
    chosen: dict[str, HeldOut] = {}
    for example in candidates:
        chosen.setdefault(" ".join(example.question.lower().split()), example)
    return list(chosen.values())[:limit]


def answer_match(reply: str, reference: str) -> float:
    """1 when the reply contains the whole reference answer, otherwise their token F1 (see the module docstring)."""
    from dspy.evaluate.metrics import normalize_text

    from lmspace_core.agents.optimize import answer_f1

    if f" {normalize_text(reference)} " in f" {normalize_text(reply)} ":
        return 1.0
    return answer_f1(reply, reference)


def score(chat: Chat, deployment: str, system: str, examples: Sequence[HeldOut]) -> float:
    """The mean `answer_match` of a deployment's replies over the examples."""
    total = 0.0
    for example in examples:
        reply = chat(deployment, [{"role": "system", "content": system}, {"role": "user", "content": example.question}])
        total += answer_match(reply, example.answer)
    return total / len(examples)


def current_deployment(active: ModelVersion | None, settings: Settings, backend: str) -> str | None:
    """The deployment on `backend` answering in the space now (see the module docstring), or None."""
    if active is not None and active.kind == "deployment" and active.backend == backend:
        return active.reference
    return settings.lm.deployment if backend == "azure_openai" and settings.lm.provider == "azure_openai" else None


def evaluate_deployment(chat: Chat, deployment: str, dataset: Dataset, active: ModelVersion | None,
                        settings: Settings, report: Callable[[str], None], *, backend: str) -> Evaluation:
    """Score the new deployment of a `backend` model and the space's current model on the space's held-out
    questions."""
    examples = held_out(dataset, saved_examples(settings, dataset), settings.sync.evaluation_examples)
    if not examples:
        raise LMSpaceError(f"Dataset {dataset.id} has no validation examples and the space no saved examples: "
                           "there is nothing to evaluate the new model on.")
    current = current_deployment(active, settings, backend)
    from_chat = sum(e.origin == "saved" for e in examples)
    report(f"evaluating {deployment} against {current or f'nothing (no current {backend} model)'} on "
           f"{len(examples)} held-out questions ({from_chat} saved examples, {len(examples) - from_chat} validation)")
    after = score(chat, deployment, dataset.system, examples)
    before = score(chat, current, dataset.system, examples) if current else None
    evaluation = Evaluation(deployment, current, len(examples), before, after)
    report(evaluation.summary)
    return evaluation
