"""ResearchPlanner: plans read from scripted model replies (DummyLM), the rules without a model, fallbacks."""

from __future__ import annotations

from typing import get_args

import dspy
import pytest
from dspy.utils import DummyLM

from lmspace_core.agents.research.planner import ResearchPlanner
from lmspace_core.agents.signatures import PlanResearch
from lmspace_core.errors import ModelError
from lmspace_core.research.codebase import Codebase, describe
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy
from lmspace_core.research.rules import plan_with_rules

SECRET = "UNIQUE_CONTENT_MARKER_42"
CODEBASE = Codebase.from_mapping({
    "app/main.py": f"print('{SECRET}')\n",
    "app/util.py": "def helper():\n    return 1\n",
    "web/index.js": "console.log('hi');\n",
})


def reply(**fields) -> dict:
    defaults = dict(reasoning="Planned.", strategy="pattern", include_globs=["**/*"], languages=[],
                    pattern_kind="none", pattern_name="", pattern_regex="", question="", rationale="Because.")
    return {**defaults, **fields}


def plan(task: str, *replies: dict) -> tuple[ResearchPlan, DummyLM]:
    lm = DummyLM(list(replies))
    return ResearchPlanner().plan(task, CODEBASE, lm), lm


def test_a_pattern_plan_is_read_from_the_model_reply():
    result, _ = plan("Find print statements", reply(
        include_globs=["app/**/*.py"], languages=["Python"], pattern_kind="call", pattern_name="print",
        rationale="Calls to print are found exactly by code."))
    assert result == ResearchPlan(
        "Find print statements", Strategy.PATTERN, FileSelection(include=("app/**/*.py",), languages=("python",)),
        PatternQuery(PatternKind.CALL, name="print"), rationale="Calls to print are found exactly by code.",
        planner="model",
    )


def test_a_map_plan_carries_the_question_for_its_subagents():
    question = "Does this function validate its input before using it?"
    result, _ = plan("Which functions trust user input?", reply(
        strategy="map", include_globs=["app/**"], question=question, rationale="Needs judgement per file."))
    assert (result.strategy, result.question, result.pattern, result.planner) == (Strategy.MAP, question, None,
                                                                                  "model")
    assert result.files.include == ("app/**",)


def test_the_planner_sees_the_codebase_description_but_never_file_contents():
    _, lm = plan("Find print statements", reply(pattern_kind="call", pattern_name="print"))
    [entry] = lm.history
    prompt = "\n".join(message["content"] for message in entry["messages"])
    assert describe(CODEBASE) in prompt
    assert SECRET not in prompt


@pytest.mark.parametrize("invalid", [
    reply(strategy="pattern", pattern_kind="none"),
    reply(strategy="pattern", pattern_kind="regex", pattern_regex="(unclosed"),
    reply(strategy="map", question=""),
], ids=["pattern-without-kind", "invalid-regex", "map-without-question"])
def test_an_invalid_plan_falls_back_to_the_rules_and_says_so(invalid):
    result, _ = plan("Find print statements", invalid)
    rules = plan_with_rules("Find print statements")
    assert (result.strategy, result.pattern, result.planner) == (rules.strategy, rules.pattern, "rules")
    assert result.rationale.startswith("The model's plan could not be used")


def test_an_unparsable_reply_falls_back_to_the_rules():
    result, _ = plan("list the TODOs", {"reasoning": "no plan here"}, {"reasoning": "still none"})
    assert (result.pattern.kind, result.planner) == (PatternKind.TODO, "rules")
    assert "could not be parsed" in result.rationale


def test_without_a_model_the_rules_plan():
    assert ResearchPlanner().plan("Find print statements", CODEBASE, None) == plan_with_rules("Find print statements")


class FailingEngine:
    def complete(self, request):
        raise RuntimeError("authentication failed")


def test_a_model_that_cannot_be_called_is_a_model_error():
    lm = dspy.LM("local/failing", engine=FailingEngine(), cache=False, num_retries=0)
    with pytest.raises(ModelError, match="authentication failed"):
        ResearchPlanner().plan("Find print statements", CODEBASE, lm)


def test_the_planner_offers_exactly_the_plan_choices():
    fields = PlanResearch.output_fields
    assert set(get_args(fields["strategy"].annotation)) == {strategy.value for strategy in Strategy}
    assert set(get_args(fields["pattern_kind"].annotation)) == {kind.value for kind in PatternKind} | {"none"}
