"""The built-in research strategies that run an executor, registered like a plugin's: map and explore.

Kept apart from the researcher so that building the plugin registry (every command does) imports neither the
researcher nor DSPy; the executors are imported when a plan runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmspace_core.errors import LMSpaceError
from lmspace_core.plugins import hookimpl

if TYPE_CHECKING:
    from lmspace_core.workspace import Workspace


def _model_for(strategy: str, lm):
    if lm is None:
        raise LMSpaceError(
            f"A {strategy} plan needs a language model; configure `lm` in lmspace.yaml, or edit the plan into a "
            "pattern plan."
        )
    return lm


def _map_executor(workspace: Workspace, lm):
    from lmspace_core.agents.research.subagents import MapExecutor

    research = workspace.settings.research
    return MapExecutor(_model_for("map", lm), context_tokens=research.context_tokens,
                       parallelism=research.parallelism)


def _explore_executor(workspace: Workspace, lm):
    from lmspace_core.agents.research.explore import ExploreExecutor
    from lmspace_core.research.sandbox import SandboxLimits, sandbox_factory

    research = workspace.settings.research
    factory = sandbox_factory(limits=SandboxLimits.from_settings(research), pyodide_dir=research.pyodide_dir)
    return ExploreExecutor(_model_for("explore", lm), factory)


@hookimpl
def register_research_strategies(register) -> None:
    """The built-in strategies that run an executor (pattern and search are plain code in `CodebaseResearcher.run`)."""
    register("map", _map_executor)
    register("explore", _explore_executor)
