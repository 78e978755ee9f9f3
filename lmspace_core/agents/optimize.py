"""Prompt optimisation: compile a space's DSPy programs on the space's examples, and keep what scores as well.

Two programs are compiled per space: `KnowledgeAgent`'s answering program, on question/answer examples, and the
research planner, on research examples (a task and the plan that answers it). About a quarter of the examples (at
least one) are held out, chosen by a hash of the question or task: the score after optimisation is measured on
examples the optimiser never saw, and each example stays on its side when more are added. Demos are only
bootstrapped ones (the model's own outputs that reached `PASS`), never the raw examples: a written answer cites
nothing, and an agent taught to answer without citations has its answers refused.

`answer_score`: 0 when the answer cites no passage, or a passage number that does not exist (the agent refuses such
an answer as "not found in this space"); otherwise the token F1 between the answer and the example's answer, both
without their [n] markers and normalised as SQuAD does (case, punctuation, articles).

`plan_score`: the mean of three checks against the example's plan: the same strategy; the same target (for a pattern
plan the same kind and name or regex, for the others a question at all); and the overlap (Jaccard) of the files the
two plans select in the space's code. A plan that cannot be used scores 0.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

import dspy
from dspy.evaluate.metrics import f1_score
from dspy.teleprompt import BootstrapFewShot, MIPROv2
from dspy.utils.exceptions import AdapterParseError

from lmspace_core.agents.citations import cited_numbers, without_markers
from lmspace_core.agents.knowledge import KnowledgeAgent, answer_inputs, model_errors
from lmspace_core.agents.programs import KNOWLEDGE, PLANNER, program_path, remove_program, save_program
from lmspace_core.agents.research.planner import ResearchPlanner, plan_from
from lmspace_core.agents.research.researcher import CodebaseResearcher
from lmspace_core.domain import Progress, ProgressCallback, Space, ignore_progress
from lmspace_core.errors import LMSpaceError, ModelError
from lmspace_core.examples import ExampleStore, SpaceExample, open_examples
from lmspace_core.research.codebase import Codebase, describe, select_files
from lmspace_core.research.plan import ResearchPlan, Strategy

MIN_EXAMPLES = 4  # three to learn from and one to measure on
MIPRO_MIN_TRAIN = 20  # MIPROv2 proposes instructions and keeps 80% of what it gets to judge them: it needs data
HELD_OUT_SHARE = 0.25
PASS = 0.5  # the score a bootstrapped demo must reach
MAX_DEMOS = 4
_ANSWER_INPUTS = ("space_instructions", "history", "passages", "question")
Metric = Callable[[dspy.Example, dspy.Prediction], float]
_HOW_TO_ADD = {
    KNOWLEDGE: "lmspace examples add {space} QUESTION ANSWER`, or give a thumbs-up to good answers in the dashboard's "
               "Chat",
    PLANNER: "lmspace examples add-plan {space} PLAN.json` (a plan from `lmspace research {space} TASK --plan-only "
             "--json`, corrected)",
}


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


@dataclass(frozen=True)
class CompiledProgram:
    """A program compiled on a space's training examples, and its report (not saved yet, so `saved` is False).

    `learnt` is False when compiling changed nothing (no demo passed, no instruction changed).
    """

    module: dspy.Module
    learnt: bool
    report: OptimizationReport


def answer_score(example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float:
    """The answer metric described in the module docstring, in [0, 1]."""
    numbers = cited_numbers(prediction.answer or "", prediction.cited)
    if not numbers or not all(1 <= n <= len(example.passages) for n in numbers):
        return 0.0
    return answer_f1(prediction.answer, example.answer)


def answer_f1(answer: str, reference: str) -> float:
    """The token F1 of an answer against the reference, both without [n] markers, normalised as SQuAD does."""
    return float(f1_score(without_markers(answer), without_markers(reference)))


def plan_score(codebase: Codebase, example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float:
    """The plan metric described in the module docstring, in [0, 1]."""
    expected = ResearchPlan.from_json(example.plan)
    try:
        plan = plan_from(example.task, prediction)
    except (LMSpaceError, ValueError):
        return 0.0
    chosen, wanted = ({f.path for f in select_files(codebase, p.files)} for p in (plan, expected))
    overlap = len(chosen & wanted) / len(chosen | wanted) if chosen | wanted else 1.0
    return (float(plan.strategy is expected.strategy) + float(_target(plan) == _target(expected)) + overlap) / 3


def split_held_out[E](examples: Sequence[E], key: Callable[[E], str]) -> tuple[list[E], list[E]]:
    """(training, held out): the held-out quarter (at least one) is the examples whose key hashes lowest."""
    ranked = sorted(examples, key=lambda e: hashlib.sha256(key(e).encode()).hexdigest())
    cut = max(1, math.floor(len(ranked) * HELD_OUT_SHARE))
    return ranked[cut:], ranked[:cut]


def score(program: dspy.Module, examples: list[dspy.Example], lm: dspy.BaseLM, metric: Metric) -> float:
    """Mean `metric` of `program` over `examples`; an unparsable reply scores 0."""
    total = 0.0
    with model_errors(), dspy.context(lm=lm):
        for example in examples:
            try:
                total += metric(example, program(**example.inputs()))
            except AdapterParseError:
                continue
    return total / len(examples)


def optimize(
    agent: KnowledgeAgent,
    space: Space,
    program: str = KNOWLEDGE,
    optimizer: Optimizer | str = Optimizer.AUTO,
    force: bool = False,
    progress: ProgressCallback = ignore_progress,
) -> OptimizationReport:
    """Compile one of the space's programs (`KNOWLEDGE`: answers, `PLANNER`: research plans) on its examples; save it
    if it learnt something and scores at least as well as the current one on the held-out examples (`force`: whatever
    it scores).

    Raises `ModelError` without a language model, `LMSpaceError` with fewer than `MIN_EXAMPLES` examples, and
    `NotFoundError` for the planner of a space that holds no code.
    """
    result = compile_program(agent, space, program, optimizer, progress)
    report = result.report
    saved = result.learnt and (report.score_after >= report.score_before or force)
    if saved:
        save_program(result.module, program_path(agent.workspace.settings.data_dir, space, program))
    return replace(report, saved=saved,
                   message=_outcome(space, program, result.learnt, report.score_before, report.score_after, saved))


def compile_program(
    agent: KnowledgeAgent,
    space: Space,
    program: str = KNOWLEDGE,
    optimizer: Optimizer | str = Optimizer.AUTO,
    progress: ProgressCallback = ignore_progress,
    on_trial: Callable[[float], None] = lambda score: None,
) -> CompiledProgram:
    """Compile one of the space's programs on its training examples and score it and the program in use on the
    held-out ones; save nothing (`optimize` and the `prompt` sync decide what to keep).

    `on_trial` receives the metric's score of every trial the optimiser runs. To stop a run, raise from `on_trial`
    or `progress` something that is not an `Exception`: DSPy's optimisers count an `Exception` raised by a metric as
    a failed trial and go on. Raises as `optimize` does.
    """
    prepare = _prepare(program)
    optimizer = _optimizer(optimizer)
    lm = _model(agent)
    with open_examples(agent.workspace.settings) as store:
        run = prepare(agent, space, store, progress)
    return _compile(space, program, run, lm, optimizer, progress, on_trial)


def check_ready(agent: KnowledgeAgent, space: Space, program: str = KNOWLEDGE,
                optimizer: Optimizer | str = Optimizer.AUTO) -> None:
    """Raise what `compile_program` would raise before doing any work: no such program or optimizer, no language
    model, too few examples (a caller that runs it later, as a job, refuses at once)."""
    _prepare(program)
    _optimizer(optimizer)
    _model(agent)
    with open_examples(agent.workspace.settings) as store:
        count = len(store.list(space.scope) if program == KNOWLEDGE else store.list_plans(space.scope))
    _require_enough(space, count, _HOW_TO_ADD[program])


def _prepare(program: str) -> Callable[..., _Run]:
    prepare = {KNOWLEDGE: _knowledge_run, PLANNER: _planner_run}.get(program)
    if prepare is None:
        raise LMSpaceError(f"There is no program '{program}' to optimise; choose {KNOWLEDGE} or {PLANNER}.")
    return prepare


def _optimizer(optimizer: Optimizer | str) -> Optimizer:
    try:
        return Optimizer(optimizer)
    except ValueError:
        raise LMSpaceError(f"There is no optimizer '{optimizer}'; choose auto, bootstrap or mipro.") from None


@dataclass(frozen=True)
class _Run:
    """What differs between the programs: the uncompiled one, the one in use, the examples and the metric."""

    student: dspy.Module
    current: dspy.Module
    train: list[dspy.Example]
    held_out: list[dspy.Example]
    metric: Metric


def _knowledge_run(agent: KnowledgeAgent, space: Space, store: ExampleStore, progress: ProgressCallback) -> _Run:
    examples = store.list(space.scope)
    _require_enough(space, len(examples), _HOW_TO_ADD[KNOWLEDGE])
    train, held_out = (_answer_examples(agent, space, part, progress)
                       for part in split_held_out(examples, key=lambda e: e.question))
    return _Run(agent.respond, agent.responder(space), train, held_out, answer_score)


def _planner_run(agent: KnowledgeAgent, space: Space, store: ExampleStore, progress: ProgressCallback) -> _Run:
    """Research examples planned over the space's code, described as the planner sees it."""
    examples = store.list_plans(space.scope)
    _require_enough(space, len(examples), _HOW_TO_ADD[PLANNER])
    researcher = CodebaseResearcher(agent.workspace)
    codebase, _ = researcher.codebase(space)
    description = describe(codebase)
    train, held_out = ([dspy.Example(task=e.plan.task, codebase_description=description, plan=e.plan.to_json())
                        .with_inputs("task", "codebase_description") for e in part]
                       for part in split_held_out(examples, key=lambda e: e.plan.task))
    return _Run(ResearchPlanner(), researcher.planner(space), train, held_out, partial(plan_score, codebase))


def reset_program(agent: KnowledgeAgent, space: Space, program: str = KNOWLEDGE) -> bool:
    """Make the space use the uncompiled program again; False when it had no compiled one."""
    return remove_program(program_path(agent.workspace.settings.data_dir, space, program))


def _model(agent: KnowledgeAgent) -> dspy.BaseLM:
    lm = agent.workspace.lm
    if lm is None:
        raise ModelError("Prompt optimisation needs a language model: set lm.provider (and lm.model) in "
                         "lmspace.yaml; `lmspace config check` shows what is configured.")
    return lm


def _require_enough(space: Space, count: int, how_to_add: str) -> None:
    if count < MIN_EXAMPLES:
        raise LMSpaceError(f"Space '{space.name}' has {count} example(s); optimisation needs at least {MIN_EXAMPLES}. "
                           f"Add some with `{how_to_add.format(space=space.name)}.")


def _answer_examples(agent: KnowledgeAgent, space: Space, examples: list[SpaceExample],
                     progress: ProgressCallback) -> list[dspy.Example]:
    """Each example with the passages the agent retrieves for its question today, as the program will see them."""
    prepared = []
    for number, example in enumerate(examples):
        progress(Progress("retrieve", number, len(examples), item=example.question))
        inputs = answer_inputs(space, example.question, agent.retrieve(space, example.question))
        prepared.append(dspy.Example(**inputs, answer=example.answer).with_inputs(*_ANSWER_INPUTS))
    return prepared


def _compile(space: Space, name: str, run: _Run, lm: dspy.BaseLM, optimizer: Optimizer, progress: ProgressCallback,
             on_trial: Callable[[float], None]) -> CompiledProgram:
    """Score the current program, compile the student (reporting each trial's score), score the result."""
    if optimizer is Optimizer.AUTO:
        optimizer = Optimizer.MIPRO if len(run.train) >= MIPRO_MIN_TRAIN else Optimizer.BOOTSTRAP

    def trial(example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float:
        value = run.metric(example, prediction, trace)
        on_trial(value)
        return value

    progress(Progress("score before", 0, 3))
    before = score(run.current, run.held_out, lm, run.metric)
    progress(Progress("compile", 1, 3, message=optimizer.value))
    with model_errors(), dspy.context(lm=lm):
        teleprompter = _teleprompter(optimizer, trial)  # MIPROv2 reads the model from the context when built
        program = teleprompter.compile(run.student, trainset=run.train)
    demos = sum(len(predictor.demos) for predictor in program.predictors())
    progress(Progress("score after", 2, 3))
    after = score(program, run.held_out, lm, run.metric)
    progress(Progress("score after", 3, 3, message="done"))
    report = OptimizationReport(
        space_id=space.id, program=name, optimizer=type(teleprompter).__name__, train_examples=len(run.train),
        held_out_examples=len(run.held_out), score_before=before, score_after=after, demos=demos, saved=False,
        message="compiled, not saved",
    )
    return CompiledProgram(program, demos > 0 or _instructions(program) != _instructions(run.student), report)


def _teleprompter(optimizer: Optimizer, metric: Metric) -> BootstrapFewShot | MIPROv2:
    if optimizer is Optimizer.MIPRO:
        return MIPROv2(metric=metric, metric_threshold=PASS, auto="light", max_bootstrapped_demos=MAX_DEMOS,
                       max_labeled_demos=0, num_threads=1)
    return BootstrapFewShot(metric=metric, metric_threshold=PASS, max_bootstrapped_demos=MAX_DEMOS,
                            max_labeled_demos=0)


def _target(plan: ResearchPlan) -> tuple:
    """What a plan looks for: a pattern's kind and name or regex; for the other strategies, whether it asks at all."""
    if plan.strategy is Strategy.PATTERN and plan.pattern is not None:
        return plan.pattern.kind, (plan.pattern.name or "").lower(), plan.pattern.regex
    return "question", bool(plan.question)


def _instructions(program: dspy.Module) -> list[str]:
    return [predictor.signature.instructions for predictor in program.predictors()]


def _outcome(space: Space, name: str, learnt: bool, before: float, after: float, saved: bool) -> str:
    reset = f"`lmspace optimize {space.name}{' --program planner' if name == PLANNER else ''} --reset`"
    if saved:
        return f"Saved: space '{space.name}' uses the compiled {name} program from now on ({reset} goes back)."
    if not learnt:
        return (f"Not saved: no output on the training examples reached the pass mark ({PASS}), so there was "
                "nothing to learn from; check the examples against what the space holds.")
    return (f"Not saved: it scored {after:.3f} on the held-out examples against {before:.3f} for the current "
            "program (`--force` saves it anyway).")
