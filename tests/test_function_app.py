"""`function_app.py`, the Event Grid endpoint as an Azure Functions app, called as the Functions host calls it."""

from __future__ import annotations

import json
from functools import cache

import azure.functions as func
import pytest

from lmspace_core.config import load_config
from lmspace_core.sync.manager import SyncManager
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

TOPIC = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
URL = "https://lmspace-events.azurewebsites.net/api/events"


@cache
def events_function():
    """The route's Python function, as the host indexes it (the app lets its functions be indexed once)."""
    import function_app

    [function] = function_app.app.get_functions()
    return function.get_user_function()


@pytest.fixture
def events(tmp_path, monkeypatch):
    """The app's `events` function, on a data directory with a space `travel`, trusting `TOPIC` (LMSPACE_CONFIG, as
    the Function App's application settings give it)."""
    config = write_config(tmp_path, f"sync:\n  event_sources: ['{TOPIC}']\n")
    monkeypatch.setenv("LMSPACE_CONFIG", str(config))
    workspace = Workspace(load_config(config, env={}))
    workspace.create_space("travel")
    workspace.close()
    import function_app

    function_app._handler.cache_clear()
    yield events_function()
    function_app._handler()._manager.workspace.close()  # the host keeps it for the app's life; a test does not
    function_app._handler.cache_clear()


def post(events, body: object) -> func.HttpResponse:
    return events(func.HttpRequest("POST", URL, body=json.dumps(body).encode()))


def test_the_function_answers_both_subscription_handshakes(events):
    reply = post(events, [{"id": "1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "topic": TOPIC,
                           "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}])
    assert reply.status_code == 200
    assert json.loads(reply.get_body()) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    options = events(func.HttpRequest("OPTIONS", URL, body=b"",
                                      headers={"WebHook-Request-Origin": "eventgrid.azure.net"}))
    assert options.status_code == 200 and options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_the_function_records_a_model_event_of_a_trusted_topic_and_refuses_others(events, tmp_path):
    refused = post(events, [{"eventType": "LMSpace.Sync.ModelReady", "topic": "/elsewhere",
                             "data": {"space": "travel", "model_id": "ft-1"}}])
    accepted = post(events, [{"eventType": "LMSpace.Sync.ModelReady", "topic": TOPIC,
                              "data": {"space": "travel", "model_id": "ft-7"}}])
    assert refused.status_code == 403
    assert accepted.status_code == 200 and accepted.mimetype == "application/json"
    workspace = Workspace(load_config(tmp_path / "lmspace.yaml", env={}))
    try:
        [version] = SyncManager(workspace, resume=False).models("travel")
    finally:
        workspace.close()
    assert version.reference == "ft-7" and not version.active
    assert json.loads(accepted.get_body())["handled"][0].startswith(f"recorded ft-7 as model version {version.id}")
