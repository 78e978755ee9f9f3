"""Prompt optimisation: compile a space's answering program with DSPy on the space's examples, and keep it.

The metric, `answer_score`, picks the demos the optimiser keeps and is reported before and after:
- 0 when the answer cites no passage, or a passage number that does not exist: the agent refuses such an answer
  ("not found in this space"), so it is worth nothing whatever it says;
- otherwise the token F1 between the answer and the example's answer, both without their [n] markers and
  normalised as SQuAD does (case, punctuation, articles): how much of the expected answer it says, and how little
  else.
About a quarter of the examples (at least one) are held out, chosen by a hash of the question: the score after
optimisation is measured on questions the optimiser never saw, and each example stays on its side when more are
added. Demos are only bootstrapped ones (answers the model itself gave that reached `PASS`), never the raw examples:
a written example cites nothing, and an agent taught to answer without citations has its answers refused.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum

import dspy
from dspy.evaluate.metrics import f1_score
from dspy.teleprompt import BootstrapFewShot, MIPROv2
from dspy.utils.exceptions import AdapterParseError

from lmspace_core.agents.citations import cited_numbers, without_markers
from lmspace_core.agents.knowledge import KnowledgeAgent, answer_inputs, model_errors
from lmspace_core.agents.programs import KNOWLEDGE, program_path, remove_program, save_program
from lmspace_core.domain import Progress, ProgressCallback, Space, ignore_progress
from lmspace_core.errors import LMSpaceError, ModelError
from lmspace_core.examples import SpaceExample, open_examples

MIN_EXAMPLES = 4  # three to learn from and one to measure on
MIPRO_MIN_TRAIN = 20  # MIPROv2 proposes instructions and keeps 80% of what it gets to judge them: it needs data
HELD_OUT_SHARE = 0.25
PASS = 0.5  # the answer score a bootstrapped demo must reach
MAX_DEMOS = 4
_INPUTS = ("space_instructions", "history", "passages", "question")


class Optimizer(StrEnum):
    AUTO = "auto"  # MIPROv2 from MIPRO_MIN_TRAIN training examples on, BootstrapFewShot below
    BOOTSTRAP = "bootstrap"
    MIPRO = "mipro"


@dataclass(frozen=True)
class OptimizationReport:
    """What an optimisation run did: the scores on the held-out examples, and whether the space now uses it."""

    space_id: str
    program: str
    optimizer: str
    train_examples: int
    held_out_examples: int
    score_before: float
    score_after: float
    demos: int
    saved: bool
    message: str


def answer_score(example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float:
    """The metric described in the module docstring, in [0, 1]."""
    numbers = cited_numbers(prediction.answer or "", prediction.cited)
    if not numbers or not all(1 <= n <= len(example.passages) for n in numbers):
        return 0.0
    return float(f1_score(without_markers(prediction.answer), without_markers(example.answer)))


def split_held_out(examples: list[SpaceExample]) -> tuple[list[SpaceExample], list[SpaceExample]]:
    """(training, held out): the held-out quarter (at least one) is the examples whose question hashes lowest."""
    ranked = sorted(examples, key=lambda e: hashlib.sha256(e.question.encode()).hexdigest())
    cut = max(1, math.floor(len(ranked) * HELD_OUT_SHARE))
    return ranked[cut:], ranked[:cut]


def score(program: dspy.Module, examples: list[dspy.Example], lm: dspy.BaseLM) -> float:
    """Mean `answer_score` of `program` over `examples`; an unparsable reply scores 0."""
    total = 0.0
    with model_errors(), dspy.context(lm=lm):
        for example in examples:
            try:
                total += answer_score(example, program(**example.inputs()))
            except AdapterParseError:
                continue
    return total / len(examples)


def optimize_knowledge(
    agent: KnowledgeAgent,
    space: Space,
    optimizer: Optimizer = Optimizer.AUTO,
    force: bool = False,
    progress: ProgressCallback = ignore_progress,
) -> OptimizationReport:
    """Compile the space's answering program on its examples; save it if it scores at least as well as the current.

    `force` saves it whatever it scores (but a program that learnt nothing, no demo and no instruction, is never
    saved).
    Raises `ModelError` without a language model and `LMSpaceError` with fewer than `MIN_EXAMPLES` examples.
    """
    lm = agent.workspace.lm
    if lm is None:
        raise ModelError("Prompt optimisation needs a language model: set lm.provider (and lm.model) in "
                         "lmspace.yaml; `lmspace config check` shows what is configured.")
    with open_examples(agent.workspace.settings) as store:
        examples = store.list(space.scope)
    if len(examples) < MIN_EXAMPLES:
        raise LMSpaceError(
            f"Space '{space.name}' has {len(examples)} example(s); optimisation needs at least {MIN_EXAMPLES}. "
            f"Add some with `lmspace examples add {space.name} QUESTION ANSWER`, or give a thumbs-up to good "
            "answers in the dashboard's Chat."
        )
    train, held_out = (_training_examples(agent, space, part, progress) for part in split_held_out(examples))
    chosen = optimizer
    if chosen is Optimizer.AUTO:
        chosen = Optimizer.MIPRO if len(train) >= MIPRO_MIN_TRAIN else Optimizer.BOOTSTRAP

    progress(Progress("score before", 0, 3))
    before = score(agent.responder(space), held_out, lm)
    progress(Progress("compile", 1, 3, message=chosen.value))
    with model_errors(), dspy.context(lm=lm):
        teleprompter = _teleprompter(chosen)  # MIPROv2 reads the model from the context when it is built
        program = teleprompter.compile(agent.respond, trainset=train)
    demos = sum(len(predictor.demos) for predictor in program.predictors())
    learnt = demos > 0 or _instructions(program) != _instructions(agent.respond)
    progress(Progress("score after", 2, 3))
    after = score(program, held_out, lm)
    progress(Progress("score after", 3, 3, message="done"))

    saved = learnt and (after >= before or force)
    if saved:
        save_program(program, program_path(agent.workspace.settings.data_dir, space, KNOWLEDGE))
    return OptimizationReport(
        space_id=space.id, program=KNOWLEDGE, optimizer=type(teleprompter).__name__,
        train_examples=len(train), held_out_examples=len(held_out), score_before=before, score_after=after,
        demos=demos, saved=saved, message=_outcome(space, learnt, before, after, saved),
    )


def reset_knowledge(agent: KnowledgeAgent, space: Space) -> bool:
    """Make the space answer with the uncompiled program again; False when it had no compiled one."""
    return remove_program(program_path(agent.workspace.settings.data_dir, space, KNOWLEDGE))


def _training_examples(agent: KnowledgeAgent, space: Space, examples: list[SpaceExample],
                       progress: ProgressCallback) -> list[dspy.Example]:
    """Each example with the passages the agent retrieves for its question today, as the program will see them."""
    prepared = []
    for number, example in enumerate(examples):
        progress(Progress("retrieve", number, len(examples), item=example.question))
        hits = agent.retrieve(space, example.question)
        inputs = answer_inputs(space, example.question, hits)
        prepared.append(dspy.Example(**inputs, answer=example.answer).with_inputs(*_INPUTS))
    return prepared


def _teleprompter(optimizer: Optimizer) -> BootstrapFewShot | MIPROv2:
    if optimizer is Optimizer.MIPRO:
        return MIPROv2(metric=answer_score, metric_threshold=PASS, auto="light", max_bootstrapped_demos=MAX_DEMOS,
                       max_labeled_demos=0, num_threads=1)
    return BootstrapFewShot(metric=answer_score, metric_threshold=PASS, max_bootstrapped_demos=MAX_DEMOS,
                            max_labeled_demos=0)


def _instructions(program: dspy.Module) -> list[str]:
    return [predictor.signature.instructions for predictor in program.predictors()]


def _outcome(space: Space, learnt: bool, before: float, after: float, saved: bool) -> str:
    if saved:
        return (f"Saved: space '{space.name}' answers with the compiled program from now on "
                f"(`lmspace optimize {space.name} --reset` goes back).")
    if not learnt:
        return (f"Not saved: no answer on the training examples reached the pass mark ({PASS}), so there was "
                "nothing to learn from; check the examples' answers against what the space's documents say.")
    return (f"Not saved: it scored {after:.3f} on the held-out examples against {before:.3f} for the current "
            "program (`--force` saves it anyway).")
