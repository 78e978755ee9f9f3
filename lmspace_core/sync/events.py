"""Azure Event Grid deliveries about models, turned into sync actions; an ASGI app serves them (`lmspace serve-events`).

Event Grid first proves the endpoint is ours: an Event Grid schema subscription sends a
`SubscriptionValidationEvent` whose `validationCode` must be echoed; a CloudEvents subscription sends an `OPTIONS`
request whose `WebHook-Request-Origin` must be allowed. After that each delivery is a list of events; only events
from the configured sources (topics) are acted on, and only these types:

- `Microsoft.MachineLearningServices.ModelRegistered` / `ModelDeployed` for a model named `lmspace-<space id>`
  (what the azure_ml backend registers): the model is taken up as a version of the space (`pull_llm_updates`). Once
  deployed, the version a sync made of it is evaluated through the online deployment it is to be served by and
  activated only if better; a model only registered is not served yet, so the reply gives the commands that deploy
  it and then evaluate (or, for a model no sync made, activate) it;
- `Microsoft.MachineLearningServices.RunStatusChanged` for a sync job's Azure ML run: the job is polled now;
- `LMSpace.Sync.ModelReady` (`{"space": ..., "model_id": ..., "deployment": ...}`, e.g. sent once an Azure OpenAI
  deployment exists; `model_id` is the fine-tuned model or the deployment, `deployment` is optional): the version a
  sync made of that model is evaluated through the deployment against the space's current model and activated only
  if it scores better, exactly as at the end of a sync. A model no sync of the space made is recorded, not activated.

An event never forces a switch: `lmspace sync activate` (or `pull_llm_updates(..., force=True)`) does. Event Grid
retries a delivery it had no answer to within 30 s, and an evaluation can take longer; model events are therefore
applied one at a time, so a retry waits for the first delivery and then finds its model already decided.

Anything else is acknowledged and ignored, so Event Grid does not retry it.

The topic in an event is whatever the sender wrote, so it proves nothing about who sent it. With `sync.event_key`
set, the ASGI app answers only requests whose URL carries `?key=<the key>` (the subscription's endpoint URL holds
it, as Event Grid recommends for webhooks); `lmspace serve-events` refuses to listen beyond this machine without one.
The Azure Functions app has its own function key instead.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from lmspace_core.errors import LMSpaceError
from lmspace_core.sync.backends.azure_ml import MODEL_PREFIX

log = logging.getLogger(__name__)

VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
MODEL_DEPLOYED = "Microsoft.MachineLearningServices.ModelDeployed"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
MODEL_READY = "LMSpace.Sync.ModelReady"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()


class EventHandler:
    """Acts on Event Grid deliveries for one `SyncManager`; `sources` are the topics (prefixes) it trusts."""

    def __init__(self, manager, sources: Sequence[str]) -> None:
        self._manager, self._sources = manager, tuple(sources)
        self._pulling = threading.Lock()  # one model event at a time (see the module docstring)

    def options(self, origin: str | None) -> Reply:
        """The CloudEvents webhook handshake: allow the origin that asks."""
        if not origin:
            return Reply(400, {"error": "WebHook-Request-Origin header missing"})
        return Reply(200, headers=(("WebHook-Allowed-Origin", origin), ("WebHook-Allowed-Rate", "120")))

    def deliver(self, body: bytes) -> Reply:
        """Handle one POSTed delivery (a JSON list of Event Grid events, or one CloudEvent)."""
        try:
            events = json.loads(body)
        except ValueError:
            return Reply(400, {"error": "the body is not JSON"})
        events = events if isinstance(events, list) else [events]
        handled = []
        for event in events:
            if not isinstance(event, dict):
                return Reply(400, {"error": "an event is not a JSON object"})
            kind = event.get("eventType") or event.get("type")
            source = event.get("topic") or event.get("source") or ""
            if kind == VALIDATION:
                return Reply(200, {"validationResponse": (event.get("data") or {}).get("validationCode")})
            if not source.startswith(self._sources) or not self._sources:
                return Reply(403, {"error": f"events from '{source}' are not accepted (sync.event_sources)"})
            handled.append(self._act(kind, event.get("data") or {}))
        return Reply(200, {"handled": handled})

    def _act(self, kind: str | None, data: dict) -> str:
        try:
            if kind in (MODEL_REGISTERED, MODEL_DEPLOYED):
                name = data.get("modelName") or ""
                if not name.startswith(f"{MODEL_PREFIX}-"):
                    return "ignored: not an LMSpace model"
                model_id = f"{name}:{data['modelVersion']}" if data.get("modelVersion") else name
                with self._pulling:
                    return self._pulled(self._manager.pull_llm_updates(
                        model_id, name.removeprefix(f"{MODEL_PREFIX}-"), backend="azure_ml",
                        deployed=kind == MODEL_DEPLOYED))
            if kind == MODEL_READY:
                with self._pulling:
                    return self._pulled(self._manager.pull_llm_updates(data["model_id"], data["space"],
                                                                       deployment=data.get("deployment")))
            if kind == RUN_STATUS_CHANGED:
                job = self._manager.poll_remote(data.get("runId") or "")
                return f"polled {job.id}" if job else "ignored: not a sync job"
        except (LMSpaceError, KeyError) as error:
            log.warning("event %s not applied: %s", kind, error)
            return f"not applied: {error}"
        return "ignored"

    def _pulled(self, version) -> str:
        """What became of a model an event named: activated, or why not (scores, or the step still to take)."""
        if version.active:
            return f"activated {version.reference}"
        if version.job_id and version.score_after is not None:
            return self._manager.job(version.job_id).message
        return (f"recorded {version.reference} as model version {version.id}, not activated: "
                f"{self._manager.pending_step(version)}")


Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def _carries_key(scope: dict, key: str) -> bool:
    """Whether the request's query string holds `key=<key>` (compared in constant time)."""
    given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key", [""])[0]
    return hmac.compare_digest(given.encode(), key.encode())


def asgi_app(handler: EventHandler, path: str = "/api/events", key: str | None = None):
    """A minimal ASGI app: `POST path` delivers events, `OPTIONS path` is the CloudEvents handshake; with `key`,
    a request without `?key=<key>` is refused (401) before anything is read."""

    async def app(scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != path:
            reply = Reply(404, {"error": f"only {path} is served"})
        elif key is not None and not _carries_key(scope, key):
            reply = Reply(401, {"error": f"a key is required: subscribe with {path}?key=<sync.event_key>"})
        elif scope["method"] == "OPTIONS":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            reply = handler.options(headers.get("webhook-request-origin"))
        elif scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            reply = await asyncio.to_thread(handler.deliver, body)  # an evaluation must not stall the server
        else:
            reply = Reply(405, {"error": "use POST (events) or OPTIONS (handshake)"})
        payload = json.dumps(reply.body).encode()
        headers = [(b"content-type", b"application/json"), *((k.encode(), v.encode()) for k, v in reply.headers)]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app
