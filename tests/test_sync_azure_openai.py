"""The azure_openai sync backend against a recording stand-in of the service, through the official `openai` client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.sync.backends.azure_openai import AzureOpenAIBackend
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import SyncStatus
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.fake_azure_openai import FakeAzureOpenAI, FakeFineTuning
from tests.test_sync_plan import POLICY, put

API_VERSION = "2025-04-01-preview"
KEY = "test-key-0123456789"
HAPPY = ["validating_files", "queued", "running", "succeeded"]


def sync_yaml(endpoint: str) -> str:
    """The sync section for the stand-in at `endpoint` (its azure_openai section last, to be added to)."""
    return f"""sync:
  backend: azure_openai
  min_examples: 4
  poll_s: 0.01
  azure_openai:
    endpoint: {endpoint}
    api_version: "{API_VERSION}"
    api_key: {KEY}
"""


def open_workspace(tmp_path: Path, endpoint: str, env: dict[str, str]) -> Workspace:
    return Workspace(load_config(write_config(tmp_path, sync_yaml(endpoint)), env=env))


@pytest.fixture
def service(request):
    script, hold = getattr(request, "param", (HAPPY, None))
    fake = FakeFineTuning(script=script, hold=hold)
    with FakeAzureOpenAI(fake) as server:
        yield fake, server.endpoint


@pytest.fixture
def synced(tmp_path: Path, service, backend, backend_environment):
    """A space of four documents on each store backend, and a sync manager pointed at the stand-in service."""
    fake, endpoint = service
    workspace = open_workspace(tmp_path, endpoint, backend_environment)
    space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
    for number in range(4):
        put(workspace, space, f"travel-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
    manager = SyncManager(workspace)
    yield fake, manager, space
    manager.close()
    workspace.close()


def test_a_job_is_uploaded_created_polled_to_success_with_events_and_metrics(synced):
    fake, manager, space = synced
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    assert job.remote_id == "ftjob-1" and job.model_id == "gpt-4o-mini-2024-07-18.ft-1"
    paths = fake.paths()
    assert paths[:3] == ["POST /openai/files", "POST /openai/files", "POST /openai/fine_tuning/jobs"]
    assert {"GET /openai/fine_tuning/jobs/ftjob-1", "GET /openai/fine_tuning/jobs/ftjob-1/events",
            "GET /openai/fine_tuning/jobs/ftjob-1/checkpoints", "GET /openai/files/file-result/content"} <= set(paths)
    assert all(r.query.get("api-version") == [API_VERSION] for r in fake.requests)
    assert all(r.headers.get("api-key") == KEY and "authorization" not in r.headers for r in fake.requests)

    upload = fake.requests[0]
    assert b'name="purpose"' in upload.body and b"fine-tune" in upload.body
    first_row = next(line for line in upload.body.splitlines() if line.startswith(b"{\"messages\""))
    assert [m["role"] for m in json.loads(first_row)["messages"]] == ["system", "user", "assistant"]
    created = json.loads(fake.requests[2].body)
    assert created["training_file"] == "file-1" and created["validation_file"] == "file-2"
    assert created["model"] == "gpt-4o-mini-2024-07-18" and created["suffix"] == "lmspace"

    events = manager.events(job.id)
    statuses = list(dict.fromkeys(event.status for event in events))
    assert statuses == [SyncStatus.CREATED, SyncStatus.VALIDATING, SyncStatus.QUEUED, SyncStatus.RUNNING,
                        SyncStatus.SUCCEEDED]
    messages = [event.message for event in events]
    assert "Training started." in messages and any("ckpt-step-3" in m for m in messages)
    metrics = manager.metrics(job.id)
    assert [m.step for m in metrics] == [1, 2, 3]
    assert metrics[-1].validation_loss == pytest.approx(0.97) and metrics[-1].accuracy == pytest.approx(0.74)

    [version] = manager.models(space)
    assert version.reference == job.model_id and not version.active
    assert "not activated" in job.message and "deploy" in job.message
    assert manager.plan(space).is_empty  # a successful sync moves the space's sync point


def test_entra_id_sends_a_bearer_token_instead_of_a_key(synced):
    from openai import AzureOpenAI

    fake, manager, space = synced
    settings = manager.settings.sync.azure_openai
    client = AzureOpenAI(azure_endpoint=settings.endpoint, api_version=API_VERSION,
                         azure_ad_token_provider=lambda: "entra-token")
    job = manager.sync_to_llm(space=space, backend=AzureOpenAIBackend(client, settings, poll_s=0.01), wait=True)
    assert job.status is SyncStatus.SUCCEEDED
    assert all(r.headers.get("authorization") == "Bearer entra-token" and "api-key" not in r.headers
               for r in fake.requests)


@pytest.mark.parametrize("service", [(["validating_files", "failed"], None)], indirect=True)
def test_a_failed_remote_job_fails_with_the_service_reason(synced):
    fake, manager, space = synced
    job = manager.sync_to_llm(space=space, wait=True)
    assert job.status is SyncStatus.FAILED
    assert "ftjob-1 failed: Bad file." in job.error
    assert manager.models(space) == [] and not manager.plan(space).is_empty


@pytest.mark.parametrize("service", [(HAPPY, "running")], indirect=True)
def test_cancel_reaches_the_service_and_the_job_ends_cancelled(synced):
    fake, manager, space = synced
    job = manager.sync_to_llm(space=space)
    deadline = time.monotonic() + 30
    while manager.job(job.id).status is not SyncStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    manager.cancel(job.id)
    job = manager.wait(job.id, timeout=30)
    assert job.status is SyncStatus.CANCELLED
    assert "POST /openai/fine_tuning/jobs/ftjob-1/cancel" in fake.paths()


def test_a_remote_job_left_by_a_stopped_process_is_polled_again(synced):
    fake, manager, space = synced
    fake.handle("POST", "/openai/fine_tuning/jobs", json.dumps(
        {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-1", "validation_file": "file-2"}).encode())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = manager.store.create_job(space.scope, "azure_openai", f"{socket.gethostname()}:{dead.pid}")
    manager.store.update_job(orphan.enterprise_id, orphan.id, SyncStatus.RUNNING, "running", remote_id="ftjob-1")

    reader = SyncManager(manager.workspace, resume=False)  # e.g. `lmspace sync status`: looks, does not take over
    assert reader.job(orphan.id).status is SyncStatus.RUNNING
    assert "GET /openai/fine_tuning/jobs/ftjob-1" not in fake.paths()
    reader.close()
    restarted = SyncManager(manager.workspace)
    try:
        job = restarted.wait(orphan.id, timeout=30)
    finally:
        restarted.close()
    assert job.status is SyncStatus.SUCCEEDED and job.model_id == "gpt-4o-mini-2024-07-18.ft-1"
    assert "polling again after a restart" in [event.message for event in restarted.events(job.id)]
