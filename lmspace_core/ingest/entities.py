"""Knowledge entities, the design's unit of knowledge: `{"content", "id"?, "metadata"?, "embeddings"?}`.

An entity becomes one document named by its id (a hash of its content when it has none). Its metadata (type,
tags, timestamps, any JSON object) is stored with the document and filterable in search; its content hash covers
the metadata too, so re-ingesting an entity with new metadata is a new version. Given `embeddings` (one vector for
the content), the entity is stored as a single passage with that vector instead of being chunked and embedded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmspace_core.domain import IngestReport
from lmspace_core.errors import IngestError
from lmspace_core.ingest.inputs import IngestItem, memory_source

ENTITY_KEYS = frozenset({"content", "id", "metadata", "embeddings"})
FORMS = (
    "ingest takes a knowledge entity {'content': ..., 'id'?: ..., 'metadata'?: {...}, 'embeddings'?: [...]} "
    "(or a list of them), or a {path: content} mapping of files"
)


@dataclass(frozen=True)
class KnowledgeEntity:
    content: str
    id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    embeddings: np.ndarray | None = None

    @property
    def content_hash(self) -> str:
        """A hash of the content and the metadata: either changing makes a new version."""
        canonical = json.dumps({"content": self.content, "metadata": self.metadata}, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_entity(value: object) -> bool:
    """Whether `value` is an entity dict (it has `content`, and no key outside the entity's)."""
    return isinstance(value, Mapping) and "content" in value and set(value) <= ENTITY_KEYS


def is_entity_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes) and bool(value) and all(
        is_entity(entry) for entry in value
    )


def parse_entity(value: Mapping[str, Any]) -> KnowledgeEntity:
    """Check an entity dict and give it an id; raise `IngestError` naming what is wrong."""
    content, metadata = value["content"], value.get("metadata") or {}
    if not isinstance(content, str) or not content.strip():
        raise IngestError(f"An entity's 'content' must be non-empty text ({FORMS}).")
    if not isinstance(metadata, Mapping):
        raise IngestError("An entity's 'metadata' must be a JSON object (a dict), e.g. {'type': 'policy'}.")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as error:
        raise IngestError(f"An entity's 'metadata' must be JSON-serialisable: {error}.") from None
    embeddings = value.get("embeddings")
    vector = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)
    if vector is not None and vector.ndim != 1:
        raise IngestError("An entity's 'embeddings' must be one vector (a list of numbers) for its content.")
    entity_id = str(value.get("id") or "")
    if not entity_id:
        entity_id = "entity-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
    return KnowledgeEntity(content=content, id=entity_id, metadata=dict(metadata), embeddings=vector)


def items_from_entities(entities: Sequence[KnowledgeEntity]) -> list[IngestItem]:
    """One ingest input per entity, named by its id and loaded as plain text."""
    return [
        IngestItem(
            source=entity.id,
            codebase=None,
            file=memory_source(f"{entity.id}.txt", entity.content),
            metadata=entity.metadata,
            vector=entity.embeddings,
            content_hash=entity.content_hash,
        )
        for entity in entities
    ]


def stored_entity_ids(report: IngestReport) -> list[str]:
    """The ids of ingested entities; an entity that could not be stored raises `IngestError` with its reason."""
    if report.failed:
        raise IngestError("; ".join(f"{failed.source}: {failed.reason}" for failed in report.failed))
    return [stored.source for stored in report.files]
