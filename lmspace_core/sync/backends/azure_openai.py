"""The `azure_openai` backend: upload the chat JSONL and run an Azure OpenAI fine-tuning job through `openai`.

Files go up with `purpose="fine-tune"`, the job is created with both files, then polled: its status, its new
events (log lines, and `metrics` events carrying per-step loss and token accuracy), and when it ends the checkpoints
and the result file (a CSV of every step's metrics). A fine-tuned model still has to be deployed before the space
can use it: with `sync.azure_openai.deploy` settings the backend deploys it (see `sync.deployment`) and the
manager then evaluates it through `chat`; without them the job's events give the exact `az` command. Errors of the
service become `ModelError`s with its message.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lmspace_core.config import AzureOpenAISyncSettings
from lmspace_core.errors import ModelError
from lmspace_core.sync.backends.base import Outcome, Reporter, poll_until_finished
from lmspace_core.sync.dataset import to_jsonl
from lmspace_core.sync.deployment import DEFAULT_NAME, Deployer, deploy_command, deployment_name, show_command
from lmspace_core.sync.model import Dataset, DatasetFormat, Metric, Split, SyncStatus
from lmspace_core.sync.serving import deployed_outcome, retire_loser

_STATUSES = {
    "validating_files": SyncStatus.VALIDATING,
    "queued": SyncStatus.QUEUED,
    "running": SyncStatus.RUNNING,
    "pending": SyncStatus.QUEUED,
    "paused": SyncStatus.QUEUED,
    "succeeded": SyncStatus.SUCCEEDED,
    "failed": SyncStatus.FAILED,
    "cancelled": SyncStatus.CANCELLED,
}
EVALUATION_MAX_TOKENS = 512  # a reply to one held-out question


def client_from_settings(settings: AzureOpenAISyncSettings):
    """An `openai.AzureOpenAI` client with a key or with Entra ID tokens (`auth: entra`, no key stored)."""
    from openai import AzureOpenAI

    from lmspace_core.lm import entra_token_provider, resolve_secret

    if settings.auth == "entra":
        return AzureOpenAI(azure_endpoint=settings.endpoint, api_version=settings.api_version,
                           azure_ad_token_provider=entra_token_provider())
    assert settings.api_key is not None  # the settings require it with auth: key
    return AzureOpenAI(azure_endpoint=settings.endpoint, api_version=settings.api_version,
                       api_key=resolve_secret(settings.api_key))


def metrics_from_result_file(text: str) -> list[Metric]:
    """Per-step metrics from the result CSV (`step, train_loss, train_mean_token_accuracy, valid_loss, ...`)."""
    return [_metric(row) for row in csv.DictReader(io.StringIO(text)) if row.get("step")]


def _metric(data: dict) -> Metric:
    def number(*names: str) -> float | None:
        for name in names:
            value = data.get(name)
            if value not in (None, ""):
                return float(value)
        return None

    return Metric(int(float(data["step"])), train_loss=number("train_loss"),
                  validation_loss=number("valid_loss", "full_valid_loss"),
                  accuracy=number("train_mean_token_accuracy", "valid_mean_token_accuracy"))


@contextmanager
def _service_errors(doing: str) -> Iterator[None]:
    from openai import OpenAIError

    try:
        yield
    except OpenAIError as error:
        raise ModelError(f"Azure OpenAI refused to {doing}: {error}") from error


class AzureOpenAIBackend:
    """Fine-tunes `settings.base_model` on Azure OpenAI; `client` is an `openai.AzureOpenAI` (or compatible), and
    `deployer` (optional) deploys the fine-tuned model."""

    name = "azure_openai"
    model_kind = "deployment"

    def __init__(self, client, settings: AzureOpenAISyncSettings, poll_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, deployer: Deployer | None = None) -> None:
        self._client, self._settings, self._poll_s, self._sleep = client, settings, poll_s, sleep
        self._deployer = deployer

    def chat(self, deployment: str, messages: list[dict[str, str]]) -> str:
        """One reply of a deployment (its chat completions endpoint), deterministic as far as the service allows."""
        with _service_errors(f"answer with deployment '{deployment}'"):
            response = self._client.chat.completions.create(
                model=deployment, messages=messages, temperature=0, max_tokens=EVALUATION_MAX_TOKENS)
        return response.choices[0].message.content or ""

    def retire(self, deployment: str, remote_job_id: str) -> bool:
        """Delete the deployment LMSpace made for a model that lost its evaluation (see `sync.serving.retire_loser`)."""
        return retire_loser(self._deployer, deployment, remote_job_id)

    def run(self, dataset: Dataset, reporter: Reporter) -> Outcome:
        files = self._client.files
        with _service_errors("take the training files"):
            train = files.create(file=("train.jsonl", to_jsonl(dataset, Split.TRAIN, DatasetFormat.CHAT).encode()),
                                 purpose="fine-tune")
            validation = files.create(
                file=("validation.jsonl", to_jsonl(dataset, Split.VALIDATION, DatasetFormat.CHAT).encode()),
                purpose="fine-tune")
        reporter.event(f"uploaded training file {train.id} and validation file {validation.id}")
        options = {"hyperparameters": {"n_epochs": self._settings.epochs}} if self._settings.epochs else {}
        with _service_errors("create the fine-tuning job"):
            job = self._client.fine_tuning.jobs.create(
                model=self._settings.base_model, training_file=train.id, validation_file=validation.id,
                suffix=self._settings.suffix, **options)
        reporter.remote_id(job.id)
        reporter.event(f"created fine-tuning job {job.id} of {self._settings.base_model}")
        return self._follow(job.id, reporter)

    def resume(self, remote_id: str, reporter: Reporter) -> Outcome:
        return self._follow(remote_id, reporter)

    def _follow(self, job_id: str, reporter: Reporter) -> Outcome:
        """Poll the job until it ends, passing on status changes, new events and metrics; cancel when asked."""
        jobs = self._client.fine_tuning.jobs
        seen: set[str] = set()

        def poll():
            with _service_errors("report the job"):
                job = jobs.retrieve(job_id)
                events = [event for event in reversed(jobs.list_events(job_id, limit=100).data)
                          if event.id not in seen]
            for event in events:
                seen.add(event.id)
                if event.type == "metrics" and event.data:
                    reporter.metrics([_metric(dict(event.data))])
                else:
                    reporter.event(event.message)
            return _STATUSES.get(job.status, SyncStatus.RUNNING), f"Azure OpenAI: {job.status}", job

        def cancel():
            with _service_errors("cancel the job"):
                jobs.cancel(job_id)

        status, job = poll_until_finished(reporter, poll, cancel, lambda: self._sleep(self._poll_s))
        return self._ended(job, status, reporter)

    def _ended(self, job, status: SyncStatus, reporter: Reporter) -> Outcome:
        if status is SyncStatus.FAILED:
            error = getattr(job, "error", None)
            reason = getattr(error, "message", None) or "no reason given"
            return Outcome(status, error=f"Azure OpenAI fine-tuning job {job.id} failed: {reason}")
        if status is SyncStatus.CANCELLED:
            return Outcome(status, error=f"Azure OpenAI fine-tuning job {job.id} was cancelled.")
        with _service_errors("report the finished job"):
            for checkpoint in self._client.fine_tuning.jobs.checkpoints.list(job.id).data:
                reporter.event(f"checkpoint at step {checkpoint.step_number}: "
                               f"{checkpoint.fine_tuned_model_checkpoint}")
            for file_id in job.result_files or []:
                reporter.metrics(metrics_from_result_file(self._client.files.content(file_id).text))
        return self._deployed(job.fine_tuned_model, job.id, reporter)

    def _deployed(self, model: str, job_id: str, reporter: Reporter) -> Outcome:
        """Deploy the fine-tuned model when deployment settings are given; otherwise say how to."""
        name = self._deployer.name_for(job_id) if self._deployer else deployment_name(DEFAULT_NAME, job_id)
        return deployed_outcome(
            self._deployer, model, name, job_id, reporter, setting="sync.azure_openai.deploy",
            by_hand=f"deploy it with `{deploy_command(self._settings, model, name)}`",
            still_creating=f"wait until `{show_command(self._settings, name)}` says Succeeded")
