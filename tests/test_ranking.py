"""Exact search: faiss's flat scan over the memory-mapped matrix returns exactly what brute-force numpy returns,
with filters applied before ranking and rows of replaced or deleted documents never returned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmspace_core.domain import ChunkDraft, Location, SearchFilter
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.ranking import top_k
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore
from lmspace_core.stores.local.vectors import VectorFile

DIM = 32


def brute_force(matrix: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    scores = matrix.astype(np.float64) @ query.astype(np.float64)
    if allowed is not None:
        scores[~allowed] = -np.inf
    order = np.argsort(-scores, kind="stable")
    return [int(row) for row in order[: min(k, int(np.isfinite(scores).sum()))]]


def random_unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_top_k_over_a_memory_map_equals_brute_force_with_and_without_a_mask(tmp_path: Path):
    rng = np.random.default_rng(7)
    vector_file = VectorFile(tmp_path / "space.f32", DIM)
    vector_file.append(random_unit(rng, 5000), at_row=0)
    matrix = vector_file.matrix(5000)
    masks = [None, rng.random(5000) < 0.5, rng.random(5000) < 0.003, np.zeros(5000, dtype=bool)]
    for query in random_unit(rng, 20):
        for allowed in masks:
            ranked = top_k(matrix, query, 10, allowed)
            assert [row for row, _ in ranked] == brute_force(matrix, query, 10, allowed)
            assert [score for _, score in ranked] == pytest.approx([float(matrix[row] @ query) for row, _ in ranked],
                                                                   abs=1e-5)


def test_top_k_returns_fewer_only_when_fewer_rows_are_allowed(tmp_path: Path):
    matrix = random_unit(np.random.default_rng(1), 7)
    assert len(top_k(matrix, matrix[0], 10)) == 7
    allowed = np.array([True, False, True, False, False, False, False])
    assert [row for row, _ in top_k(matrix, matrix[0], 10, allowed)][0] == 0
    assert sorted(row for row, _ in top_k(matrix, matrix[0], 10, allowed)) == [0, 2]
    assert top_k(matrix[:0], matrix[0], 10) == []


def draft(rng: np.random.Generator, source: str, chunks: int, doc_type: str, tags: tuple[str, ...]) -> DocumentDraft:
    texts = tuple(ChunkDraft(f"{source} #{i}", Location(start_line=i + 1)) for i in range(chunks))
    return DocumentDraft(source, source, doc_type, tags, f"hash-{source}-{rng.integers(1 << 30)}", 10, None, texts,
                         random_unit(rng, chunks), metadata={"team": "a" if chunks % 2 else "b"})


def random_space(tmp_path: Path, rng: np.random.Generator, documents: int, max_chunks: int):
    """An embedded store with one space of random documents (pdf and text, some tagged hr); its drafts too."""
    store = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    space = store.create_space("acme", "random", "", "", "test-embedder", DIM)
    drafts = [draft(rng, f"doc{i}.txt", int(rng.integers(1, max_chunks)), ("pdf", "text")[i % 2],
                    ("hr",) if i % 3 == 0 else ()) for i in range(documents)]
    store.put_documents(space.scope, drafts)
    return store, space, drafts


def test_store_search_equals_brute_force_with_filters_and_replaced_documents(tmp_path: Path):
    rng = np.random.default_rng(3)
    store, space, drafts = random_space(tmp_path, rng, 60, 30)
    # Replacing documents masks their old rows without compacting (too few to matter), deleting masks more.
    replaced = [draft(rng, f"doc{i}.txt", 5, "text", ()) for i in range(0, 60, 7)]
    store.put_documents(space.scope, replaced)
    current = {d.source: d for d in drafts} | {d.source: d for d in replaced}
    deleted = [document for document in store.list_documents(space.scope) if document.source in {"doc1.txt", "doc2.txt"}]
    for document in deleted:
        store.delete_document(space.scope, document.id)
    for source in ("doc1.txt", "doc2.txt"):
        current.pop(source)
    documents = {document.source: document for document in store.list_documents(space.scope)}

    live = [(d.source, ordinal, d) for d in current.values() for ordinal in range(len(d.chunks))]
    matrix = np.concatenate([d.vectors[ordinal : ordinal + 1] for _, ordinal, d in live])
    filters = [SearchFilter(), SearchFilter(doc_types=("pdf",)), SearchFilter(tags=("hr",)),
               SearchFilter.where(team="b"), SearchFilter(doc_types=("pdf",), tags=("hr",))]
    # drafts[0]'s old rows are masked: a query equal to one of them finds a dead row first and must skip it.
    for query in [*random_unit(rng, 10), matrix[0], matrix[-1], drafts[0].vectors[0], drafts[1].vectors[0]]:
        for search_filter in filters:
            allowed = np.array([
                (not search_filter.doc_types or d.doc_type in search_filter.doc_types)
                and set(search_filter.tags) <= set(documents[source].tags)
                and all(documents[source].metadata.get(key) == value for key, value in search_filter.metadata)
                for source, _, d in live
            ])
            expected = [(live[row][0], live[row][1]) for row in brute_force(matrix, query, 8, allowed)]
            hits = store.search(space.scope, query, 8, search_filter)
            assert [(hit.document.source, hit.chunk.ordinal) for hit in hits] == expected
    store.close()
