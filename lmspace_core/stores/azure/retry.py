"""One retry policy for every Azure call: tenacity, on throttling, timeouts, 5xx and lost connections only.

The SDKs' own retries are turned off where the clients are built (`clients.py`), so this is the single place that
decides: 429 waits what the service asked for (`x-ms-retry-after-ms`, else `Retry-After`), other transient failures
back off exponentially with jitter, and 4xx answers about auth or validation fail at once (retrying them only
delays the error a person has to act on). Writes retried here must be idempotent: the stores upsert fixed ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity.wait import wait_random_exponential

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT_STATUS = {408, 429, 449, 500, 502, 503, 504}
MAX_ATTEMPTS = 8
MAX_SECONDS = 30.0
CONNECT_ATTEMPTS = 3
_backoff = wait_random_exponential(multiplier=0.2, max=10.0)


def _status(error: BaseException) -> int | None:
    """The HTTP status of an Azure SDK or `openai` error (both carry `status_code`)."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _openai_connection_failure(error: BaseException) -> bool:
    if not type(error).__module__.startswith("openai"):
        return False
    import openai

    return isinstance(error, openai.APIConnectionError)  # includes timeouts


def is_transient(error: BaseException) -> bool:
    """Throttling, timeouts, server errors and connections that failed or dropped; never other 4xx."""
    if isinstance(error, ServiceRequestError | ServiceResponseError) or _openai_connection_failure(error):
        return True
    return _status(error) in _TRANSIENT_STATUS


def retry_after_seconds(error: BaseException) -> float | None:
    """What the service asked us to wait, from `x-ms-retry-after-ms` or `Retry-After` (seconds)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or getattr(error, "headers", None) or {}
    for name, scale in (("x-ms-retry-after-ms", 1000.0), ("retry-after-ms", 1000.0), ("Retry-After", 1.0),
                        ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    asked = retry_after_seconds(error) if error is not None else None
    return asked if asked is not None else _backoff(state)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.info("Azure call failed (%s); retry %d in %.2f s", type(error).__name__ if error else "?",
                state.attempt_number, state.next_action.sleep if state.next_action else 0.0)


def _stop(state: RetryCallState) -> bool:
    """Give up after MAX_ATTEMPTS or MAX_SECONDS; after CONNECT_ATTEMPTS when the service cannot even be reached,
    so that a command against a stopped or mistyped endpoint fails in seconds with a message, not in minutes."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, ServiceRequestError) and state.attempt_number >= CONNECT_ATTEMPTS:
        return True
    return state.attempt_number >= MAX_ATTEMPTS or state.seconds_since_start >= MAX_SECONDS


def call_with_retries(operation: Callable[[], T]) -> T:
    """Run `operation`, retrying transient failures; the last error propagates unchanged."""
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=_wait,
        stop=_stop,
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(operation)
