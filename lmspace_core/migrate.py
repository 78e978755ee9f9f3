"""Copy a space between the embedded store and Azure, then check that the copy answers like the original.

Everything is copied as it is stored: documents with their metadata, chunk rows with their vectors, and raw files
(streamed, never whole in memory). Nothing is embedded again: the copy keeps the space's embedder id, so it is
searched with the model that made its vectors, and a migration costs no model time at all. Documents arrive at
version 1 in the target, with one `added` change each: the source's version history stays in the source.

The check afterwards compares document and chunk counts, every copied vector with its original, and a few searches
(by sampled chunks' own stored vectors, so no model is loaded) whose best document must be the same on both sides.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lmspace_core.config import Settings
from lmspace_core.domain import Chunk, ChunkDraft, Progress, ProgressCallback, Space, ignore_progress
from lmspace_core.errors import AlreadyExistsError, ConfigError, LMSpaceError
from lmspace_core.stores.base import BlobPlacement, DocumentDraft
from lmspace_core.workspace import Workspace, uploader

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

    @property
    def verified(self) -> bool:
        return (self.documents, self.chunks) == (self.target_documents, self.target_chunks) and \
            self.identical_vectors == self.chunks and self.sample_matches == self.sample_searches


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
        if target.store.find_space(space.enterprise_id, space.name) is not None:
            raise AlreadyExistsError(
                f"Space '{space.name}' already exists on {to}; delete it there or rename one of them first.")
        chunks, vectors = source.store.list_chunk_vectors(space.scope)
        copy = target.store.create_space(space.enterprise_id, space.name, space.description, space.instructions,
                                         space.embedder_id, vectors.shape[1])
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
                document.metadata)])
            target.blobs.put(BlobPlacement.of(stored.document, uploader()),
                             source.blobs.stream(BlobPlacement.of(document)))
        progress(Progress("migrate", len(documents), len(documents), message="verifying"))
        stats = target.store.space_stats(copy.scope)
        identical = _identical_vectors(source, space, chunks, vectors, target, copy)
        searched, matched = _compare_searches(source, space, vectors, target, copy, random.Random(seed))
        return MigrationReport(space.name, source.settings.store.backend, to, len(documents), len(chunks),
                               len(documents), stats.documents, stats.chunks, identical, searched, matched)
    finally:
        target.close()


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
