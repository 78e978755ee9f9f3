"""Optimising the research planner: a space's research examples compile the planner its research then plans with."""

from __future__ import annotations

import dspy
import pytest

from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.agents.optimize import optimize, plan_score, reset_program, split_held_out
from lmspace_core.agents.programs import PLANNER, program_path
from lmspace_core.agents.research.researcher import CodebaseResearcher, plan_research
from lmspace_core.errors import NotFoundError
from lmspace_core.examples import open_examples
from lmspace_core.research.codebase import Codebase
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy
from tests.scripted_lm import ScriptedLM

CODE = {
    "app/main.py": "import os\n\nprint(os.getcwd())\n",
    "app/config.py": "class Config:\n    # TODO: read the environment\n    pass\n",
    "app/checks.py": "def check(value):\n    if value < 0:\n        raise ValueError(value)\n",
    "web/index.js": "console.log('hi');\n",
}
PYTHON = FileSelection(include=("**/*.py",))
PLANS = [
    ResearchPlan("Find print statements", Strategy.PATTERN, PYTHON, PatternQuery(PatternKind.CALL, name="print")),
    ResearchPlan("Which files import os?", Strategy.PATTERN, PYTHON, PatternQuery(PatternKind.IMPORT, name="os")),
    ResearchPlan("List the TODO comments", Strategy.PATTERN, PYTHON, PatternQuery(PatternKind.TODO)),
    ResearchPlan("What raises ValueError?", Strategy.PATTERN, PYTHON, PatternQuery(PatternKind.RAISE, "ValueError")),
    ResearchPlan("Where is Config defined?", Strategy.PATTERN, PYTHON, PatternQuery(PatternKind.DEFINITION, "Config")),
]
UNSURE = {"reasoning": "Unclear.", "strategy": "search", "include_globs": ["web/**"], "languages": [],
          "pattern_kind": "none", "pattern_name": "", "pattern_regex": "", "question": "anything?",
          "rationale": "A guess."}


def reply(plan: ResearchPlan) -> dict:
    return {"reasoning": "A pattern finds it exactly.", "strategy": plan.strategy.value,
            "include_globs": list(plan.files.include), "languages": [], "pattern_kind": plan.pattern.kind.value,
            "pattern_name": plan.pattern.name or "", "pattern_regex": "", "question": "",
            "rationale": "Code finds it exactly."}


def planner_lm(known: set[str]) -> ScriptedLM:
    return ScriptedLM({plan.task: reply(plan) for plan in PLANS}, UNSURE, known)


@pytest.fixture
def space(workspace):
    space = workspace.create_space("code")
    workspace.ingest(space, CODE, as_codebase=True)
    with open_examples(workspace.settings) as store:
        for plan in PLANS:
            store.add_plan(space.scope, plan)
    return space


def held_out_task(workspace, space) -> str:
    with open_examples(workspace.settings) as store:
        [example] = split_held_out(store.list_plans(space.scope), key=lambda e: e.plan.task)[1]
    return example.plan.task


def test_the_compiled_planner_plans_the_held_out_task_and_research_in_the_space_uses_it(workspace, space):
    task = held_out_task(workspace, space)
    lm = planner_lm(known={plan.task for plan in PLANS} - {task})
    workspace.use_lm(lm)
    agent = KnowledgeAgent(workspace)
    report = optimize(agent, space, PLANNER)
    assert (report.program, report.train_examples, report.held_out_examples) == ("planner", 4, 1)
    assert (report.score_before, report.score_after, report.demos, report.saved) == (0.0, 1.0, 4, True)
    assert program_path(workspace.settings.data_dir, space, PLANNER).is_file()

    planned = plan_research(workspace, task, space)
    expected = next(plan for plan in PLANS if plan.task == task)
    assert (planned.planner, planned.strategy, planned.pattern) == ("model", expected.strategy, expected.pattern)
    assert len(lm.history[-1]["messages"]) > 2, "the saved demos are in the planner's prompt"

    assert reset_program(agent, space, PLANNER)
    assert not CodebaseResearcher(workspace).planner(space).propose.predict.demos
    assert plan_research(workspace, task, space).strategy is Strategy.SEARCH


def test_the_planner_is_optimised_over_the_space_code_only(workspace):
    space = workspace.create_space("prose")
    workspace.ingest(space, {"notes.md": "# Notes\n\nNothing to run here at all."})
    with open_examples(workspace.settings) as store:
        for plan in PLANS:
            store.add_plan(space.scope, plan)
    workspace.use_lm(planner_lm(set()))
    with pytest.raises(NotFoundError, match="holds no code"):
        optimize(KnowledgeAgent(workspace), space, PLANNER)


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, 1.0),
    ({"pattern_name": "input"}, 2 / 3),  # another call
    ({"include_globs": ["app/main.py"]}, 2 / 3 + 1 / 9),  # one of the three Python files
    ({"strategy": "map", "pattern_kind": "none", "question": "Does it print?"}, 1 / 3),
    ({"pattern_kind": "none"}, 0.0),  # a pattern plan without a kind cannot be used
])
def test_the_plan_metric_credits_strategy_target_and_files(fields, expected):
    codebase = Codebase.from_mapping(CODE)
    example = dspy.Example(task=PLANS[0].task, plan=PLANS[0].to_json())
    prediction = dspy.Prediction(**{**reply(PLANS[0]), **fields})
    assert plan_score(codebase, example, prediction) == pytest.approx(expected)
