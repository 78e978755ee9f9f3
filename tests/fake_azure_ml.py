"""A stand-in for an Azure ML workspace: a recording `MLClient` at the SDK-object level, and the scoring endpoint
of its online deployments as a real loopback HTTP server that records every request.

There is no emulator for Azure ML. The client side records the SDK entities the backend builds (data assets, the
fine-tuning job, the managed online endpoint and deployments) and plays the job through `statuses`; creating an
online deployment ends as `deployment_state` ("hold": never). The scoring side answers only deployments that exist
(created through the client, or listed in `served`) and have a scripted reply, in the format the request used
(after answering the statuses of `outages`, if any):
`{"input_data": {"input_string": [messages]}}` on /score, or `{"messages": [...]}` on /v1/chat/completions.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.fake_azure_openai import FakeAzureOpenAI, Recorded, Reply

KEY = "aml-endpoint-key-0123"


class FakePoller:
    """An `LROPoller` of a long-running Azure ML operation: done after `waits` calls of `wait`, or never."""

    def __init__(self, result, waits: int | None = 1) -> None:
        self._result, self._waits = result, waits

    def done(self) -> bool:
        return self._waits is not None and self._waits <= 0

    def wait(self, timeout: float | None = None) -> None:
        if self._waits is None:
            time.sleep(min(timeout or 0.05, 0.05))
        else:
            self._waits -= 1

    def result(self, timeout: float | None = None):
        return self._result


@dataclass
class FakeAzureML:
    """The workspace's state: what the client was asked to create, and every scoring request received."""

    statuses: list[str]
    replies: dict[str, Reply] = field(default_factory=dict)  # deployment name -> how it answers
    served: set[str] = field(default_factory=set)  # deployments that exist (made by hand or by a sync)
    deployment_state: str = "Succeeded"  # how an online deployment created through the client ends; "hold": never
    refuse_deletes: bool = False
    token_auth: bool = False  # the endpoint authenticates with Azure ML tokens (`auth_mode: aml_token`), not keys
    outages: list[int] = field(default_factory=list)  # statuses the next scoring requests get (Retry-After: 0)
    keys_read: int = 0  # how often the endpoint's keys were asked for
    registered_model: tuple[str, str] = ("lmspace-space1", "1")
    endpoints: dict[str, object] = field(default_factory=dict)
    created_endpoints: list = field(default_factory=list)
    created_deployments: list = field(default_factory=list)
    deleted_deployments: list[tuple[str, str]] = field(default_factory=list)
    assets: list = field(default_factory=list)
    asset_rows: list[list[dict]] = field(default_factory=list)  # each registered asset's JSONL rows
    submitted: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)
    taught: dict[str, str] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    scoring_base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.data = SimpleNamespace(create_or_update=self._register)
        self.jobs = SimpleNamespace(create_or_update=self._submit, get=self._get, begin_cancel=self.cancelled.append)
        self.online_endpoints = SimpleNamespace(get=self._endpoint, get_keys=self._keys,
                                                begin_create_or_update=self._create_endpoint)
        self.online_deployments = SimpleNamespace(begin_create_or_update=self._create_deployment,
                                                  begin_delete=self._delete_deployment)

    # -- the MLClient surface ------------------------------------------------------------------------------------

    def _register(self, asset):
        self.assets.append(asset)
        self.asset_rows.append([json.loads(line) for line in Path(asset.path).read_text().splitlines()])
        for row in self.asset_rows[-1]:
            self.taught[row["messages"][1]["content"]] = row["messages"][2]["content"]
        return SimpleNamespace(name=asset.name, version=asset.version)

    def _submit(self, job):
        self.submitted.append(job)
        return SimpleNamespace(name="ml-job-7", status="NotStarted")

    def _get(self, name):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        model, version = self.registered_model
        outputs = {"registered_model": SimpleNamespace(name=model, version=version)} if status == "Completed" else {}
        return SimpleNamespace(name=name, status=status, outputs=outputs, error=None)

    def _endpoint(self, name):
        if name not in self.endpoints:
            raise ResourceNotFoundError(f"online endpoint {name} not found")
        return SimpleNamespace(name=name, scoring_uri=f"{self.scoring_base}/score")

    def _keys(self, name):
        self._endpoint(name)
        self.keys_read += 1
        return SimpleNamespace(access_token=KEY) if self.token_auth else SimpleNamespace(primary_key=KEY)

    def _create_endpoint(self, endpoint):
        self.created_endpoints.append(endpoint)
        self.endpoints[endpoint.name] = endpoint
        return FakePoller(endpoint)

    def _create_deployment(self, deployment):
        self.created_deployments.append(deployment)
        if self.deployment_state == "hold":
            return FakePoller(None, waits=None)
        if self.deployment_state == "Succeeded":
            self.served.add(deployment.name)
        return FakePoller(SimpleNamespace(name=deployment.name, provisioning_state=self.deployment_state), waits=2)

    def _delete_deployment(self, name, endpoint_name):
        if self.refuse_deletes:
            raise HttpResponseError(f"AuthorizationFailed: no permission to delete {name}")
        self.deleted_deployments.append((name, endpoint_name))
        self.served.discard(name)
        return FakePoller(None)

    # -- the scoring endpoint ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes, base: str = "") -> tuple[int, dict, dict[str, str]]:
        """Answer the request just recorded (the server records each request before asking for its answer)."""
        with self.lock:
            headers = self.requests[-1].headers
            if self.outages:
                return self.outages.pop(0), {"message": "upstream request timeout"}, {"Retry-After": "0"}
            if headers.get("authorization") != f"Bearer {KEY}":
                return 401, {"error": "invalid key"}, {}
            name = headers.get("azureml-model-deployment", "")
            reply = self.replies.get(name)
            if name not in self.served or reply is None:
                return 404, {"message": f"No deployment '{name}' could be found on this endpoint."}, {}
            request = json.loads(body)
            if method == "POST" and path == "/score":
                answer = reply(request["input_data"]["input_string"][-1]["content"], self.taught)
                return 200, {"output": answer}, {}
            if method == "POST" and path == "/v1/chat/completions":
                answer = reply(request["messages"][-1]["content"], self.taught)
                return 200, {"id": "chatcmpl-1", "object": "chat.completion", "model": name, "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}]}, {}
            return 404, {"message": f"{method} {path}"}, {}


class ScoringServer(FakeAzureOpenAI):
    """Serve a `FakeAzureML`'s scoring endpoint on a free loopback port (a context manager)."""

    def __enter__(self) -> ScoringServer:
        super().__enter__()
        self.service.scoring_base = self.endpoint
        self._server.handle_error = _unless_the_client_left
        return self


def _unless_the_client_left(request, client_address) -> None:
    """Report a failed request as the server would, except a client that stopped waiting (a scoring timeout)."""
    if not isinstance(sys.exc_info()[1], ConnectionError):
        traceback.print_exc()
