"""The knowledge store: tenancy, versions, deletion and search on both backends (SQLite files, and Cosmos DB on the
emulator), then what only the embedded store has (vector-file compaction, schema version)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from lmspace_core.domain import ChangeKind, ChunkDraft, Location, Outcome, Scope, SearchFilter
from lmspace_core.errors import AlreadyExistsError, NotFoundError
from lmspace_core.stores.base import DocumentDraft, SpaceEdit
from lmspace_core.stores.local import sqlite_store
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore
from lmspace_core.workspace import build_stores

DIM = 8


def unit(*indices: int) -> np.ndarray:
    vectors = np.zeros((len(indices), DIM), dtype=np.float32)
    vectors[np.arange(len(indices)), indices] = 1.0
    return vectors


def draft(source: str, content_hash: str, axes: tuple[int, ...], doc_type="text", tags=()) -> DocumentDraft:
    chunks = tuple(ChunkDraft(f"{source} chunk {i}", Location(start_line=i + 1)) for i in range(len(axes)))
    return DocumentDraft(source, source, doc_type, tuple(tags), content_hash, 10, None, chunks, unit(*axes))


@pytest.fixture
def store(settings, backend):
    opened, _, _ = build_stores(settings)
    yield opened
    opened.close()


@pytest.fixture
def local_store(tmp_path: Path):
    opened = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def space(store):
    return store.create_space("acme", "policies", "", "", "test-embedder", DIM)


@pytest.fixture
def local_space(local_store):
    return local_store.create_space("acme", "policies", "", "", "test-embedder", DIM)


def test_space_names_are_unique_within_an_enterprise(store, space):
    with pytest.raises(AlreadyExistsError, match="already exists in enterprise 'acme'"):
        store.create_space("acme", "policies", "", "", "test-embedder", DIM)
    assert store.create_space("globex", "policies", "", "", "test-embedder", DIM).enterprise_id == "globex"


def test_a_space_is_invisible_from_another_enterprise(store, space):
    with pytest.raises(NotFoundError):
        store.get_space(Scope("globex", space.id))
    assert store.list_spaces("globex") == []


def test_rename_keeps_the_space_id(store, space):
    renamed = store.update_space(space.scope, SpaceEdit(name="rules", instructions="Answer in French."))
    assert (renamed.id, renamed.name, renamed.instructions) == (space.id, "rules", "Answer in French.")


def test_writing_the_same_content_again_is_unchanged(store, space):
    store.put_documents(space.scope, [draft("a.txt", "h1", (0, 1))])
    [result] = store.put_documents(space.scope, [draft("a.txt", "h1", (0, 1))])
    assert result.outcome is Outcome.UNCHANGED
    assert store.space_stats(space.scope).chunks == 2


def test_new_content_replaces_chunks_and_bumps_the_version(store, space):
    store.put_documents(space.scope, [draft("a.txt", "h1", (0, 1))])
    [result] = store.put_documents(space.scope, [draft("a.txt", "h2", (2,))])
    assert (result.outcome, result.document.version, result.replaced_hash) == (Outcome.REPLACED, 2, "h1")
    assert [c.text for c in store.list_chunks(space.scope)] == ["a.txt chunk 0"]
    hits = store.search(space.scope, unit(0)[0], k=5)
    assert [h.score for h in hits] == [0.0]  # the old chunk's vector is masked, only the new one is scored


def test_change_log_records_each_version(store, space):
    [added] = store.put_documents(space.scope, [draft("a.txt", "h1", (0,))])
    store.put_documents(space.scope, [draft("a.txt", "h2", (1,))])
    store.delete_document(space.scope, added.document.id)
    changes = store.changes(space.scope)
    assert [(c.kind, c.version, c.content_hash) for c in changes] == [
        (ChangeKind.ADDED, 1, "h1"), (ChangeKind.REPLACED, 2, "h2"), (ChangeKind.DELETED, 2, "h2")
    ]
    assert store.changes(space.scope, after_sequence=changes[1].sequence) == changes[2:]


def test_search_ranks_by_cosine_and_returns_the_document(store, space):
    store.put_documents(space.scope, [draft("a.txt", "h1", (0, 1)), draft("b.txt", "h2", (2,))])
    query = np.array([0.1, 0.9, 0.4, 0, 0, 0, 0, 0], dtype=np.float32)
    hits = store.search(space.scope, query / np.linalg.norm(query), k=2)
    assert [(h.document.source, h.chunk.text) for h in hits] == [("a.txt", "a.txt chunk 1"), ("b.txt", "b.txt chunk 0")]
    assert hits[0].score > hits[1].score


def test_search_scans_only_its_own_space(store, space):
    other = store.create_space("acme", "other", "", "", "test-embedder", DIM)
    store.put_documents(other.scope, [draft("secret.txt", "h9", (0,))])
    store.put_documents(space.scope, [draft("public.txt", "h1", (5,))])
    assert [h.document.source for h in store.search(space.scope, unit(0)[0], k=5)] == ["public.txt"]
    with pytest.raises(NotFoundError):
        store.search(Scope("globex", space.id), unit(0)[0], k=5)


def test_filters_restrict_search_and_listing_by_type_and_tags(store, space):
    store.put_documents(space.scope, [
        draft("a.md", "h1", (0,), doc_type="markdown", tags=("hr", "2026")),
        draft("b.py", "h2", (0,), doc_type="code", tags=("hr",)),
    ])
    by_type = store.search(space.scope, unit(0)[0], 5, SearchFilter(doc_types=("code",)))
    by_tags = store.search(space.scope, unit(0)[0], 5, SearchFilter(tags=("hr", "2026")))
    assert [h.document.source for h in by_type] == ["b.py"]
    assert [h.document.source for h in by_tags] == ["a.md"]
    assert [d.source for d in store.list_documents(space.scope, SearchFilter(tags=("hr",)))] == ["a.md", "b.py"]


def test_metadata_is_stored_filters_search_and_is_kept_when_a_draft_brings_none(store, space):
    store.put_documents(space.scope, [
        dataclasses.replace(draft("p", "h1", (0,)), metadata={"type": "policy", "level": 2, "draft": False}),
        dataclasses.replace(draft("r", "h2", (0,)), metadata={"type": "rule"}),
    ])
    policies = store.search(space.scope, unit(0)[0], 5, SearchFilter.where(type="policy", level=2, draft=False))
    assert [(h.document.source, dict(h.document.metadata)) for h in policies] == [
        ("p", {"type": "policy", "level": 2, "draft": False})]
    assert [d.source for d in store.list_documents(space.scope, SearchFilter.where(type="rule"))] == ["r"]
    store.put_documents(space.scope, [draft("r", "h3", (1,))])  # a re-ingested file: metadata stays
    assert dict(store.find_document(space.scope, "r").metadata) == {"type": "rule"}


def test_deleting_a_document_removes_its_chunks_from_search(store, space):
    [a, _] = store.put_documents(space.scope, [draft("a.txt", "h1", (0,)), draft("b.txt", "h2", (1,))])
    store.delete_document(space.scope, a.document.id)
    assert [h.document.source for h in store.search(space.scope, unit(0)[0], k=5)] == ["b.txt"]


def test_sparse_vector_files_are_compacted(local_store, local_space, monkeypatch, tmp_path):
    store, space = local_store, local_space
    monkeypatch.setattr(sqlite_store, "COMPACT_MIN_DEAD_ROWS", 2)
    results = store.put_documents(space.scope, [draft(f"{i}.txt", f"h{i}", (i,)) for i in range(6)])
    for result in results[:4]:
        store.delete_document(space.scope, result.document.id)
    # The third delete leaves 3 dead rows beside 3 live ones: the file is rewritten with the live 3 only.
    [vector_file] = (tmp_path / "vectors" / "acme").glob("*.f32")
    assert vector_file.stat().st_size == 3 * DIM * 4
    hits = store.search(space.scope, unit(5)[0], k=5)
    assert [(h.document.source, round(h.score, 3)) for h in hits] == [("5.txt", 1.0), ("4.txt", 0.0)]


def test_deleting_a_space_removes_its_records(store, space):
    store.put_documents(space.scope, [draft("a.txt", "h1", (0,))])
    store.delete_space(space.scope)
    assert store.list_spaces("acme") == []
    assert store.changes(space.scope) == []
    assert store.find_space("acme", "policies") is None


def test_deleting_a_space_removes_its_vector_file(local_store, local_space, tmp_path):
    local_store.put_documents(local_space.scope, [draft("a.txt", "h1", (0,))])
    local_store.delete_space(local_space.scope)
    assert list((tmp_path / "vectors").glob("*/*.f32")) == []


def test_schema_version_is_recorded(local_store, tmp_path):
    import sqlite3

    from lmspace_core.stores.local.migrations import MIGRATIONS

    with sqlite3.connect(tmp_path / "lmspace.db") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
