"""Protocols for persistence, so that the embedded store and the Azure store are interchangeable.

Every method takes a `Scope` (enterprise and space) or an enterprise id: no call can read or write across tenants
by accident, and the Azure implementation maps the enterprise to a Cosmos DB partition key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lmspace_core.domain import (
    Chunk,
    ChunkDraft,
    Document,
    DocumentChange,
    Hit,
    Job,
    JobEvent,
    JobStatus,
    Outcome,
    Progress,
    Scope,
    SearchFilter,
    SearchPlan,
    Space,
    SpaceStats,
)


@dataclass(frozen=True)
class DocumentDraft:
    """A document as the ingest pipeline hands it to a store, with its chunks and their vectors (one row each)."""

    source: str
    title: str
    doc_type: str
    tags: tuple[str, ...]
    content_hash: str
    size_bytes: int
    codebase: str | None
    chunks: tuple[ChunkDraft, ...]
    vectors: np.ndarray
    metadata: Mapping[str, Any] | None = None  # None keeps what the document had (a re-ingested file)
    raw_year: int | None = None  # the year its raw file was named by; None: the one recorded, else this year
    # A copy's version (`lmspace migrate`): a new document starts at it instead of 1, so that it keeps its source's
    # number; a document that exists already takes its next version whatever this says. See `KeepsHistory`.
    version: int | None = None


@dataclass(frozen=True)
class StoredDocument:
    """What writing a draft did: the document as stored now and whether it was added, replaced or unchanged."""

    document: Document
    outcome: Outcome
    replaced_hash: str | None = None


@dataclass(frozen=True)
class SpaceEdit:
    """Changes to a space's editable fields; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    instructions: str | None = None


class KnowledgeStore(Protocol):
    """Spaces, documents (with versions and a change log), chunks and their vectors."""

    def create_space(
        self, enterprise_id: str, name: str, description: str, instructions: str, embedder_id: str, dimension: int
    ) -> Space: ...

    def get_space(self, scope: Scope) -> Space: ...

    def find_space(self, enterprise_id: str, name: str) -> Space | None: ...

    def list_spaces(self, enterprise_id: str) -> list[Space]: ...

    def list_enterprises(self) -> list[str]:
        """Enterprises that own at least one space (for tools that administer several tenants)."""
        ...

    def update_space(self, scope: Scope, edit: SpaceEdit) -> Space: ...

    def delete_space(self, scope: Scope) -> None: ...

    def space_stats(self, scope: Scope) -> SpaceStats: ...

    def find_document(self, scope: Scope, source: str) -> Document | None: ...

    def get_document(self, scope: Scope, document_id: str) -> Document: ...

    def list_documents(self, scope: Scope, search_filter: SearchFilter = SearchFilter()) -> list[Document]: ...

    def put_documents(self, scope: Scope, drafts: Sequence[DocumentDraft]) -> list[StoredDocument]:
        """Add or replace documents with their chunks and vectors, all in one transaction."""
        ...

    def delete_document(self, scope: Scope, document_id: str) -> Document: ...

    def list_chunks(self, scope: Scope, document_id: str | None = None) -> list[Chunk]: ...

    def list_chunk_vectors(self, scope: Scope, document_id: str | None = None) -> tuple[list[Chunk], np.ndarray]:
        """The chunks as `list_chunks` lists them, with their stored vectors (row i is chunk i's): what a copy of the
        space to another store takes along instead of embedding again."""
        ...

    def changes(self, scope: Scope, after_sequence: int = 0) -> list[DocumentChange]: ...

    def replace_vectors(self, scope: Scope, embedder_id: str, vectors: np.ndarray, chunk_ids: Sequence[str]) -> None:
        """Swap every chunk's vector at once (re-embedding with another model); `chunk_ids` gives the row order."""
        ...

    def search(self, scope: Scope, query: np.ndarray, k: int, search_filter: SearchFilter = SearchFilter()) -> list[Hit]:
        """Exact cosine top-k over the space's vectors, best first."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class KeepsHistory(Protocol):
    """A knowledge store that can hold a space copied from another store with its version history (`lmspace
    migrate`, and nothing else).

    The copy's documents are written with `DocumentDraft.version` set to their source's versions (on Cosmos DB the
    chunk ids embed the version, so it must be known when the chunks are written), then `write_history` puts the
    source's change log in place of the `added` entries those writes logged. Only the current version's content
    exists in either store; the history is the log of what happened, not old contents.
    """

    def write_history(self, scope: Scope, history: Sequence[DocumentChange]) -> None:
        """Make `history` (the source space's change log, oldest first) this space's whole change log.

        Kinds, versions, content hashes and times are kept, and the order; sequence numbers are this store's own.
        Each entry names its document by `source` and gets the id this store gives that source in this space (a
        document deleted in the source included), so the source's ids need not match. Later writes of the space
        continue after it: a copied document at version 3, replaced, is at version 4.
        """
        ...


@runtime_checkable
class ApproximateIndexing(Protocol):
    """A knowledge store that can give big spaces an approximate index (`retrieval.approximate`)."""

    def search_plan(self, scope: Scope) -> SearchPlan:
        """Which ranking answers the space's unfiltered searches now, and why."""
        ...

    def build_approximate_index(
        self, scope: Scope, progress: Callable[[Progress], None], cancel: threading.Event
    ) -> SearchPlan | None:
        """Build the space's index for its current state; the plan it leads to, or None if cancelled or not due."""
        ...


@runtime_checkable
class KeepsOfflineCopies(Protocol):
    """A knowledge store that keeps local copies of recently used spaces, to read them while its service is
    unreachable (Azure's read cache); searching a space is a use of it, and so is researching it."""

    def keep_offline(self, scope: Scope, dimension: int) -> None:
        """The space is in use: bring its local copy up to date, or make one, while the service answers."""
        ...


@runtime_checkable
class HybridSearch(Protocol):
    """A knowledge store that can also rank by keywords and fuse that with the vector ranking (`retrieval.hybrid`)."""

    def hybrid_search(
        self, scope: Scope, query: np.ndarray, text: str, k: int, search_filter: SearchFilter = SearchFilter()
    ) -> list[Hit]:
        """Top-k chunks by the vector ranking of `query` fused with the keyword ranking of `text`, best first."""
        ...


@dataclass(frozen=True)
class BlobPlacement:
    """A document's raw file as a blob store needs to know it: whose it is, what it is, and what it contains.

    Azure names the blob from it (`{enterprise}/docs/{yyyy}/{document}/{name}`, code under
    `{enterprise}/code/{space}/{codebase}/{path}`) and labels it with the hash, space, document and uploader; the
    embedded store keeps `<enterprise>/<space>/<document>/<hash>` on disk. An ingest builds one before the document
    is written (its id is known by then, see `domain.document_id`); readers build one with `of(document)`.

    The year is chosen by the writer, which may not know the document's creation date: a new document's first
    write can cross midnight on 31 December, and an offline ingest may not know that the document exists already.
    So the write records the year it used on the document (`DocumentDraft.raw_year` -> `Document.raw_year`) and
    `of` reads it back: the name and the read agree by construction, not by two clocks agreeing.
    """

    scope: Scope
    document_id: str
    source: str  # the document's name in the space; `codebase/path` for a file of a codebase
    content_hash: str
    uploaded_year: int  # the year the raw file was first named by: a replaced file keeps its name
    codebase: str | None = None
    uploader: str = ""  # who ingested it; a label only, not part of the name

    @classmethod
    def of(cls, document: Document, uploader: str = "") -> BlobPlacement:
        """Where `document`'s current raw file is (a document written before the year was recorded was named by
        its creation year)."""
        return cls(Scope(document.enterprise_id, document.space_id), document.id, document.source,
                   document.content_hash, document.raw_year or document.created_at.year, document.codebase, uploader)


@dataclass(frozen=True)
class StoredBlob:
    """A file a blob store holds, as `lmspace doctor` sees it: what it says it belongs to.

    `document_id` is None for a raw file in the old content-addressed layout (shared by every document of the space
    with that content), `content_hash` is None for a temporary file of an unfinished write.
    """

    name: str  # a path or blob name, as shown to a person
    scope: Scope
    document_id: str | None
    content_hash: str | None
    modified: float  # seconds since the epoch


class BlobStore(Protocol):
    """Raw bytes of ingested sources: one raw file per document, named after the document."""

    def put(self, placement: BlobPlacement, data: bytes | Iterable[bytes]) -> None:
        """Store a document's raw file (bytes, or pieces read from a stream); nothing is sent when that name already
        holds this content hash."""
        ...

    def get(self, placement: BlobPlacement) -> bytes: ...

    def stream(self, placement: BlobPlacement) -> Iterator[bytes]:
        """The raw file in pieces, for copying it without holding it whole; raises `NotFoundError` at once."""
        ...

    def delete(self, placement: BlobPlacement) -> None:
        """Remove the document's raw file if it still holds `placement.content_hash` (a newer upload stays)."""
        ...

    def delete_space(self, scope: Scope) -> None: ...

    def inventory(self) -> Iterator[StoredBlob]:
        """Every file held, of every enterprise and space (what `lmspace doctor` checks against the documents)."""
        ...

    def remove(self, blob: StoredBlob) -> None:
        """Remove one file `inventory` listed, whatever it is."""
        ...


class JobStore(Protocol):
    """Jobs and their progress events, persisted so that monitors in other requests or processes can follow them."""

    def create_job(self, scope: Scope, kind: str, title: str, owner: str) -> Job: ...

    def record_progress(self, enterprise_id: str, job_id: str, progress: Progress) -> None:
        """Mark the job running, set its counters and message, and append the event."""
        ...

    def finish_job(
        self, enterprise_id: str, job_id: str, status: JobStatus, result: dict | None = None, error: str = ""
    ) -> Job: ...

    def get_job(self, enterprise_id: str, job_id: str) -> Job: ...

    def list_jobs(
        self, enterprise_id: str, space_id: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        """Newest first."""
        ...

    def job_events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[JobEvent]: ...

    def interrupt_orphans(self, owner_alive: Callable[[str], bool]) -> int:
        """Mark unfinished jobs whose owning process is gone as interrupted; return how many."""
        ...

    def has_unfinished_jobs(self, owned_here: Callable[[str], bool]) -> bool:
        """Whether a job of any enterprise whose owner passes `owned_here` is still queued or running."""
        ...
