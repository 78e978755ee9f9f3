"""Event Grid deliveries: the validation handshakes, trusted sources only, and model events applied to spaces."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from lmspace_core.sync.backends.base import Outcome
from lmspace_core.sync.events import EventHandler, asgi_app
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import SyncStatus

TOPIC = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


class FinishedRemotely:
    """A backend whose remote job has already succeeded when it is asked again."""

    name, model_kind = "azure_ml", "deployment"

    def resume(self, remote_id, reporter):
        return Outcome(SyncStatus.SUCCEEDED, model_id=f"model-of-{remote_id}")


@pytest.fixture
def handled(workspace, backend):
    space = workspace.create_space("travel")
    manager = SyncManager(workspace, backends={"azure_ml": lambda _: FinishedRemotely()})
    yield EventHandler(manager, [TOPIC]), manager, space
    manager.close()


def event(kind: str, data: dict, topic: str = TOPIC) -> dict:
    return {"id": "1", "eventType": kind, "subject": "x", "data": data, "topic": topic, "dataVersion": "1",
            "eventTime": "2026-11-30T12:00:00Z"}


def deliver(handler: EventHandler, *events: dict):
    return handler.deliver(json.dumps(list(events)).encode())


def test_the_subscription_validation_code_is_echoed(handled):
    handler, *_ = handled
    reply = deliver(handler, event("Microsoft.EventGrid.SubscriptionValidationEvent", {"validationCode": "abc-123"}))
    assert (reply.status, reply.body) == (200, {"validationResponse": "abc-123"})
    options = handler.options("eventgrid.azure.net")
    assert options.status == 200 and ("WebHook-Allowed-Origin", "eventgrid.azure.net") in options.headers


def test_events_from_an_untrusted_topic_are_refused(handled):
    handler, manager, space = handled
    reply = deliver(handler, event("LMSpace.Sync.ModelReady", {"space": "travel", "model_id": "m"}, topic="/evil"))
    assert reply.status == 403 and manager.models(space) == []


def test_a_registered_lmspace_model_is_recorded_with_its_deployment_steps_but_not_activated(handled):
    handler, manager, space = handled
    reply = deliver(handler, event("Microsoft.MachineLearningServices.ModelRegistered",
                                   {"modelName": f"lmspace-{space.id}", "modelVersion": "3"}),
                    event("Microsoft.MachineLearningServices.ModelRegistered", {"modelName": "someone-else"}))
    assert reply.status == 200
    [version] = manager.models(space)
    assert not version.active and version.reference == f"lmspace-{space.id}:3" and version.backend == "azure_ml"
    recorded, ignored = reply.body["handled"]
    assert recorded.startswith(f"recorded lmspace-{space.id}:3 as model version {version.id}, not activated: deploy "
                               "it to an online endpoint with `az ml online-endpoint create")
    assert ignored == "ignored: not an LMSpace model"


def test_a_run_status_change_polls_the_sync_job_of_that_run(handled):
    handler, manager, space = handled
    job = manager.store.create_job(space.scope, "azure_ml", manager._owner)
    manager.store.update_job(job.enterprise_id, job.id, SyncStatus.RUNNING, "running", remote_id="run-9")
    reply = deliver(handler, event("Microsoft.MachineLearningServices.RunStatusChanged",
                                   {"runId": "run-9", "runStatus": "Completed"}))
    assert reply.body["handled"] == [f"polled {job.id}"]
    finished = manager.wait(job.id, timeout=30)
    assert finished.status is SyncStatus.SUCCEEDED and finished.model_id == "model-of-run-9"


def test_the_asgi_app_serves_the_handshake_and_deliveries(handled):
    handler, manager, space = handled

    async def exchange():
        transport = httpx.ASGITransport(app=asgi_app(handler))
        async with httpx.AsyncClient(transport=transport, base_url="http://events") as client:
            options = await client.options("/api/events", headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
            posted = await client.post("/api/events", json=[event("LMSpace.Sync.ModelReady",
                                                                  {"space": "travel", "model_id": "ft-7"})])
            missing = await client.get("/elsewhere")
            return options, posted, missing

    options, posted, missing = asyncio.run(exchange())
    assert options.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
    [version] = manager.models(space)
    assert posted.status_code == 200 and version.reference == "ft-7" and not version.active
    assert posted.json()["handled"][0].startswith(f"recorded ft-7 as model version {version.id}, not activated")
    assert missing.status_code == 404


def test_with_an_event_key_a_request_without_it_is_refused(handled):
    handler, manager, space = handled

    async def exchange():
        transport = httpx.ASGITransport(app=asgi_app(handler, key="s3cret"))
        async with httpx.AsyncClient(transport=transport, base_url="http://events") as client:
            delivery = [event("LMSpace.Sync.ModelReady", {"space": "travel", "model_id": "ft-7"})]
            return [await client.post("/api/events", json=delivery),
                    await client.post("/api/events?key=guess", json=delivery),
                    await client.options("/api/events", headers={"WebHook-Request-Origin": "eventgrid.azure.net"}),
                    await client.post("/api/events?key=s3cret", json=delivery)]

    no_key, wrong_key, handshake, keyed = asyncio.run(exchange())
    assert [no_key.status_code, wrong_key.status_code, handshake.status_code] == [401, 401, 401]
    assert "?key=<sync.event_key>" in no_key.json()["error"] and "s3cret" not in no_key.text
    assert keyed.status_code == 200
    [version] = manager.models(space)  # only the keyed delivery was acted on
    assert version.reference == "ft-7"


def test_serve_events_beyond_this_machine_needs_an_event_key(tmp_path):
    from typer.testing import CliRunner

    from lmspace_core.cli import app
    from tests.conftest import write_config

    result = CliRunner().invoke(app, ["--config", str(write_config(tmp_path)), "serve-events", "--address", "0.0.0.0"])
    assert result.exit_code == 3, result.output
    assert "set sync.event_key" in result.output and "Traceback" not in result.output
