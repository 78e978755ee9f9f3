"""The ingest pipeline: read -> hash -> load -> chunk -> embed -> store, one report line per input.

Inputs are processed in order; an input that fails is reported with its reason and the others go on. Unchanged
inputs (same content hash under the same name) are recognised before anything is parsed or embedded. Chunks of
several documents are embedded together in batches, because the embedder is the bottleneck and small batches waste
it; each batch of documents is then written in one store transaction.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from lmspace_core.domain import (
    ChunkDraft,
    FileOutcome,
    IngestReport,
    Location,
    Outcome,
    Progress,
    ProgressCallback,
    Scope,
    document_id,
    ignore_progress,
)
from lmspace_core.embeddings.base import Embedder, normalise
from lmspace_core.errors import IngestCancelledError, IngestError, LMSpaceError
from lmspace_core.ingest.chunking import chunk_document, embedding_title
from lmspace_core.ingest.embedding_step import Cancelled, EmbeddingMeter, embed_in_slices
from lmspace_core.ingest.inputs import IngestItem, memory_source
from lmspace_core.ingest.loaders import LoadedDocument, load
from lmspace_core.ingest.sources import IngestLimits
from lmspace_core.ingest.tokens import CharacterEstimate, TokenCounter
from lmspace_core.stores.base import BlobPlacement, BlobStore, DocumentDraft, KnowledgeStore


@dataclass(frozen=True)
class _Prepared:
    item: IngestItem
    data: bytes
    placement: BlobPlacement
    loaded: LoadedDocument
    chunks: tuple[ChunkDraft, ...]


def embedding_text(title: str, chunk: ChunkDraft) -> str:
    """What the embedder sees for a chunk: its text, led by the document title when the text does not carry it.

    A passage like "Records are kept for 7 years" only matches "retention policy" questions through its title.
    """
    title = embedding_title(title)
    if title and title.lower() not in chunk.text[:200].lower():
        return f"{title}\n{chunk.text}"
    return chunk.text


class IngestPipeline:
    """Ingests `IngestItem`s into one space of a store, with an embedder and a blob store."""

    def __init__(
        self,
        store: KnowledgeStore,
        blobs: BlobStore,
        embedder: Embedder,
        chunk_tokens: int,
        chunk_overlap: int,
        batch_chunks: int = 256,
        limits: IngestLimits = IngestLimits(),
        counter: TokenCounter = CharacterEstimate(),
        uploader: str = "",
    ) -> None:
        """`uploader` labels the raw files this pipeline stores (who ingested them)."""
        self._store = store
        self._blobs = blobs
        self._embedder = embedder
        self._chunk_tokens = chunk_tokens
        self._chunk_overlap = chunk_overlap
        self._batch_chunks = batch_chunks
        self._limits = limits
        self._counter = counter
        self._uploader = uploader

    def run(
        self,
        scope: Scope,
        items: Sequence[IngestItem],
        tags: Sequence[str] = (),
        progress: ProgressCallback = ignore_progress,
        cancel: threading.Event | None = None,
    ) -> IngestReport:
        """Ingest `items` in order; setting `cancel` stops it before the next slice of chunks or the next input.

        A cancelled ingest raises `IngestCancelledError`, whose report lists the inputs whose outcome is final
        (stored, unchanged or failed); documents of the batch being embedded when it stopped are not stored.
        """
        outcomes: dict[int, FileOutcome] = {}
        pending: list[tuple[int, _Prepared]] = []
        total = len(items)
        meter = EmbeddingMeter(files_total=total)
        cancel = cancel or threading.Event()
        try:
            for index, item in enumerate(items):
                if cancel.is_set():
                    raise Cancelled
                progress(Progress("ingest", done=index, total=total, item=item.source))
                if item.skipped:
                    outcomes[index] = FileOutcome(item.source, Outcome.SKIPPED, reason=item.error)
                    progress(Progress("skipped", done=index, total=total, item=item.source, message=item.error))
                    meter.read(0)
                    continue
                try:
                    prepared = self._prepare(scope, item)
                except IngestError as error:
                    outcomes[index] = FileOutcome(item.source, Outcome.FAILED, reason=str(error))
                    # said as it happens, so that whoever watches does not take the input for stored
                    progress(Progress("failed", done=index, total=total, item=item.source, message=str(error)))
                    meter.read(0)
                    continue
                meter.read(len(prepared.chunks) if prepared else 0)
                if prepared is None:
                    outcomes[index] = FileOutcome(item.source, Outcome.UNCHANGED)
                    continue
                pending.append((index, prepared))
                if sum(len(p.chunks) for _, p in pending) >= self._batch_chunks:
                    outcomes.update(self._write(scope, pending, tags, progress, meter, cancel))
                    pending = []
            if pending:
                outcomes.update(self._write(scope, pending, tags, progress, meter, cancel))
        except Cancelled:
            final = tuple(outcomes[i] for i in sorted(outcomes))
            raise IngestCancelledError(IngestReport(space_id=scope.space_id, files=final)) from None
        progress(Progress("ingest", done=total, total=total, message="done"))
        return IngestReport(space_id=scope.space_id, files=tuple(outcomes[i] for i in range(total)))

    def _prepare(self, scope: Scope, item: IngestItem) -> _Prepared | None:
        """Read, hash, load and chunk one input; None when it is already stored with the same content."""
        if item.file is None:
            raise IngestError(item.error)
        data = item.file.read()
        content_hash = item.content_hash or hashlib.sha256(data).hexdigest()
        existing = self._store.find_document(scope, item.source)
        if existing is not None and existing.content_hash == content_hash:
            return None
        loaded = load(memory_source(item.file.path, data), self._limits)
        if item.vector is not None:  # an entity with its own embedding is one passage with that vector
            if item.vector.shape != (self._embedder.dimension,):
                raise IngestError(f"{item.source}: its embeddings have {item.vector.shape[0]} dimensions; this space's "
                                  f"embedder has {self._embedder.dimension}.")
            chunks = (ChunkDraft(data.decode("utf-8"), Location(start_line=1)),)
        else:
            chunks = tuple(chunk_document(loaded, self._chunk_tokens, self._chunk_overlap, self._counter))
        if not chunks:
            raise IngestError(f"{item.source} has no text to index.")
        # The raw file is stored before the document that names it, so it is named by the id the document will have.
        # A replaced file keeps its name; the year used is recorded on the document (see `BlobPlacement`).
        placement = BlobPlacement(
            scope, existing.id if existing else document_id(scope.space_id, item.source), item.source, content_hash,
            BlobPlacement.of(existing).uploaded_year if existing else datetime.now(UTC).year, item.codebase,
            self._uploader)
        return _Prepared(item, data, placement, loaded, chunks)

    def _write(
        self,
        scope: Scope,
        batch: list[tuple[int, _Prepared]],
        tags: Sequence[str],
        progress: ProgressCallback,
        meter: EmbeddingMeter,
        cancel: threading.Event,
    ) -> dict[int, FileOutcome]:
        try:
            vectors = self._vectors([prepared for _, prepared in batch], meter, progress, cancel)
            drafts, start = [], 0
            for _, prepared in batch:
                count = len(prepared.chunks)
                drafts.append(self._draft(prepared, tags, vectors[start : start + count]))
                start += count
                self._blobs.put(prepared.placement, prepared.data)
            stored = self._store.put_documents(scope, drafts)
        except (LMSpaceError, OSError) as error:
            reason = f"could not be stored: {error}"
            return {index: FileOutcome(p.item.source, Outcome.FAILED, reason=reason) for index, p in batch}
        for (_, prepared), result in zip(batch, stored, strict=True):
            if result.replaced_hash:
                self._blobs.delete(replace(prepared.placement, content_hash=result.replaced_hash))
        return {
            index: FileOutcome(
                prepared.item.source, result.outcome, chunks=result.document.chunk_count, document_id=result.document.id
            )
            for (index, prepared), result in zip(batch, stored, strict=True)
        }

    def _vectors(
        self, batch: list[_Prepared], meter: EmbeddingMeter, progress: ProgressCallback, cancel: threading.Event
    ) -> np.ndarray:
        """One vector per chunk of the batch, in order: the embedder's, or an entity's own."""
        texts = [embedding_text(p.loaded.title, chunk) for p in batch if p.item.vector is None for chunk in p.chunks]
        embedded = iter(embed_in_slices(self._embedder, texts, meter, progress, cancel) if texts else ())
        rows = [normalise(p.item.vector) if p.item.vector is not None else next(embedded) for p in batch
                for _ in p.chunks]
        return np.vstack(rows).astype(np.float32)

    @staticmethod
    def _draft(prepared: _Prepared, tags: Sequence[str], vectors) -> DocumentDraft:
        return DocumentDraft(
            source=prepared.item.source,
            title=prepared.loaded.title,
            doc_type=prepared.loaded.doc_type,
            tags=tuple(tags),
            content_hash=prepared.placement.content_hash,
            size_bytes=len(prepared.data),
            codebase=prepared.item.codebase,
            chunks=prepared.chunks,
            vectors=vectors,
            metadata=prepared.item.metadata,
            raw_year=prepared.placement.uploaded_year,
        )
