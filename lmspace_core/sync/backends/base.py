"""The protocol every sync backend satisfies, and the reporter through which it tells the job store what happens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lmspace_core.sync.model import Dataset, Metric, SyncStatus


@dataclass(frozen=True)
class Outcome:
    """How a backend's job ended: a final status, the model it produced, and both evaluation scores when known.

    `score_before`/`score_after` measure the space's current model and the new one on the validation split; a
    remote backend leaves them None. `deployment` names the deployment that serves a remote model (`deployed`) or is
    to serve it; the manager evaluates a deployed one through the backend's `chat`, and passes `next_step` (how to
    deploy it) on otherwise.
    """

    status: SyncStatus
    model_id: str | None = None
    score_before: float | None = None
    score_after: float | None = None
    error: str = ""
    deployment: str | None = None
    deployed: bool = False
    next_step: str = ""


class Reporter(Protocol):
    """What a running backend job writes to: status changes, log lines, metrics, its remote id; and the cancel flag."""

    def status(self, status: SyncStatus, message: str = "") -> None: ...

    def event(self, message: str) -> None: ...

    def metrics(self, metrics: Sequence[Metric]) -> None: ...

    def progress(self, done: int, total: int) -> None:
        """`done` of the job's `total` training steps are done (a backend that knows its number of steps)."""

    def remote_id(self, remote_id: str) -> None: ...

    def cancel_requested(self) -> bool: ...


class SyncBackend(Protocol):
    """Runs one dataset as a fine-tuning job until it ends; `resume` follows a remote job after a restart.

    `model_kind` says what a produced model is to the space: `embedder` (a local folder) or `deployment`. A backend
    whose models can be asked questions once deployed also has `chat(deployment, messages) -> str`.
    """

    name: str
    model_kind: str

    def run(self, dataset: Dataset, reporter: Reporter) -> Outcome: ...

    def resume(self, remote_id: str, reporter: Reporter) -> Outcome: ...


def poll_until_finished(
    reporter: Reporter,
    poll: Callable[[], tuple[SyncStatus, str, Any]],
    cancel: Callable[[], None],
    wait: Callable[[], None],
) -> tuple[SyncStatus, Any]:
    """The loop of a remote backend: pass a cancel request on once, poll, report each new status, until the job
    ends. `poll` returns (status, what the service called it, the job as it returned it); the last two are
    returned when the job has finished."""
    status, cancel_sent = None, False
    while True:
        if not cancel_sent and reporter.cancel_requested():
            cancel()
            cancel_sent = True
        current, label, job = poll()
        if current is not status and not current.finished:
            reporter.status(current, label)
        status = current
        if current.finished:
            return current, job
        wait()
