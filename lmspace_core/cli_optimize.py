"""`lmspace examples ...` and `lmspace optimize`: a space's examples (question/answer pairs, research tasks with their
plans), and the prompts compiled on them."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lmspace_core.cli import JsonFlag, SpaceArg, _handles_errors, _print_json, _progress_bar, _workspace, console, shown
from lmspace_core.errors import NotFoundError
from lmspace_core.examples import PlanExample, SpaceExample, open_examples

examples_app = typer.Typer(help="A space's examples (question/answer, research task/plan) for `lmspace optimize`.",
                           no_args_is_help=True)


def _example_row(example: SpaceExample) -> dict[str, Any]:
    return {"id": example.id, "question": example.question, "answer": example.answer,
            "origin": example.origin.value, "updated": example.updated_at}


@examples_app.command("add")
@_handles_errors
def examples_add(
    space: SpaceArg,
    question: Annotated[str, typer.Argument(help="The question.")],
    answer: Annotated[str, typer.Argument(help="The answer the space's agent should give.")],
    as_json: JsonFlag = False,
) -> None:
    """Add an example to the space (a question asked again replaces its answer)."""
    with _workspace() as workspace, open_examples(workspace.settings) as store:
        example = store.add(workspace.space(space).scope, question, answer)
    if as_json:
        return _print_json(_example_row(example))
    console.print(f"Example {example.id} saved in {shown(space)}.")


@examples_app.command("add-plan")
@_handles_errors
def examples_add_plan(
    space: SpaceArg,
    plan_file: Annotated[Path, typer.Argument(help="A plan JSON file (`lmspace research SPACE TASK --plan-only "
                                                    "--json`, corrected); its task is the example's task.")],
    as_json: JsonFlag = False,
) -> None:
    """Add a research example: a task and the plan the research planner should make for it."""
    from lmspace_core.research.plan import ResearchPlan

    plan = ResearchPlan.from_json(plan_file.read_text())
    with _workspace() as workspace, open_examples(workspace.settings) as store:
        example = store.add_plan(workspace.space(space).scope, plan)
    if as_json:
        return _print_json(_plan_row(example))
    console.print(f"Research example {example.id} saved in {shown(space)}.")


def _plan_row(example: PlanExample) -> dict[str, Any]:
    return {"id": example.id, "task": example.plan.task, "plan": json.loads(example.plan.to_json()),
            "origin": example.origin.value, "updated": example.updated_at}


@examples_app.command("list")
@_handles_errors
def examples_list(
    space: SpaceArg,
    plans: Annotated[bool, typer.Option("--plans", help="The research examples (tasks and plans) instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The space's question/answer examples (or research examples), oldest first."""
    with _workspace() as workspace, open_examples(workspace.settings) as store:
        scope = workspace.space(space).scope
        rows = [_plan_row(e) for e in store.list_plans(scope)] if plans else [_example_row(e) for e in store.list(scope)]
    if as_json:
        return _print_json(rows)
    if not rows:
        add = "add-plan SPACE PLAN.json" if plans else f"add {shown(space)} QUESTION ANSWER"
        console.print(f"Space {shown(space)} has no such examples; add one with `lmspace examples {add}`.")
        return
    table = Table("id", "task", "strategy", "origin") if plans else Table("id", "question", "answer", "origin")
    for row in rows:
        cells = (row["task"], row["plan"]["strategy"]) if plans else (row["question"], row["answer"])
        table.add_row(row["id"], *(shown(cell) for cell in cells), row["origin"])
    console.print(table)


@examples_app.command("delete")
@_handles_errors
def examples_delete(
    space: SpaceArg,
    example_id: Annotated[str, typer.Argument(help="The example's id (`lmspace examples list`).")],
    as_json: JsonFlag = False,
) -> None:
    """Delete one example (question/answer or research) of the space."""
    with _workspace() as workspace, open_examples(workspace.settings) as store:
        if not store.delete(workspace.space(space).scope, example_id):
            raise NotFoundError(f"Space '{space}' has no example {shown(example_id)}; "
                                f"list them with `lmspace examples list {space}`.")
    if as_json:
        return _print_json({"deleted": example_id})
    console.print(f"Example {shown(example_id)} deleted.")


@_handles_errors
def optimize(
    space: SpaceArg,
    optimizer: Annotated[str, typer.Option("--optimizer", help="auto (MIPROv2 with 20+ training examples, else "
                                           "BootstrapFewShot), bootstrap or mipro.")] = "auto",
    program: Annotated[str, typer.Option("--program", help="knowledge (answers, on question/answer examples) or "
                                         "planner (research plans, on research examples).")] = "knowledge",
    force: Annotated[bool, typer.Option("--force", help="Save the compiled program even if it scores worse.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Go back to the uncompiled program.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compile the space's answering (or research planning) prompts on its examples; the space uses them from then
    on if they score at least as well on the held-out examples."""
    from lmspace_core.agents.knowledge import KnowledgeAgent
    from lmspace_core.agents.optimize import Optimizer
    from lmspace_core.agents.optimize import optimize as optimize_program
    from lmspace_core.agents.optimize import reset_program
    from lmspace_core.agents.programs import KNOWLEDGE, PLANNER

    try:
        chosen = Optimizer(optimizer)
    except ValueError:
        raise typer.BadParameter("choose auto, bootstrap or mipro", param_hint="--optimizer") from None
    if program not in (KNOWLEDGE, PLANNER):
        raise typer.BadParameter(f"choose {KNOWLEDGE} or {PLANNER}", param_hint="--program")
    with _workspace() as workspace:
        agent, target = KnowledgeAgent(workspace), workspace.space(space)
        if reset:
            removed = reset_program(agent, target, program)
            if as_json:
                return _print_json({"space": space, "program": program, "reset": removed})
            console.print(f"Space {shown(space)} uses the uncompiled {program} program"
                          + ("." if removed else " (it had no compiled one)."))
            return
        # DSPy's optimisers print their progress: keep stdout for the report (and the JSON) alone.
        with _progress_bar(not as_json) as progress, contextlib.redirect_stdout(sys.stderr):
            report = optimize_program(agent, target, program, chosen, force=force, progress=progress)
    if as_json:
        return _print_json(report)
    console.print(f"{report.optimizer} on {report.train_examples} examples; held-out score over "
                  f"{report.held_out_examples}: before {report.score_before:.3f}, after {report.score_after:.3f} "
                  f"({report.demos} demos)")
    console.print(shown(report.message))
