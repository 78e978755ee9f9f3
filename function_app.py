"""LMSpace's Event Grid endpoint as an Azure Functions app (Python v2 programming model).

Deploy this repository as a Function App (`func azure functionapp publish <app>`, with `azure-functions` and LMSpace
installed from `pyproject.toml`), set `LMSPACE_CONFIG` (or `LMSPACE_*` variables) in its application settings, and
subscribe the Event Grid topic to `https://<app>.azurewebsites.net/api/events?code=<function key>`. The handler is
the one `lmspace serve-events` serves (`lmspace_core.sync.events.EventHandler`), tested directly.
"""

from __future__ import annotations

import json
from functools import cache

import azure.functions as func

from lmspace_core.sync.events import EventHandler
from lmspace_core.sync.manager import SyncManager
from lmspace_core.workspace import Workspace

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@cache
def _handler() -> EventHandler:
    workspace = Workspace.open()
    return EventHandler(SyncManager(workspace), workspace.settings.sync.event_sources)


@app.route(route="events", methods=["POST", "OPTIONS"])
def events(request: func.HttpRequest) -> func.HttpResponse:
    if request.method == "OPTIONS":
        reply = _handler().options(request.headers.get("WebHook-Request-Origin"))
    else:
        reply = _handler().deliver(request.get_body())
    return func.HttpResponse(json.dumps(reply.body), status_code=reply.status, headers=dict(reply.headers),
                             mimetype="application/json")
