"""Every public method of the Azure stores runs through `azure_call`, which turns SDK errors into our words.

Retries happen one request at a time inside the stores (`retry.call_with_retries`), where each request is known to
be idempotent; SDK exceptions are handled where they mean something (404 -> `NotFoundError`, 409 -> name taken);
what escapes becomes a `BackendError` that says what to do, never an SDK traceback or a secret.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError

from lmspace_core.errors import BackendError
from lmspace_core.stores.azure.retry import is_transient

P = ParamSpec("P")
T = TypeVar("T")

_ROLES = ("Cosmos DB Built-in Data Contributor (Cosmos DB), Storage Blob Data Contributor and Storage Table Data "
          "Contributor (the storage account)")


class ServiceUnreachableError(BackendError):
    """No connection to the service could be made, even after the retries (the outbox queues such writes)."""


class RequestRejectedError(BackendError):
    """The service refused the request itself (a 4xx other than credentials or throttling): sending the same request
    again cannot succeed, so a replayed outbox write that gets it is set aside instead of blocking the others."""


def _message(service: str, error: AzureError) -> str:
    status = getattr(error, "status_code", None)
    if isinstance(error, ClientAuthenticationError) or status in (401, 403):
        return (f"{service} refused the credentials ({status or 'no token'}). Check store.azure keys, or grant this "
                f"identity {_ROLES}; see docs/azure.md.")
    if isinstance(error, ServiceRequestError):
        return f"Cannot reach {service}: check the store.azure endpoints and the network, then try again."
    if is_transient(error):
        return f"{service} is unavailable or throttling after retries ({status or type(error).__name__}); try again."
    first_line = str(getattr(error, "message", "") or error).strip().splitlines()[0][:300] if str(error) else ""
    return f"{service} rejected the request ({status}): {first_line}"


def _refusal(service: str, error: AzureError) -> BackendError:
    status = getattr(error, "status_code", None)
    rejected = (status is not None and 400 <= status < 500 and status not in (401, 403)
                and not isinstance(error, ClientAuthenticationError) and not is_transient(error))
    return (RequestRejectedError if rejected else BackendError)(_message(service, error))


def azure_call(service: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a store method so that SDK failures leave it as `BackendError`."""

    def decorate(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return method(*args, **kwargs)
            except ServiceRequestError as error:
                raise ServiceUnreachableError(_message(service, error)) from None
            except AzureError as error:
                raise _refusal(service, error) from None

        return wrapper

    return decorate
