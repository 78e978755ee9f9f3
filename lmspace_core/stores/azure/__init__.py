"""The Azure backend: Cosmos DB for knowledge (vector search included), Blob Storage for raw files, Table Storage
for jobs and sync state. `build_azure_stores` and `build_azure_sync_store` are what the composition root calls for
`store.backend: azure`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lmspace_core.config import AzureStoreSettings
from lmspace_core.stores.azure.blobs import AzureBlobStore
from lmspace_core.stores.azure.clients import build_clients
from lmspace_core.stores.azure.cosmos_store import CosmosKnowledgeStore
from lmspace_core.stores.azure.jobs import TableJobStore
from lmspace_core.stores.azure.offline import OfflineFile, Outbox, ResilientBlobStore, ResilientKnowledgeStore
from lmspace_core.stores.azure.offline_jobs import ResilientJobStore
from lmspace_core.stores.azure.read_cache import SpaceCache
from lmspace_core.stores.local.database import Database

if TYPE_CHECKING:
    from lmspace_core.sync.table_store import TableSyncStore

OUTBOX_FILE = "azure_outbox.db"
READ_CACHE_FILE = "azure_read_cache.db"
OFFLINE_JOBS_FILE = "azure_offline_jobs.db"
SYNC_TABLE_SUFFIX = "sync"


def build_azure_stores(
    settings: AzureStoreSettings, data_dir: Path
) -> tuple[ResilientKnowledgeStore, ResilientBlobStore, ResilientJobStore]:
    """The Azure stores, behind the outbox and remembered reads kept in `<data_dir>/azure_outbox.db`, the read
    cache of recently used spaces in `<data_dir>/azure_read_cache.db` and the jobs recorded while Table Storage
    was unreachable in `<data_dir>/azure_offline_jobs.db`."""
    clients = build_clients(settings)
    blobs = AzureBlobStore(clients.blobs, settings.blob_container)
    knowledge = CosmosKnowledgeStore(clients.cosmos, settings.cosmos_database, settings.vector_index)
    outbox = Outbox(OfflineFile(data_dir / OUTBOX_FILE), knowledge, blobs)
    cache = SpaceCache(data_dir / READ_CACHE_FILE, settings.read_cache_mb << 20)
    return (
        ResilientKnowledgeStore(knowledge, outbox, cache),
        ResilientBlobStore(blobs, outbox, cache),
        ResilientJobStore(TableJobStore(clients.tables, settings.jobs_table, blobs),
                          Database(data_dir / OFFLINE_JOBS_FILE), outbox),
    )


def build_azure_sync_store(settings: AzureStoreSettings) -> TableSyncStore:
    """Sync state in the table `<jobs_table>sync`, dataset bodies in the blob container. Not behind the outbox:
    a sync talks to remote services anyway, and its jobs must not be acknowledged when they cannot be recorded."""
    from lmspace_core.sync.table_store import TableSyncStore

    clients = build_clients(settings)
    return TableSyncStore(clients.tables, f"{settings.jobs_table}{SYNC_TABLE_SUFFIX}",
                          AzureBlobStore(clients.blobs, settings.blob_container))


def probe_azure_stores(settings: AzureStoreSettings, enterprise_id: str) -> str:
    """One request to each service (containers and tables are created if missing); a sentence for the checks.

    The services are asked directly, not through the read cache: a check must fail while Azure is unreachable,
    however much of it this machine remembers.
    """
    clients = build_clients(settings)
    blobs = AzureBlobStore(clients.blobs, settings.blob_container)
    spaces = CosmosKnowledgeStore(clients.cosmos, settings.cosmos_database, settings.vector_index).list_spaces(
        enterprise_id
    )
    blobs.probe()
    TableJobStore(clients.tables, settings.jobs_table, blobs).list_jobs(enterprise_id, limit=1)
    return (f"Cosmos DB {settings.cosmos_endpoint} (database {settings.cosmos_database}, {len(spaces)} space(s) "
            f"in '{enterprise_id}'), blob container {settings.blob_container}, table {settings.jobs_table}")
