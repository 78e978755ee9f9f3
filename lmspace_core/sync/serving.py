"""What the remote backends share about bringing a fine-tuned model into service: waiting for its deployment, and
the outcome a job ends with whether or not the deployment could be made.

Creating a deployment takes minutes (Azure OpenAI) to tens of minutes (an Azure ML online deployment). The wait
checks the job's cancel flag every `CANCEL_CHECK_S` and gives up after the settings' timeout; either way the job says
what Azure may still be doing and what to run next. A model that is deployed is evaluated by the manager through the
backend's `chat`; one that is not keeps the deployment it is to be served by, so `lmspace sync evaluate` can follow.
A deployment LMSpace made for a model that then scored worse is deleted (`retire_loser`), so it stops billing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lmspace_core.errors import ModelError
from lmspace_core.sync.backends.base import Outcome, Reporter
from lmspace_core.sync.model import SyncStatus

CANCEL_CHECK_S = 1.0  # how often a deployment being created checks whether its job was cancelled


class DeploymentCancelledError(ModelError):
    """The job was cancelled while its deployment was being created."""


class DeploymentUnfinishedError(ModelError):
    """The deployment did not serve within its timeout; Azure may still finish it."""


class ModelDeployer(Protocol):
    """Deploys the model of one fine-tuning job under a name derived from the job (returning it once it serves), and
    deletes such a deployment when its model lost (unless `keep_losers`)."""

    keep_losers: bool

    def name_for(self, remote_job_id: str) -> str: ...

    def deploy(self, model_id: str, remote_job_id: str, cancelled: Callable[[], bool] = lambda: False) -> str: ...

    def delete(self, name: str) -> None: ...


def wait_for(poller, timeout_s: float, cancelled: Callable[[], bool], *, on_cancel: str, on_timeout: str) -> None:
    """Wait until a long-running operation (`poller`, an Azure SDK `LROPoller` polling on its own thread) is done.

    Raises `DeploymentCancelledError(on_cancel)` as soon as `cancelled()` and `DeploymentUnfinishedError(on_timeout)`
    after `timeout_s`; the operation itself is left to Azure in both cases."""
    deadline = time.monotonic() + timeout_s
    while not poller.done():
        if cancelled():
            raise DeploymentCancelledError(on_cancel)
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeploymentUnfinishedError(on_timeout)
        poller.wait(min(CANCEL_CHECK_S, left))


def deployed_outcome(deployer: ModelDeployer | None, model: str, name: str, remote_job_id: str, reporter: Reporter,
                     *, setting: str, by_hand: str, still_creating: str) -> Outcome:
    """Deploy a fine-tuned `model` as `name` when a deployer is configured (`setting`), and say how the job ended.

    `by_hand` is the step that deploys it without LMSpace (empty when the manager gives it), `still_creating` the
    step after a timeout. A cancel while it is being deployed cancels the job; a deployment that fails or is still
    unfinished leaves the model recorded, to be evaluated once it serves."""
    step = f": {by_hand}" if by_hand else ""
    if deployer is None:
        reporter.event(f"fine-tuned model {model} is not deployed ({setting} is not set), so it cannot be evaluated "
                       f"yet{step}")
        return Outcome(SyncStatus.SUCCEEDED, model_id=model, deployment=name, next_step=by_hand)
    reporter.event(f"deploying fine-tuned model {model} as '{name}'")
    try:
        deployer.deploy(model, remote_job_id, reporter.cancel_requested)
    except DeploymentCancelledError as error:
        return Outcome(SyncStatus.CANCELLED, model_id=model, error=str(error))
    except DeploymentUnfinishedError as error:
        reporter.event(str(error))
        return Outcome(SyncStatus.SUCCEEDED, model_id=model, deployment=name, next_step=still_creating)
    except ModelError as error:
        reporter.event(f"{error} It cannot be evaluated until it is deployed{step}")
        return Outcome(SyncStatus.SUCCEEDED, model_id=model, deployment=name, next_step=by_hand)
    reporter.event(f"deployment '{name}' serves {model}")
    return Outcome(SyncStatus.SUCCEEDED, model_id=model, deployment=name, deployed=True)


def retire_loser(deployer: ModelDeployer | None, deployment: str, remote_job_id: str) -> bool:
    """Start deleting the deployment of a model that lost its evaluation when LMSpace made it (the deployer's name for
    the job) and losers are not kept; True when it is being deleted. `ModelError` when Azure refuses."""
    if deployer is None or deployer.keep_losers or deployment != deployer.name_for(remote_job_id):
        return False
    deployer.delete(deployment)
    return True
