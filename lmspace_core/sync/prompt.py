"""The `prompt` sync kind: DSPy prompt optimisation of a space's `KnowledgeAgent`, run as a local sync job.

Where the `local` backend fine-tunes the space's embedding model, this compiles the space's answering program with
the configured language model (`lmspace_core.agents.optimize`, as `lmspace optimize` does) on the space's examples
and the passages the space retrieves for them today, so a sync after the knowledge changed learns from what it holds
now. Every trial the optimiser runs is a metric point (its score, as `accuracy`); the held-out score of the program in
use and of the compiled one are the job's two scores. The compiled program becomes a model version of kind `program`,
which the manager activates only if it scores better (or when forced).

A program version is in use while it is the space's active version: activating it copies it to where the agent reads
its compiled program; activating another version, or rolling back to the base model, when a program version was
active puts the uncompiled program back.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from lmspace_core.agents.programs import KNOWLEDGE, install_program, program_path, remove_program, version_path
from lmspace_core.domain import Progress, Space
from lmspace_core.sync.backends.base import Outcome, Reporter
from lmspace_core.sync.model import Metric, ModelVersion, SyncKind, SyncStatus
from lmspace_core.sync.store import new_id

if TYPE_CHECKING:
    from lmspace_core.workspace import Workspace

PROGRAM = "program"  # the `ModelVersion.kind` of a compiled program
_STAGES = {  # the optimisation's progress stages, as events of the job
    "score before": "scoring the program in use on the held-out examples",
    "compile": "compiling with {message}: each trial's score is a metric point",
    "score after": "scoring the compiled program on the held-out examples",
}


class _Cancelled(BaseException):
    """Raised from the optimiser's callbacks to stop it: DSPy counts an `Exception` raised by a metric as a failed
    trial and carries on, so a cancel request has to travel as something else."""


class PromptSync:
    """Compiles a space's answering program as a sync job; refuses at construction without a language model or with
    too few examples, so no job is recorded that could never run."""

    name = SyncKind.PROMPT.value
    model_kind = PROGRAM

    def __init__(self, workspace: Workspace, space: Space, optimizer: str = "auto") -> None:
        from lmspace_core.agents.knowledge import KnowledgeAgent
        from lmspace_core.agents.optimize import check_ready

        self._agent, self._space, self._optimizer = KnowledgeAgent(workspace), space, optimizer
        check_ready(self._agent, space, KNOWLEDGE, optimizer)

    def run(self, reporter: Reporter) -> Outcome:
        from lmspace_core.agents.optimize import compile_program
        from lmspace_core.agents.programs import save_program

        reporter.status(SyncStatus.RUNNING, "retrieving the passages of the space's examples")
        trials = itertools.count(1)
        stages = set()

        def progress(event: Progress) -> None:
            if reporter.cancel_requested():
                raise _Cancelled
            if event.stage in _STAGES and event.stage not in stages:
                stages.add(event.stage)
                reporter.event(_STAGES[event.stage].format(message=event.message))

        def on_trial(score: float) -> None:
            reporter.metrics([Metric(next(trials), accuracy=score)])
            if reporter.cancel_requested():
                raise _Cancelled

        try:
            result = compile_program(self._agent, self._space, KNOWLEDGE, self._optimizer, progress, on_trial)
        except _Cancelled:
            return Outcome(SyncStatus.CANCELLED, error="Cancelled on request.")
        report = result.report
        reporter.event(f"{report.optimizer} on {report.train_examples} training examples ({report.demos} demos); "
                       f"held-out score over {report.held_out_examples}: program in use {report.score_before:.3f}, "
                       f"compiled {report.score_after:.3f}")
        version = new_id()
        settings = self._agent.workspace.settings
        save_program(result.module, version_path(settings.data_dir, self._space, KNOWLEDGE, version))
        return Outcome(SyncStatus.SUCCEEDED, model_id=version, score_before=report.score_before,
                       score_after=report.score_after)


def switch_program(workspace: Workspace, space: Space, leaving: ModelVersion | None,
                   coming: ModelVersion | None) -> None:
    """Make the space's compiled program follow its active model version as it changes from `leaving` to `coming`
    (None: the base model): install a program version coming in; remove the program of one going out."""
    data_dir = workspace.settings.data_dir
    path = program_path(data_dir, space, KNOWLEDGE)
    if coming is not None and coming.kind == PROGRAM:
        install_program(version_path(data_dir, space, KNOWLEDGE, coming.reference), path)
    elif leaving is not None and leaving.kind == PROGRAM:
        remove_program(path)
