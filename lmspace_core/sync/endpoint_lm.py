"""The space's agent answering through an Azure ML online deployment: a DSPy engine over `EndpointChat`.

DSPy 3.4 takes a custom model as an engine (`complete(Request) -> Response`, passed as `dspy.LM(..., engine=...)`);
subclassing `BaseLM.forward` is deprecated there and goes in 3.5. The engine sends the requests the evaluation sends
(it asks through the same `EndpointChat`: scoring URI, key, `azureml-model-deployment` header,
`sync.azure_ml.request_format`), with the call's `max_tokens` and `temperature`.

Failures are raised as `dspy.lm15` errors, so that DSPy retries them as it retries every language model of LMSpace
(`num_retries`, waiting what the endpoint asked in `Retry-After`): timeouts, lost connections, 429 and 5xx are retried;
a refused key, a deployment that is gone and other 4xx are not. Each is raised from a `ModelError` saying what
happened and what to run, which is what the CLI and the dashboard show (`lm.model_call_failed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmspace_core.config import LMSettings
from lmspace_core.errors import ModelError
from lmspace_core.lm import text_chat_messages
from lmspace_core.sync.online_endpoint import MAX_REPLY_TOKENS, EndpointChat, EndpointError

if TYPE_CHECKING:
    import dspy
    from dspy.lm15 import Request, Response

ENGINE = "azure_ml"


def endpoint_lm(chat: EndpointChat, deployment: str, settings: LMSettings, note: str = "") -> dspy.LM:
    """A `dspy.LM` answering with `deployment` of `chat`'s endpoint, sampling as the `lm` settings say; `note` is
    added to every error it raises (e.g. how to switch the space back to another model)."""
    import dspy

    return dspy.LM(f"{ENGINE}/{chat.endpoint}/{deployment}", engine=EndpointEngine(chat, deployment, note),
                   temperature=settings.temperature, max_tokens=settings.max_tokens)


class EndpointEngine:
    """One deployment of an Azure ML online endpoint as a DSPy engine (text chat, one reply per request)."""

    def __init__(self, chat: EndpointChat, deployment: str, note: str = "") -> None:
        self._chat, self._deployment, self._note = chat, deployment, note

    def complete(self, request: Request) -> Response:
        from dspy.clients.engines.base import validate_request
        from dspy.lm15 import response_from_openai_chat

        validate_request(request)
        messages = text_chat_messages(request, ENGINE)
        config = request.config
        try:
            reply = self._chat(self._deployment, messages, max_tokens=config.max_tokens or MAX_REPLY_TOKENS,
                               temperature=config.temperature or 0.0)
        except ModelError as error:
            raise self._failure(error)  # not `from error`: its cause is the explained error
        completion = {"id": f"{ENGINE}-{self._deployment}", "object": "chat.completion", "model": self._deployment,
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": reply}}]}
        return response_from_openai_chat(completion, model=self._deployment)

    def stream(self, request: Request) -> Any:
        """Events of the whole reply at once: a scoring URI answers in one piece."""
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Nothing to release: a request opens and closes its own connection."""

    def _failure(self, error: ModelError) -> Exception:
        """The `dspy.lm15` error whose class tells DSPy whether to retry, raised from the `ModelError` (with the note)
        that a user reads."""
        explained = ModelError(f"{error} {self._note}".rstrip())
        explained.__cause__ = error
        status = error.status if isinstance(error, EndpointError) else None
        retry_after = error.retry_after if isinstance(error, EndpointError) else None
        failure = _lm15_class(error)(str(explained), provider=ENGINE, status=status, retry_after=retry_after)
        failure.__cause__ = explained
        return failure


def _lm15_class(error: ModelError) -> type[Exception]:
    """Transient failures (no answer, 408, 429, 5xx) as the classes DSPy retries; the others as ones it does not."""
    from dspy import lm15

    if not isinstance(error, EndpointError):  # Azure ML did not give the endpoint's scoring URI and key
        return lm15.ProviderError
    if error.timed_out:
        return lm15.TimeoutError
    if error.status is None:
        return lm15.TransportError
    if error.status in (401, 403):
        return lm15.AuthError
    if error.status == 429:
        return lm15.RateLimitError
    if error.status == 408 or error.status >= 500:
        return lm15.ServerError
    if 400 <= error.status < 500:
        return lm15.InvalidRequestError
    return lm15.ProviderError  # it answered, in a form `request_format` does not read
