"""Raw source files in Blob Storage, content-addressed within a space.

Blob names are `{enterprise}/spaces/{space}/{hash[:2]}/{hash}`: the `BlobStore` protocol addresses a file by its
content hash (the ingest pipeline hands over nothing else), so the designed `{enterprise}/docs/{yyyy}/{document}/
{name}` layout needs a protocol change first (docs/azure.md). Each blob carries its hash and space as metadata.
Uploads are idempotent (an existing hash is left alone) and large files go up in 4 MiB blocks.
"""

from __future__ import annotations

import threading
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from lmspace_core.domain import Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.azure.boundary import azure_call
from lmspace_core.stores.azure.retry import call_with_retries

_blob_storage = azure_call("Blob Storage")


def space_prefix(scope: Scope) -> str:
    return f"{scope.enterprise_id}/spaces/{scope.space_id}/"


class AzureBlobStore:
    """`BlobStore` over one blob container (created on first use)."""

    def __init__(self, service: Any, container: str) -> None:
        self._client = service.get_container_client(container)
        self._ready = False
        self._lock = threading.Lock()

    def container(self) -> Any:
        with self._lock:
            if not self._ready:
                try:
                    call_with_retries(self._client.create_container)
                except ResourceExistsError:
                    pass
                self._ready = True
        return self._client

    @staticmethod
    def _name(scope: Scope, content_hash: str) -> str:
        return f"{space_prefix(scope)}{content_hash[:2]}/{content_hash}"

    @_blob_storage
    def put(self, scope: Scope, content_hash: str, data: bytes) -> None:
        blob = self.container().get_blob_client(self._name(scope, content_hash))
        try:
            call_with_retries(lambda: blob.upload_blob(
                data, overwrite=False, max_concurrency=2,
                metadata={"content_hash": content_hash, "space_id": scope.space_id}))
        except ResourceExistsError:
            pass  # same hash, same bytes

    @_blob_storage
    def get(self, scope: Scope, content_hash: str) -> bytes:
        blob = self.container().get_blob_client(self._name(scope, content_hash))
        try:
            return call_with_retries(lambda: blob.download_blob(max_concurrency=2).readall())
        except ResourceNotFoundError:
            raise NotFoundError(f"No stored content {content_hash[:12]}… in space {scope.space_id}.") from None

    @_blob_storage
    def delete(self, scope: Scope, content_hash: str) -> None:
        self._delete(self._name(scope, content_hash))

    def _delete(self, name: str) -> None:
        try:
            call_with_retries(lambda: self.container().delete_blob(name))
        except ResourceNotFoundError:
            pass

    @_blob_storage
    def delete_space(self, scope: Scope) -> None:
        names = call_with_retries(lambda: [b.name for b in self.container().list_blobs(
            name_starts_with=space_prefix(scope))])
        for name in names:
            self._delete(name)
