"""`PersistenceManager`: the design's persistence facade over whichever backend the settings configure.

Knowledge goes in as entities (`{"content", "id"?, "metadata"?, "embeddings"?}`) and comes back as JSON-ready
entities with a similarity score, so callers that bring their own embeddings never touch spaces or chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lmspace_core.config import Settings
from lmspace_core.domain import Hit, SearchFilter, Space
from lmspace_core.embeddings.base import normalise
from lmspace_core.errors import LMSpaceError
from lmspace_core.ingest.entities import stored_entity_ids
from lmspace_core.workspace import Workspace

_FILTER_KEYS = "'type', 'metadata.<key>', 'tags' or 'doc_types'"


class PersistenceManager:
    """Persist and query knowledge entities in one space (default: the configured `default_space`)."""

    def __init__(self, source: Settings | Workspace, space: str | None = None) -> None:
        self.workspace = source if isinstance(source, Workspace) else Workspace(source)
        self._space_name = space

    @property
    def space(self) -> Space:
        return self.workspace.space(self._space_name)

    def persist_knowledge(self, data: Mapping[str, Any]) -> str:
        """Store one knowledge entity and return its id (the given `id`, else one derived from the content)."""
        return stored_entity_ids(self.workspace.ingest(self.space, data))[0]

    def query_knowledge(
        self, embedding: Sequence[float] | np.ndarray, k: int = 5, filter: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The `k` passages nearest to `embedding` as entities `{id, content, metadata, score, source, location}`.

        `filter` restricts by metadata before ranking: `{"type": "policy"}` (or `{"metadata.type": "policy"}`),
        `{"tags": [...]}`, `{"doc_types": [...]}`.
        """
        vector = normalise(np.asarray(embedding, dtype=np.float32))
        if vector.ndim != 1:
            raise LMSpaceError("query_knowledge takes one embedding (a list of numbers).")
        hits = self.workspace.store.search(self.space.scope, vector, k, _search_filter(filter or {}))
        return [_entity(hit) for hit in hits]

    def close(self) -> None:
        self.workspace.close()


def _search_filter(conditions: Mapping[str, Any]) -> SearchFilter:
    metadata, tags, doc_types = [], (), ()
    for key, value in conditions.items():
        if key == "tags":
            tags = tuple(value)
        elif key == "doc_types":
            doc_types = tuple(value)
        elif isinstance(value, str | int | float | bool):
            metadata.append((key.removeprefix("metadata."), value))
        else:
            raise LMSpaceError(f"Filter '{key}' needs one text, number or true/false value ({_FILTER_KEYS}).")
    return SearchFilter(doc_types=doc_types, tags=tags, metadata=tuple(metadata))


def _entity(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.document.source,
        "content": hit.chunk.text,
        "metadata": dict(hit.document.metadata),
        "score": round(float(hit.score), 6),
        "source": hit.document.source,
        "location": hit.chunk.location.describe(),
        "document_id": hit.document.id,
        "chunk_id": hit.chunk.id,
    }
