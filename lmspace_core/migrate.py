"""Copy a space between the embedded store and Azure, then check that the copy answers like the original.

Everything is copied as it is stored: documents with their metadata, chunk rows with their vectors, and raw files
(streamed, never whole in memory). Nothing is embedded again: the copy keeps the space's embedder id, so it is
searched with the model that made its vectors, and a migration costs no model time at all.

The version history comes along (`KeepsHistory`): each document keeps its version number (one at version 3 is at
version 3 in the copy, and replaced there it goes to 4), and the copy's change log is the source's, entry for entry
(kind, version, content hash and time, documents deleted in the source included), under the copy's document ids.
Old versions' contents are not copied because no store keeps them: only the current chunks are stored. Sync state
(what was synced through which change, datasets, models) belongs to the backend and stays behind: on the copy, the
first `lmspace sync plan` starts from the beginning of the copied history.

A migration that fails part-way removes what it had copied, so no half copy is left (on Azure, a copy is never
queued in the outbox: while Azure is unreachable the migration fails).

The check afterwards compares document and chunk counts, every document's version, the change logs entry by entry,
every copied vector with its original, and a few searches (by sampled chunks' own stored vectors, so no model is
loaded) whose best document must be the same on both sides.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lmspace_core.config import Settings
from lmspace_core.domain import (
    Chunk,
    ChunkDraft,
    Document,
    DocumentChange,
    Progress,
    ProgressCallback,
    Space,
    ignore_progress,
)
from lmspace_core.errors import AlreadyExistsError, ConfigError, LMSpaceError
from lmspace_core.stores.base import BlobPlacement, DocumentDraft, KeepsHistory
from lmspace_core.workspace import Workspace, uploader

log = logging.getLogger(__name__)

Backend = Literal["embedded", "azure"]
SAMPLE_SEARCHES = 5


@dataclass(frozen=True)
class MigrationReport:
    """What was copied and what the verification found; `verified` is True when counts and samples agree."""

    space: str
    source: str
    target: str
    documents: int
    chunks: int
    blobs: int
    target_documents: int
    target_chunks: int
    identical_vectors: int  # copied vectors equal to their originals, of `chunks`
    sample_searches: int
    sample_matches: int
    matching_versions: int  # copied documents at their original's version, of `documents`
    changes: int  # entries of the source's change log
    target_changes: int
    identical_changes: int  # entries of the copy's log equal to the source's at the same place, of `changes`

    @property
    def verified(self) -> bool:
        counts = (self.documents, self.chunks, self.changes)
        return counts == (self.target_documents, self.target_chunks, self.target_changes) and \
            counts == (self.matching_versions, self.identical_vectors, self.identical_changes) and \
            self.sample_matches == self.sample_searches


def target_settings(settings: Settings, to: Backend) -> Settings:
    """The same settings with the other backend selected; Azure needs its `store.azure` section filled in."""
    if to == settings.store.backend:
        raise LMSpaceError(f"The configured store is already {to}; migrate copies to the other backend.")
    if to == "azure":
        azure = settings.store.azure
        if azure is None or azure.cosmos_endpoint is None or (
                azure.connection_string is None and (azure.blob_account_url is None or
                                                     azure.table_account_url is None)):
            raise ConfigError("Migrating to Azure needs store.azure (cosmos_endpoint, and connection_string or "
                              "blob_account_url + table_account_url) in lmspace.yaml; see docs/azure.md.")
    return settings.model_copy(update={"store": settings.store.model_copy(update={"backend": to})})


def migrate_space(
    source: Workspace, space: Space, to: Backend, progress: ProgressCallback = ignore_progress, seed: int = 0
) -> MigrationReport:
    """Copy `space` from `source`'s store to the `to` backend under the same name, and verify the copy."""
    target = Workspace(target_settings(source.settings, to), space.enterprise_id)
    try:
        if not isinstance(target.store, KeepsHistory):
            raise LMSpaceError(f"The {to} store cannot take a copy of a space with its version history.")
        if target.store.find_space(space.enterprise_id, space.name) is not None:
            raise AlreadyExistsError(
                f"Space '{space.name}' already exists on {to}; delete it there or rename one of them first.")
        chunks, vectors = source.store.list_chunk_vectors(space.scope)
        history = source.store.changes(space.scope)
        copy = target.store.create_space(space.enterprise_id, space.name, space.description, space.instructions,
                                         space.embedder_id, vectors.shape[1])
        try:
            documents = _copy_documents(source, space, chunks, vectors, target, copy, progress)
            progress(Progress("migrate", len(documents), len(documents), message="copying the version history"))
            target.store.write_history(copy.scope, history)
        except BaseException:
            _remove_unfinished(target, copy, to)
            raise
        progress(Progress("migrate", len(documents), len(documents), message="verifying"))
        stats = target.store.space_stats(copy.scope)
        copied = target.store.list_documents(copy.scope)
        copied_history = target.store.changes(copy.scope)
        searched, matched = _compare_searches(source, space, vectors, target, copy, random.Random(seed))
        return MigrationReport(
            space.name, source.settings.store.backend, to, documents=len(documents), chunks=len(chunks),
            blobs=len(documents), target_documents=stats.documents, target_chunks=stats.chunks,
            identical_vectors=_identical_vectors(source, space, chunks, vectors, target, copy),
            sample_searches=searched, sample_matches=matched,
            matching_versions=_matching_versions(documents, copied), changes=len(history),
            target_changes=len(copied_history), identical_changes=_identical_changes(history, copied_history, copied),
        )
    finally:
        target.close()


def _copy_documents(source: Workspace, space: Space, chunks: Sequence[Chunk], vectors: np.ndarray,
                    target: Workspace, copy: Space, progress: ProgressCallback) -> list[Document]:
    """Write each document of `space` into `copy` at its own version, with its chunks, vectors and raw file; return
    the source's documents."""
    rows: dict[str, list[int]] = defaultdict(list)
    for row, chunk in enumerate(chunks):
        rows[chunk.document_id].append(row)
    documents = source.store.list_documents(space.scope)
    for done, document in enumerate(documents):
        progress(Progress("migrate", done, len(documents), item=document.source))
        mine = rows[document.id]
        [stored] = target.store.put_documents(copy.scope, [DocumentDraft(
            document.source, document.title, document.doc_type, document.tags, document.content_hash,
            document.size_bytes, document.codebase,
            tuple(ChunkDraft(chunks[row].text, chunks[row].location) for row in mine), vectors[mine],
            document.metadata, version=document.version)])
        target.blobs.put(BlobPlacement.of(stored.document, uploader()), source.blobs.stream(BlobPlacement.of(document)))
    return documents


def _remove_unfinished(target: Workspace, copy: Space, to: Backend) -> None:
    """Remove a copy that could not be finished, so that no half copy is left. With Azure unreachable the removal
    waits in the outbox behind the space's queued creation: replayed, the two leave nothing."""
    try:
        target.delete_space(copy)
    except LMSpaceError as error:
        log.warning("The unfinished copy of space '%s' could not be removed from %s (%s); delete it there with "
                    "`lmspace spaces delete`.", copy.name, to, error)


def _matching_versions(documents: Sequence[Document], copied: Sequence[Document]) -> int:
    """How many documents have a copy (same source) at the same version."""
    versions = {document.source: document.version for document in copied}
    return sum(1 for document in documents if versions.get(document.source) == document.version)


def _identical_changes(history: Sequence[DocumentChange], copied_history: Sequence[DocumentChange],
                       copied: Sequence[Document]) -> int:
    """How many entries of the copy's change log equal the source's at the same place: same source, kind, version,
    hash and time, under the id of the copy's document (for the documents the copy holds)."""
    ids = {document.source: document.id for document in copied}
    return sum(
        1 for before, after in zip(history, copied_history, strict=False)
        if (before.source, before.kind, before.version, before.content_hash, before.changed_at) ==
        (after.source, after.kind, after.version, after.content_hash, after.changed_at)
        and ids.get(after.source, after.document_id) == after.document_id
    )


def _by_position(workspace: Workspace, space: Space, chunks: Sequence[Chunk]) -> dict[tuple[str, int], int]:
    """Row of each chunk by (document source, ordinal): what a chunk is called in both copies."""
    sources = {document.id: document.source for document in workspace.store.list_documents(space.scope)}
    return {(sources[chunk.document_id], chunk.ordinal): row for row, chunk in enumerate(chunks)}


def _identical_vectors(source: Workspace, space: Space, chunks: Sequence[Chunk], vectors: np.ndarray,
                       target: Workspace, copy: Space) -> int:
    """How many chunks of the copy have exactly the vector of the chunk they copy."""
    copied_chunks, copied = target.store.list_chunk_vectors(copy.scope)
    originals = _by_position(source, space, chunks)
    return sum(
        1 for position, row in _by_position(target, copy, copied_chunks).items()
        if position in originals and np.array_equal(copied[row], vectors[originals[position]])
    )


def _compare_searches(source: Workspace, space: Space, vectors: np.ndarray, target: Workspace, copy: Space,
                      rng: random.Random) -> tuple[int, int]:
    """Search both spaces with a few chunks' own vectors; the best document must be the same in both."""
    sample = rng.sample(range(len(vectors)), min(SAMPLE_SEARCHES, len(vectors)))
    matched = 0
    for row in sample:
        before = source.store.search(space.scope, vectors[row], 1)
        after = target.store.search(copy.scope, vectors[row], 1)
        if before and after and before[0].document.source == after[0].document.source:
            matched += 1
    return len(sample), matched
