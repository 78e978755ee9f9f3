"""The `azure_ml` backend: register the JSONL splits as data assets and run an Azure ML fine-tuning job.

The job is built with `azure.ai.ml.finetuning.create_finetuning_job`, always with validation data (azure-ai-ml
1.35.2 raises `UnboundLocalError` without it), submitted with `jobs.create_or_update`, then polled with `jobs.get`
until it ends; `jobs.begin_cancel` cancels it. The fine-tuned model is registered by the job under
`<prefix>-<space id>`; it has to be deployed before the space can use it: with `sync.azure_ml.deploy` settings the
backend deploys it on the space's online endpoint (`sync.online_endpoint`) and the manager then evaluates it through
`chat`; without them the job ends with the commands that deploy it by hand.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lmspace_core.config import AzureMLSyncSettings
from lmspace_core.sync.backends.base import Outcome, Reporter, poll_until_finished
from lmspace_core.sync.dataset import to_jsonl
from lmspace_core.sync.model import Dataset, DatasetFormat, Split, SyncStatus
from lmspace_core.sync.next_steps import workspace_options
from lmspace_core.sync.online_endpoint import EndpointChat, OnlineDeployer, online_deployment_name, service_errors
from lmspace_core.sync.serving import deployed_outcome, retire_loser

_STATUSES = {
    "NotStarted": SyncStatus.QUEUED,
    "Queued": SyncStatus.QUEUED,
    "Preparing": SyncStatus.QUEUED,
    "Provisioning": SyncStatus.QUEUED,
    "Starting": SyncStatus.RUNNING,
    "Running": SyncStatus.RUNNING,
    "Finalizing": SyncStatus.RUNNING,
    "CancelRequested": SyncStatus.RUNNING,
    "Completed": SyncStatus.SUCCEEDED,
    "Failed": SyncStatus.FAILED,
    "Canceled": SyncStatus.CANCELLED,
    "NotResponding": SyncStatus.FAILED,
}
MODEL_PREFIX = "lmspace"


def ml_client_from_settings(settings: AzureMLSyncSettings):
    """An `MLClient` for the configured workspace, signed in with the process's one `DefaultAzureCredential` (the
    one the Azure stores use: a credential per client would acquire its tokens again)."""
    from azure.ai.ml import MLClient

    from lmspace_core.stores.azure.clients import default_credential

    return MLClient(default_credential(), settings.subscription_id, settings.resource_group, settings.workspace)


class AzureMLBackend:
    """Fine-tunes `settings.model` with Azure ML; `client` is an `azure.ai.ml.MLClient` (or compatible), `endpoint`
    the online endpoint that serves the space's models, and `deployer` (optional) deploys each fine-tuned model."""

    name = "azure_ml"
    model_kind = "deployment"

    def __init__(self, client, settings: AzureMLSyncSettings, poll_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, *, endpoint: str,
                 deployer: OnlineDeployer | None = None) -> None:
        self._client, self._settings, self._poll_s, self._sleep = client, settings, poll_s, sleep
        self._endpoint, self._deployer = endpoint, deployer
        self._chat = EndpointChat(client, settings, endpoint)

    def chat(self, deployment: str, messages: list[dict[str, str]]) -> str:
        """One reply of a deployment of the space's online endpoint (see `sync.online_endpoint`)."""
        return self._chat(deployment, messages)

    def retire(self, deployment: str, remote_job_id: str) -> bool:
        """Delete the deployment LMSpace made for a model that lost its evaluation (see `sync.serving.retire_loser`)."""
        return retire_loser(self._deployer, deployment, remote_job_id)

    def build_job(self, dataset: Dataset, training_data: str, validation_data: str):
        """The fine-tuning job for registered training and validation assets (what `run` submits)."""
        from azure.ai.ml.finetuning import create_finetuning_job

        return create_finetuning_job(
            model=self._settings.model, task=self._settings.task, training_data=training_data,
            validation_data=validation_data, output_model_name_prefix=f"{MODEL_PREFIX}-{dataset.space_id}",
            experiment_name=self._settings.experiment, display_name=f"lmspace sync {dataset.id}")

    def run(self, dataset: Dataset, reporter: Reporter) -> Outcome:
        assets = self._register(dataset)
        reporter.event(f"registered data assets {assets[0]} and {assets[1]}")
        with service_errors("create the fine-tuning job"):
            job = self._client.jobs.create_or_update(self.build_job(dataset, *assets))
        reporter.remote_id(job.name)
        reporter.event(f"submitted Azure ML job {job.name} fine-tuning {self._settings.model}")
        return self._follow(job.name, reporter)

    def resume(self, remote_id: str, reporter: Reporter) -> Outcome:
        return self._follow(remote_id, reporter)

    def _register(self, dataset: Dataset) -> tuple[str, str]:
        """Upload both splits as `uri_file` data assets; return their `azureml:<name>:<version>` references."""
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Data

        data_format = DatasetFormat.CHAT if self._settings.task == "chat_completion" else DatasetFormat.PROMPT
        references = []
        with tempfile.TemporaryDirectory(prefix="lmspace-sync-") as folder:
            for split in (Split.TRAIN, Split.VALIDATION):
                path = Path(folder) / f"{split.value}.jsonl"
                path.write_text(to_jsonl(dataset, split, data_format), encoding="utf-8")
                asset = Data(name=f"{MODEL_PREFIX}-{dataset.space_id}-{split.value}", version=dataset.id,
                             path=str(path), type=AssetTypes.URI_FILE,
                             description=f"LMSpace sync dataset {dataset.id}, {split.value} split")
                with service_errors(f"register the {split.value} data"):
                    registered = self._client.data.create_or_update(asset)
                references.append(f"azureml:{registered.name}:{registered.version}")
        return references[0], references[1]

    def _follow(self, name: str, reporter: Reporter) -> Outcome:
        def poll():
            with service_errors("report the job"):
                job = self._client.jobs.get(name)
            return _STATUSES.get(job.status, SyncStatus.RUNNING), f"Azure ML: {job.status}", job

        def cancel():
            with service_errors("cancel the job"):
                self._client.jobs.begin_cancel(name)

        status, job = poll_until_finished(reporter, poll, cancel, lambda: self._sleep(self._poll_s))
        if status is SyncStatus.SUCCEEDED:
            output = (getattr(job, "outputs", None) or {}).get("registered_model")
            model = getattr(output, "name", None) or f"{MODEL_PREFIX}-{job.name}"
            if getattr(output, "version", None):
                model = f"{model}:{output.version}"
            reporter.event(f"registered model {model}")
            return self._deployed(model, job.name, reporter)
        error = getattr(getattr(job, "error", None), "message", None) or job.status
        return Outcome(status, error=f"Azure ML job {name} ended {job.status}: {error}")

    def _deployed(self, model: str, job_name: str, reporter: Reporter) -> Outcome:
        """Deploy the registered model when deployment settings are given (the manager otherwise writes the
        deployment file and gives the commands, see `sync.next_steps.azure_ml_deploy`)."""
        name = online_deployment_name(job_name)
        show = (f"az ml online-deployment show --name {name} --endpoint-name {self._endpoint} "
                f"{workspace_options(self._settings)} --query provisioning_state")
        return deployed_outcome(self._deployer, model, name, job_name, reporter, setting="sync.azure_ml.deploy",
                                by_hand="", still_creating=f"wait until `{show}` says Succeeded")
