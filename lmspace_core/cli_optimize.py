"""`lmspace examples ...` and `lmspace optimize`: a space's question/answer examples, and prompts compiled on them."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from lmspace_core.cli import JsonFlag, SpaceArg, _handles_errors, _print_json, _progress_bar, _workspace, console, shown
from lmspace_core.errors import NotFoundError
from lmspace_core.examples import SpaceExample, open_examples

examples_app = typer.Typer(help="The question/answer examples of a space, which `lmspace optimize` learns from.",
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


@examples_app.command("list")
@_handles_errors
def examples_list(space: SpaceArg, as_json: JsonFlag = False) -> None:
    """The space's examples, oldest first."""
    with _workspace() as workspace, open_examples(workspace.settings) as store:
        rows = [_example_row(example) for example in store.list(workspace.space(space).scope)]
    if as_json:
        return _print_json(rows)
    if not rows:
        console.print(f"Space {shown(space)} has no examples; add one with `lmspace examples add {shown(space)} "
                      "QUESTION ANSWER`.")
        return
    table = Table("id", "question", "answer", "origin")
    for row in rows:
        table.add_row(row["id"], shown(row["question"]), shown(row["answer"]), row["origin"])
    console.print(table)


@examples_app.command("delete")
@_handles_errors
def examples_delete(
    space: SpaceArg,
    example_id: Annotated[str, typer.Argument(help="The example's id (`lmspace examples list`).")],
    as_json: JsonFlag = False,
) -> None:
    """Delete one example of the space."""
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
    force: Annotated[bool, typer.Option("--force", help="Save the compiled program even if it scores worse.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Go back to the uncompiled program.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compile the space's answering prompts on its examples; the space answers with them if they score as well."""
    from lmspace_core.agents.knowledge import KnowledgeAgent
    from lmspace_core.agents.optimize import Optimizer, optimize_knowledge, reset_knowledge

    try:
        chosen = Optimizer(optimizer)
    except ValueError:
        raise typer.BadParameter("choose auto, bootstrap or mipro", param_hint="--optimizer") from None
    with _workspace() as workspace:
        agent, target = KnowledgeAgent(workspace), workspace.space(space)
        if reset:
            removed = reset_knowledge(agent, target)
            if as_json:
                return _print_json({"space": space, "reset": removed})
            console.print(f"Space {shown(space)} answers with the uncompiled program"
                          + ("." if removed else " (it had no compiled one)."))
            return
        # DSPy's optimisers print their progress: keep stdout for the report (and the JSON) alone.
        with _progress_bar(not as_json) as progress, contextlib.redirect_stdout(sys.stderr):
            report = optimize_knowledge(agent, target, chosen, force=force, progress=progress)
    if as_json:
        return _print_json(report)
    console.print(f"{report.optimizer} on {report.train_examples} examples; held-out score over "
                  f"{report.held_out_examples}: before {report.score_before:.3f}, after {report.score_after:.3f} "
                  f"({report.demos} demos)")
    console.print(shown(report.message))
