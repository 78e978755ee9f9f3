"""Raw source files in Blob Storage, one blob per document, in the folders people browse in the portal.

A document's raw file is `{enterprise}/docs/{yyyy}/{document_id}/{name}` (the year it was first added, its file name);
a file of a codebase is `{enterprise}/code/{space}/{codebase}/{path}`. The space is in the code path because two
spaces may hold different trees under the same codebase name, and deleting one must not touch the other's files.
Each blob has its content type and the metadata `content_hash`, `space_id`, `document_id` and `uploader`.

Uploads are idempotent by hash: when the name already holds the same `content_hash`, nothing is sent. Files above
4 MiB are staged block by block (each block retried on its own, at most one block in memory) and committed with
their content type and metadata in one request, so a reader never sees half a file.

Blobs of the earlier content-addressed layout (`{enterprise}/spaces/{space}/{hash[:2]}/{hash}`) are still read when
a document has no blob under its new name; `lmspace doctor` moves them (docs/azure.md).
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, ContentSettings

from lmspace_core.domain import Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.azure.boundary import azure_call
from lmspace_core.stores.azure.retry import call_with_retries
from lmspace_core.stores.base import BlobPlacement, StoredBlob

BLOCK_SIZE = 4 * 1024 * 1024
_blob_storage = azure_call("Blob Storage")


def blob_name(placement: BlobPlacement) -> str:
    """The blob a document's raw file is kept in."""
    enterprise, source = placement.scope.enterprise_id, placement.source
    if placement.codebase:
        path = source.removeprefix(f"{placement.codebase}/")
        return f"{enterprise}/code/{placement.scope.space_id}/{placement.codebase}/{_safe(path)}"
    return f"{enterprise}/docs/{placement.uploaded_year:04d}/{placement.document_id}/{_safe(PurePosixPath(source).name)}"


def legacy_blob_name(placement: BlobPlacement) -> str:
    """Where the content-addressed layout kept the same content (shared by the space's documents with that hash)."""
    scope, content_hash = placement.scope, placement.content_hash
    return f"{scope.enterprise_id}/spaces/{scope.space_id}/{content_hash[:2]}/{content_hash}"


def _safe(path: str) -> str:
    """Blob Storage refuses names ending in a dot or a slash; a pasted text's name can end in either."""
    return path.rstrip("./") or "content"


def content_settings(source: str) -> ContentSettings:
    """Type (and encoding) from the file name: `notes.md.gz` is markdown sent gzip-encoded, as stored."""
    guessed, encoding = mimetypes.guess_type(source, strict=False)
    return ContentSettings(content_type=guessed or "application/octet-stream", content_encoding=encoding)


def _metadata(placement: BlobPlacement) -> dict[str, str]:
    # Metadata travels as HTTP headers: an uploader name outside ASCII is percent-encoded.
    return {"content_hash": placement.content_hash, "space_id": placement.scope.space_id,
            "document_id": placement.document_id, "uploader": quote(placement.uploader, safe=" @._-\\")}


def _blocks(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup a stream's pieces into blocks of exactly `size` bytes (the last one shorter)."""
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


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

    @_blob_storage
    def probe(self) -> None:
        """One cheap request (the container is created if missing): for `lmspace config check`."""
        call_with_retries(lambda: next(iter(self.container().list_blobs(results_per_page=1)), None))

    def _properties(self, name: str) -> Any | None:
        try:
            return call_with_retries(lambda: self.container().get_blob_client(name).get_blob_properties())
        except ResourceNotFoundError:
            return None

    @_blob_storage
    def put(self, placement: BlobPlacement, data: bytes | Iterable[bytes]) -> None:
        name = blob_name(placement)
        existing = self._properties(name)
        if existing is not None and existing.metadata.get("content_hash") == placement.content_hash:
            return
        blob = self.container().get_blob_client(name)
        settings = content_settings(placement.source)
        if isinstance(data, bytes) and len(data) <= BLOCK_SIZE:
            call_with_retries(lambda: blob.upload_blob(data, overwrite=True, content_settings=settings,
                                                       metadata=_metadata(placement)))
            return
        blocks = []
        for number, block in enumerate(_blocks([data] if isinstance(data, bytes) else data, BLOCK_SIZE)):
            block_id = f"{number:06d}"  # ids of one blob must all have the same length
            call_with_retries(lambda b=block, i=block_id: blob.stage_block(i, b, length=len(b)))
            blocks.append(BlobBlock(block_id))
        call_with_retries(lambda: blob.commit_block_list(blocks, content_settings=settings,
                                                         metadata=_metadata(placement)))

    def _download(self, placement: BlobPlacement) -> Any:
        for name in (blob_name(placement), legacy_blob_name(placement)):
            blob = self.container().get_blob_client(name)
            try:
                return call_with_retries(lambda b=blob: b.download_blob(max_concurrency=2))
            except ResourceNotFoundError:
                continue
        raise NotFoundError(f"The raw file of '{placement.source}' is missing from space {placement.scope.space_id}; "
                            "ingest it again to restore it.")

    @_blob_storage
    def get(self, placement: BlobPlacement) -> bytes:
        return self._download(placement).readall()

    @_blob_storage
    def stream(self, placement: BlobPlacement) -> Iterator[bytes]:
        return self._download(placement).chunks()

    @_blob_storage
    def delete(self, placement: BlobPlacement) -> None:
        name = blob_name(placement)
        existing = self._properties(name)
        if existing is None or existing.metadata.get("content_hash") != placement.content_hash:
            return  # gone already, or holding the content of a newer version
        try:
            call_with_retries(lambda: self.container().delete_blob(
                name, etag=existing.etag, match_condition=MatchConditions.IfNotModified))
        except (ResourceNotFoundError, ResourceModifiedError):
            pass  # removed or replaced meanwhile

    def _delete(self, name: str) -> None:
        try:
            call_with_retries(lambda: self.container().delete_blob(name))
        except ResourceNotFoundError:
            pass

    def _listing(self, prefix: str | None = None) -> list[Any]:
        return call_with_retries(lambda: list(self.container().list_blobs(name_starts_with=prefix,
                                                                           include=["metadata"])))

    @_blob_storage
    def delete_space(self, scope: Scope) -> None:
        """Every blob of the enterprise labelled with the space (both layouts) is deleted: the docs layout has no
        space in its names, so this lists the enterprise's blobs."""
        for blob in self._listing(f"{scope.enterprise_id}/"):
            if (blob.metadata or {}).get("space_id") == scope.space_id:
                self._delete(blob.name)

    @_blob_storage
    def inventory(self) -> Iterator[StoredBlob]:
        """Raw files of every enterprise (blobs without a `content_hash` label, such as job results, are not)."""
        found = []
        for blob in self._listing():
            metadata = blob.metadata or {}
            if "content_hash" in metadata and "space_id" in metadata:
                scope = Scope(blob.name.split("/", 1)[0], metadata["space_id"])
                found.append(StoredBlob(blob.name, scope, metadata.get("document_id"), metadata["content_hash"],
                                        blob.last_modified.timestamp()))
        return iter(found)

    @_blob_storage
    def remove(self, blob: StoredBlob) -> None:
        self._delete(blob.name)
