"""Serving Azure ML fine-tuned models: one managed online endpoint per space, one deployment per model version.

`OnlineDeployer` creates the endpoint (the first time a space needs it) and a managed online deployment of each
fine-tuned model with `azure-ai-ml`, waiting for it like the Azure OpenAI deployer does (cancel, timeout; see
`sync.serving`). Every deployment takes no traffic: `EndpointChat` asks one deployment by name through the endpoint's
scoring URI with its key and the `azureml-model-deployment` header, so the new model and the space's current one
answer side by side on the same endpoint, for the evaluation and, once one is the space's active model, for the
space's agent (`sync.endpoint_lm`).

What a deployment understands depends on the model (`sync.azure_ml.request_format`):
- `azureml_chat`, the scoring script of fine-tuned catalog models: POST the scoring URI with
  `{"input_data": {"input_string": [messages], "parameters": {...}}}`, answered `{"output": "<reply>"}`;
- `openai_chat`, models served by vLLM (and serverless endpoints): POST `/v1/chat/completions` on the endpoint's host
  with `{"messages": [...], ...}`, answered with `choices[0].message.content`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from lmspace_core.config import AzureMLSyncSettings
from lmspace_core.errors import ModelError
from lmspace_core.sync.next_steps import model_uri, workspace_options
from lmspace_core.sync.serving import wait_for

MAX_REPLY_TOKENS = 512  # a reply to one held-out question
SCORING_TIMEOUT_S = 120.0
_NAME_LIMIT = 32  # an online deployment's name: 3-32 letters, digits and hyphens, from a letter


def online_deployment_name(remote_job_id: str) -> str:
    """The deployment serving the model of Azure ML job `remote_job_id` (job names may hold underscores)."""
    slug = re.sub(r"[^a-z0-9]+", "-", remote_job_id.lower()).strip("-")
    name = f"ft-{slug}"
    if len(name) > _NAME_LIMIT:  # still one name per job: the cut part is kept as a hash
        name = f"{name[:_NAME_LIMIT - 9].rstrip('-')}-{hashlib.sha1(slug.encode()).hexdigest()[:8]}"
    return name


@contextmanager
def service_errors(doing: str) -> Iterator[None]:
    """Azure ML's own errors (`AzureError`) as a `ModelError` saying what was being done."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as error:
        raise ModelError(f"Azure ML refused to {doing}: {error}") from error


class EndpointError(ModelError):
    """A deployment of an online endpoint did not answer: `status` is the HTTP status it answered (None: no answer
    came, `timed_out` says whether for lack of time), `retry_after` the seconds the endpoint asked to wait."""

    def __init__(self, message: str, *, status: int | None = None, timed_out: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.timed_out, self.retry_after = status, timed_out, retry_after


class EndpointChat:
    """Asks one deployment of an online endpoint (`chat(deployment, messages) -> reply`): what `sync.evaluate` needs,
    and what the space's agent answers through once such a deployment is its active model (`sync.endpoint_lm`).

    The scoring URI and key (or token, for an endpoint with `aml_token` authentication) are read once, with `client`
    (an `MLClient`), on the first question, and kept in this object only (never logged or put into a message). An
    endpoint that refuses them (HTTP 401/403: a regenerated key, an expired token) makes the next question read them
    again. Failures raise `EndpointError`."""

    def __init__(self, client, settings: AzureMLSyncSettings, endpoint: str,
                 timeout_s: float = SCORING_TIMEOUT_S) -> None:
        self._client, self._settings, self._endpoint, self._timeout_s = client, settings, endpoint, timeout_s
        self._target: tuple[str, str] | None = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def __call__(self, deployment: str, messages: list[dict[str, str]], *, max_tokens: int = MAX_REPLY_TOKENS,
                 temperature: float = 0.0) -> str:
        """The deployment's reply to `messages` (at most `max_tokens`; greedy at temperature 0)."""
        url, key = self._scoring_target()
        if self._settings.request_format == "openai_chat":
            parts = urlsplit(url)
            url = f"{parts.scheme}://{parts.netloc}/v1/chat/completions"
            body: dict = {"messages": messages, "temperature": temperature, "max_tokens": max_tokens}
        else:
            sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            body = {"input_data": {"input_string": messages,
                                   "parameters": {**sampling, "max_new_tokens": max_tokens}}}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {key}",
            "azureml-model-deployment": deployment})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            raise self._refused(deployment, error) from error
        except (urllib.error.URLError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise EndpointError(f"Azure ML endpoint '{self._endpoint}' did not answer within "
                                    f"{self._timeout_s:g} s at {url}.", timed_out=True) from error
            raise EndpointError(f"Azure ML endpoint '{self._endpoint}' could not be reached at {url}: "
                                f"{reason}.") from error
        return self._reply(payload, deployment, status)

    def _refused(self, deployment: str, error: urllib.error.HTTPError) -> EndpointError:
        """What an HTTP error answer means, and what to run about it."""
        from lmspace_core.stores.azure.retry import retry_after_seconds

        detail = error.read()[:300].decode("utf-8", "replace")
        where = workspace_options(self._settings)
        if error.code in (401, 403):
            with self._lock:
                self._target = None  # read the key again: it may have been regenerated, or the token expired
            return EndpointError(
                f"Azure ML endpoint '{self._endpoint}' refused its key for deployment '{deployment}' (HTTP "
                f"{error.code}): {detail}; the key is read again on the next request (`az ml online-endpoint "
                f"get-credentials --name {self._endpoint} {where}` shows the current keys).", status=error.code)
        gone = (f"the deployment may no longer exist (`az ml online-deployment list --endpoint-name {self._endpoint} "
                f"{where}` lists those that do); " if error.code == 404 else "")
        return EndpointError(
            f"Azure ML deployment '{deployment}' of endpoint '{self._endpoint}' answered HTTP {error.code}: {detail}; "
            f"{gone}`az ml online-deployment get-logs --name {deployment} --endpoint-name {self._endpoint} {where}` "
            "shows what it logged.", status=error.code, retry_after=retry_after_seconds(error))

    def _reply(self, payload: bytes, deployment: str, status: int) -> str:
        try:
            data = json.loads(payload)
            reply = (data["choices"][0]["message"]["content"] if self._settings.request_format == "openai_chat"
                     else data["output"])
            if isinstance(reply, str):
                return reply
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        other = "azureml_chat" if self._settings.request_format == "openai_chat" else "openai_chat"
        raise EndpointError(f"Azure ML deployment '{deployment}' answered in a form {self._settings.request_format} "
                            f"does not expect: {payload[:200].decode('utf-8', 'replace')}; if the model serves the "
                            f"other format, set sync.azure_ml.request_format: {other}.", status=status)

    def _scoring_target(self) -> tuple[str, str]:
        with self._lock:
            if self._target is None:
                with service_errors(f"give the scoring URI and key of online endpoint '{self._endpoint}'"):
                    uri = self._client.online_endpoints.get(self._endpoint).scoring_uri
                    keys = self._client.online_endpoints.get_keys(self._endpoint)
                key = getattr(keys, "primary_key", None) or keys.access_token  # a key endpoint, or an aml_token one
                self._target = (uri, key)
            return self._target


class OnlineDeployer:
    """Creates the space's online endpoint when it is missing and one managed online deployment per fine-tuned model,
    and waits until it serves (`ModelDeployer`)."""

    def __init__(self, client, settings: AzureMLSyncSettings, endpoint: str) -> None:
        assert settings.deploy is not None  # the factory builds a deployer only with deploy settings
        self._client, self._settings, self._endpoint = client, settings, endpoint
        self._timeout_s, self.keep_losers = settings.deploy.timeout_s, settings.deploy.keep_losers

    def name_for(self, remote_job_id: str) -> str:
        return online_deployment_name(remote_job_id)

    def delete(self, name: str) -> None:
        """Start deleting deployment `name` of the space's endpoint (Azure ML finishes it on its own)."""
        with service_errors(f"delete deployment '{name}' of online endpoint '{self._endpoint}'"):
            self._client.online_deployments.begin_delete(name=name, endpoint_name=self._endpoint)

    def build_endpoint(self):
        """The space's managed online endpoint, authenticated by key (what `EndpointChat` uses)."""
        from azure.ai.ml.entities import ManagedOnlineEndpoint

        return ManagedOnlineEndpoint(name=self._endpoint, auth_mode="key",
                                     description="LMSpace: the fine-tuned models of a space, one deployment each")

    def build_deployment(self, model_id: str, name: str):
        """The managed online deployment of a registered fine-tuned model."""
        from azure.ai.ml.entities import ManagedOnlineDeployment

        return ManagedOnlineDeployment(name=name, endpoint_name=self._endpoint, model=model_uri(model_id),
                                       instance_type=self._settings.instance_type,
                                       instance_count=self._settings.instance_count)

    def deploy(self, model_id: str, remote_job_id: str, cancelled: Callable[[], bool] = lambda: False) -> str:
        """Deploy the registered `model_id` on the space's endpoint; return the deployment's name once it serves.

        Raises `DeploymentCancelledError` as soon as `cancelled()`, `DeploymentUnfinishedError` once `timeout_s` has
        passed (endpoint and deployment together), `ModelError` when Azure ML refuses or the deployment fails."""
        name = self.name_for(remote_job_id)
        deadline = time.monotonic() + self._timeout_s
        with service_errors(f"deploy {model_id} as '{name}' on online endpoint '{self._endpoint}'"):
            self._ensure_endpoint(deadline, cancelled)
            poller = self._client.online_deployments.begin_create_or_update(self.build_deployment(model_id, name))
            self._wait(poller, deadline, cancelled, f"deployment '{name}' of {model_id}",
                       f"az ml online-deployment delete --name {name} --endpoint-name {self._endpoint}")
            result = poller.result()
        state = getattr(result, "provisioning_state", None)
        if state not in (None, "Succeeded"):
            raise ModelError(f"Online deployment '{name}' of {model_id} ended {state}.")
        return name

    def _ensure_endpoint(self, deadline: float, cancelled: Callable[[], bool]) -> None:
        """Create the space's endpoint unless it exists (once per space: later models are deployed beside)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._client.online_endpoints.get(self._endpoint)
        except ResourceNotFoundError:
            poller = self._client.online_endpoints.begin_create_or_update(self.build_endpoint())
            self._wait(poller, deadline, cancelled, f"online endpoint '{self._endpoint}'",
                       f"az ml online-endpoint delete --name {self._endpoint}")
            poller.result()

    def _wait(self, poller, deadline: float, cancelled: Callable[[], bool], what: str, delete: str) -> None:
        wait_for(poller, deadline - time.monotonic(), cancelled,
                 on_cancel=f"Cancelled while {what} was being created on Azure ML; Azure may still finish creating "
                 f"it (`{delete} {workspace_options(self._settings)} --yes` removes it).",
                 on_timeout=f"{what[0].upper()}{what[1:]} on Azure ML did not serve within {self._timeout_s:g} s "
                 "(sync.azure_ml.deploy.timeout_s); Azure may still finish it.")
