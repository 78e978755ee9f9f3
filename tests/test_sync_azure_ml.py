"""The azure_ml sync backend: the data assets and the fine-tuning job it builds and submits, on a recording MLClient
(tests/fake_azure_ml)."""

from __future__ import annotations

from datetime import UTC, datetime

from lmspace_core.config import AzureMLSyncSettings
from lmspace_core.sync.backends.azure_ml import AzureMLBackend
from lmspace_core.sync.model import Dataset, Example, Split, SyncStatus
from tests.fake_azure_ml import FakeAzureML

SETTINGS = AzureMLSyncSettings(subscription_id="sub", resource_group="rg", workspace="ws",
                               model="azureml://registries/azureml/models/Phi-4-mini-instruct/labels/latest")


class Reporter:
    def __init__(self, cancel: bool = False) -> None:
        self.statuses, self.events, self.remote, self.cancel = [], [], None, cancel

    def status(self, status, message=""):
        self.statuses.append(status)

    def event(self, message):
        self.events.append(message)

    def metrics(self, metrics):
        pass

    def remote_id(self, remote_id):
        self.remote = remote_id

    def cancel_requested(self):
        return self.cancel


def dataset() -> Dataset:
    examples = tuple(Example(f"Question {n}?", f"Answer {n}.", f"Passage {n}.", "doc", "a.md", "heading",
                             Split.VALIDATION if n == 0 else Split.TRAIN) for n in range(4))
    return Dataset("ds1", "acme", "space1", "Be brief.", 0, 3, examples, datetime.now(UTC))


def test_the_job_carries_the_model_task_training_and_validation_assets():
    from azure.ai.ml.entities import CustomModelFineTuningJob

    client = FakeAzureML(["Queued", "Running", "Completed"])
    reporter = Reporter()
    outcome = AzureMLBackend(client, SETTINGS, poll_s=0, endpoint="lmspace-space1").run(dataset(), reporter)

    assert [(a.name, a.version, a.type) for a in client.assets] == [
        ("lmspace-space1-train", "ds1", "uri_file"), ("lmspace-space1-validation", "ds1", "uri_file")]
    assert client.asset_rows[0][0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert len(client.asset_rows[0]) == 3 and len(client.asset_rows[1]) == 1
    [job] = client.submitted
    assert isinstance(job, CustomModelFineTuningJob)
    assert job.task == "chat_completion"
    assert job.model.path == SETTINGS.model
    assert job.training_data.path == "azureml:lmspace-space1-train:ds1"
    assert job.validation_data.path == "azureml:lmspace-space1-validation:ds1"
    assert job.outputs["registered_model"].name == "lmspace-space1"
    assert job.experiment_name == "lmspace-sync"
    assert reporter.remote == "ml-job-7"
    assert reporter.statuses == [SyncStatus.QUEUED, SyncStatus.RUNNING]
    assert outcome.status is SyncStatus.SUCCEEDED and outcome.model_id == "lmspace-space1:1"
    assert (outcome.deployment, outcome.deployed) == ("ft-ml-job-7", False)  # no sync.azure_ml.deploy settings
    assert "not deployed (sync.azure_ml.deploy is not set)" in reporter.events[-1]


def test_a_cancel_request_calls_begin_cancel_and_the_job_ends_cancelled():
    client = FakeAzureML(["Running", "CancelRequested", "Canceled"])
    outcome = AzureMLBackend(client, SETTINGS, poll_s=0, endpoint="lmspace-space1").resume("ml-job-7", Reporter(cancel=True))
    assert client.cancelled == ["ml-job-7"]
    assert outcome.status is SyncStatus.CANCELLED


def test_a_failed_job_reports_failed():
    outcome = AzureMLBackend(FakeAzureML(["Failed"]), SETTINGS, poll_s=0, endpoint="lmspace-space1").resume("ml-job-7", Reporter())
    assert outcome.status is SyncStatus.FAILED and "ml-job-7 ended Failed" in outcome.error


def test_the_ml_client_signs_in_with_the_process_shared_credential():
    from lmspace_core.stores.azure.clients import default_credential
    from lmspace_core.sync.backends.azure_ml import ml_client_from_settings

    client = ml_client_from_settings(SETTINGS)
    assert client._credential is default_credential()
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == ("sub", "rg", "ws")
