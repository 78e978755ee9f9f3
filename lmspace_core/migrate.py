"""Copy a space between the embedded store and Azure, then check that the copy answers like the original.

The store protocols carry no vector export, so chunks are embedded again with the configured embedder (the one the
space was built with; `require_embedder_match` guarantees it): the vectors are the same model's. Documents arrive at
version 1 in the target, with one `added` change each: the source's version history stays in the source.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lmspace_core.config import Settings
from lmspace_core.domain import ChunkDraft, Progress, ProgressCallback, Space, ignore_progress
from lmspace_core.errors import AlreadyExistsError, ConfigError, LMSpaceError
from lmspace_core.ingest.pipeline import embedding_text
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.workspace import Workspace

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
    sample_searches: int
    sample_matches: int

    @property
    def verified(self) -> bool:
        return (self.documents, self.chunks) == (self.target_documents, self.target_chunks) and \
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
    source.require_embedder_match(space)
    target = Workspace(target_settings(source.settings, to), space.enterprise_id)
    try:
        if target.store.find_space(space.enterprise_id, space.name) is not None:
            raise AlreadyExistsError(
                f"Space '{space.name}' already exists on {to}; delete it there or rename one of them first.")
        copy = target.create_space(space.name, space.description, space.instructions)
        documents = source.store.list_documents(space.scope)
        chunks = 0
        for done, document in enumerate(documents):
            progress(Progress("migrate", done, len(documents), item=document.source))
            parts = source.store.list_chunks(space.scope, document.id)
            drafts = [ChunkDraft(chunk.text, chunk.location) for chunk in parts]
            vectors = source.embedder.embed([embedding_text(document.title, draft) for draft in drafts]) if drafts \
                else np.zeros((0, source.embedder.dimension), dtype=np.float32)
            target.blobs.put(copy.scope, document.content_hash, source.blobs.get(space.scope, document.content_hash))
            target.store.put_documents(copy.scope, [DocumentDraft(
                document.source, document.title, document.doc_type, document.tags, document.content_hash,
                document.size_bytes, document.codebase, tuple(drafts), vectors)])
            chunks += len(parts)
        progress(Progress("migrate", len(documents), len(documents), message="verifying"))
        stats = target.store.space_stats(copy.scope)
        searched, matched = _compare_searches(source, space, target, copy, random.Random(seed))
        return MigrationReport(space.name, source.settings.store.backend, to, len(documents), chunks,
                               len({d.content_hash for d in documents}), stats.documents, stats.chunks, searched,
                               matched)
    finally:
        target.close()


def _compare_searches(source: Workspace, space: Space, target: Workspace, copy: Space,
                      rng: random.Random) -> tuple[int, int]:
    """Search both spaces for a few chunks' own text; the best document must be the same in both."""
    chunks = source.store.list_chunks(space.scope)
    sample: Sequence = rng.sample(chunks, min(SAMPLE_SEARCHES, len(chunks)))
    matched = 0
    for chunk in sample:
        vector = source.embedder.embed_query(chunk.text)
        before = source.store.search(space.scope, vector, 1)
        after = target.store.search(copy.scope, vector, 1)
        if before and after and before[0].document.source == after[0].document.source:
            matched += 1
    return len(sample), matched
