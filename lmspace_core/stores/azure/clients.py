"""Building the Azure SDK clients from the settings: one credential per process, keys only when configured.

Secrets are resolved here (literal, `env:` or `keyvault://`, through `resolve_secret`) and handed to the SDK; they
are never logged or put into error messages. SDK-level retries are off: `retry.call_with_retries` is the one policy.
"""

from __future__ import annotations

import base64
import binascii
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from lmspace_core.config import AzureStoreSettings, SecretRef
from lmspace_core.errors import ConfigError
from lmspace_core.lm import resolve_secret

# The SDKs log every request and response with their headers at INFO, where the CLI's log file records (about 1 KB a
# call); failures reach us as exceptions, and retries are logged by `retry.call_with_retries`.
for _logger in ("azure.core.pipeline.policies.http_logging_policy", "azure.cosmos._cosmos_http_logging_policy"):
    logging.getLogger(_logger).setLevel(logging.WARNING)

# Files above 4 MiB go up as 4 MiB blocks and come down in 4 MiB ranges: the SDK's defaults send up to 64 MiB in one
# request and fetch the first 32 MiB at once, which a streamed read then holds in memory several times over.
_BLOCKS = {"max_single_put_size": 4 * 1024 * 1024, "max_block_size": 4 * 1024 * 1024,
           "max_single_get_size": 4 * 1024 * 1024, "max_chunk_get_size": 4 * 1024 * 1024}


@cache
def default_credential():
    """The process's one `DefaultAzureCredential` (managed identity in Azure, `az login` on a laptop).

    Building one per client would repeat token acquisition for each; the dashboard keeps it alive across reruns.
    """
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


@dataclass(frozen=True)
class AzureClients:
    """The service clients the Azure stores use; Cosmos' is built on first use (its constructor calls the service)."""

    cosmos: Callable[[], Any]  # -> azure.cosmos.CosmosClient
    blobs: Any  # azure.storage.blob.BlobServiceClient
    tables: Any  # azure.data.tables.TableServiceClient


def _cosmos_client(settings: AzureStoreSettings):
    from azure.cosmos import CosmosClient
    from azure.cosmos.documents import ConnectionPolicy, RetryOptions

    if urlsplit(settings.cosmos_endpoint or "").hostname in ("127.0.0.1", "localhost"):
        # The SDK skips certificate checks for a local emulator, as documented, and urllib3 warns on every request.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    policy = ConnectionPolicy()
    policy.RetryOptions = RetryOptions(max_retry_attempt_count=0)  # throttling is retried by our policy
    credential = _account_key(settings.cosmos_key) if settings.cosmos_key else default_credential()
    return CosmosClient(settings.cosmos_endpoint, credential=credential, connection_policy=policy)


def _account_key(reference: SecretRef) -> str:
    """The Cosmos DB key, decoded as the SDK will decode it when it signs a request (where a key that is not base64
    failed with a bare 'Incorrect padding' traceback)."""
    key = resolve_secret(reference)
    try:
        base64.b64decode(key)
    except binascii.Error:
        raise ConfigError(f"store.azure.cosmos_key ({reference.masked()}) is not a Cosmos DB account key (base64); "
                          "copy the primary key from the account's Keys page.") from None
    return key


def _storage_clients(reference: SecretRef) -> tuple[Any, Any]:
    """Blob and Table clients from the Storage account's connection string (its text never goes into a message)."""
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

    connection_string = resolve_secret(reference)
    try:
        return (BlobServiceClient.from_connection_string(connection_string, retry_total=0, **_BLOCKS),
                TableServiceClient.from_connection_string(connection_string, retry_total=0))
    except ValueError as error:
        raise ConfigError(f"store.azure.connection_string ({reference.masked()}) is not a Storage connection string "
                          f"({str(error).rstrip('.')}); copy it from the account's Access keys page.") from None


def build_clients(settings: AzureStoreSettings) -> AzureClients:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

    if settings.connection_string is not None:
        blobs, tables = _storage_clients(settings.connection_string)
    else:
        blobs = BlobServiceClient(settings.blob_account_url, credential=default_credential(), retry_total=0,
                                  **_BLOCKS)
        tables = TableServiceClient(settings.table_account_url, credential=default_credential(), retry_total=0)
    return AzureClients(lambda: _cosmos_client(settings), blobs, tables)
