"""`ResearchPlanner`: a model turns a task and a description of the codebase into an explicit research plan.

The model sees the file tree, languages and sizes — never file contents — so planning costs one small call whatever
the size of the codebase. A reply that cannot be used becomes the built-in rules' plan, whose rationale says so:
research never stops because a model wrote a bad plan, and never pretends a model planned what rules did.
"""

from __future__ import annotations

from dataclasses import replace

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmspace_core.agents.signatures import PlanResearch
from lmspace_core.errors import LMSpaceError
from lmspace_core.lm import model_call_failed
from lmspace_core.research.codebase import Codebase, describe
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy
from lmspace_core.research.rules import plan_with_rules


class ResearchPlanner(dspy.Module):
    """Plans with `ChainOfThought(PlanResearch)`, or with the built-in rules when there is no model."""

    def __init__(self) -> None:
        super().__init__()
        self.propose = dspy.ChainOfThought(PlanResearch)

    def forward(self, task: str, codebase_description: str) -> dspy.Prediction:
        return self.propose(task=task, codebase_description=codebase_description)

    def plan(self, task: str, codebase: Codebase, lm: dspy.BaseLM | None) -> ResearchPlan:
        """The plan for `task` over `codebase`: the model's (`planner="model"`), else the rules'.

        Raises `ModelError` when the model cannot be called at all (network, authentication, quota).
        """
        if lm is None:
            return plan_with_rules(task)
        with dspy.context(lm=lm):
            try:
                prediction = self(task=task, codebase_description=describe(codebase))
            except AdapterParseError:
                return _fallback(task, "its reply could not be parsed")
            except Exception as error:
                raise model_call_failed(error) from error
        try:
            return plan_from(task, prediction)
        except LMSpaceError as error:
            return _fallback(task, str(error))


def plan_from(task: str, prediction: dspy.Prediction) -> ResearchPlan:
    """The plan a prediction describes; `LMSpaceError` when it is not a valid plan."""
    strategy = Strategy(prediction.strategy)
    pattern = None
    if strategy is Strategy.PATTERN:
        try:
            kind = PatternKind(prediction.pattern_kind)
        except ValueError:
            raise LMSpaceError(f"a pattern plan needs a pattern kind, not '{prediction.pattern_kind}'") from None
        pattern = PatternQuery(kind, name=prediction.pattern_name.strip() or None,
                               regex=prediction.pattern_regex.strip() or None)
    files = FileSelection(
        include=tuple(glob.strip() for glob in prediction.include_globs if glob.strip()) or ("**/*",),
        languages=tuple(language.strip().lower() for language in prediction.languages if language.strip()),
    )
    question = None if strategy is Strategy.PATTERN else prediction.question.strip() or None
    return ResearchPlan(task, strategy, files, pattern, question, prediction.rationale.strip(), planner="model")


def _fallback(task: str, reason: str) -> ResearchPlan:
    rules = plan_with_rules(task)
    rationale = f"The model's plan could not be used ({reason}), so the built-in rules planned. {rules.rationale}"
    return replace(rules, rationale=rationale)
