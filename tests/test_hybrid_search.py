"""Hybrid retrieval: a keyword ranking (FTS5) kept in step with the chunks, fused with the vector ranking, and a
setting that a store without keyword search refuses instead of silently answering by vectors only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lmspace_core import workspace as workspace_module
from lmspace_core.config import load_config
from lmspace_core.domain import ChunkDraft, Location, SearchFilter
from lmspace_core.errors import ConfigError
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.stores.local import migrations
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.ranking import reciprocal_rank_fusion
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

DIM = 8


def document(source: str, text: str, axis: int, doc_type: str = "text") -> DocumentDraft:
    vector = np.zeros((1, DIM), dtype=np.float32)
    vector[0, axis % DIM] = 1.0
    vector[0, (axis + 1) % DIM] = 0.1 * axis  # no two documents alike
    vector /= np.linalg.norm(vector)
    return DocumentDraft(source, source, doc_type, (), f"hash-{source}-{text}", len(text), None,
                         (ChunkDraft(text, Location()),), vector)


@pytest.fixture
def store(tmp_path: Path):
    opened = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def scope(store):
    space = store.create_space("acme", "handbook", "", "", "test-embedder", DIM)
    store.put_documents(space.scope, [
        document(f"doc{i}.md", f"ordinary policy text number {i}", i) for i in range(8)
    ] + [document("zebra.md", "the zebra crossing rule", 11, doc_type="pdf")])
    return space.scope


QUERY = np.arange(DIM, 0, -1, dtype=np.float32) / np.linalg.norm(np.arange(DIM, 0, -1))  # distinct cosines


def sources(hits) -> list[str]:
    return [hit.document.source for hit in hits]


def test_a_keyword_match_lifts_a_chunk_that_vectors_alone_rank_low(store, scope):
    assert "zebra.md" not in sources(store.search(scope, QUERY, 2))
    hybrid = store.hybrid_search(scope, QUERY, "zebra rules", 2)
    assert "zebra.md" in sources(hybrid)
    cosines = {hit.document.source: hit.score for hit in store.search(scope, QUERY, 9)}
    assert [hit.score for hit in hybrid] == pytest.approx([cosines[source] for source in sources(hybrid)])


def test_the_keyword_index_follows_replaced_and_deleted_documents(store, scope):
    store.put_documents(scope, [document("zebra.md", "the crossing rule, now without the animal", 11)])
    assert "zebra.md" not in sources(store.hybrid_search(scope, QUERY, "zebra", 2))
    store.put_documents(scope, [document("doc7.md", "a zebra moved here", 7)])
    assert "doc7.md" in sources(store.hybrid_search(scope, QUERY, "zebra", 2))
    doc7 = store.find_document(scope, "doc7.md")
    store.delete_document(scope, doc7.id)
    assert "doc7.md" not in sources(store.hybrid_search(scope, QUERY, "zebra", 2))


def test_keyword_matches_respect_the_filter_and_the_space(store, scope):
    other = store.create_space("acme", "other", "", "", "test-embedder", DIM)
    store.put_documents(other.scope, [document("elsewhere.md", "zebra zebra zebra", 0)])
    hits = store.hybrid_search(scope, QUERY, "zebra", 3, SearchFilter(doc_types=("text",)))
    assert "zebra.md" not in sources(hits) and "elsewhere.md" not in sources(hits)
    assert sources(store.hybrid_search(scope, QUERY, "zebra", 1, SearchFilter(doc_types=("pdf",)))) == ["zebra.md"]


def test_text_without_words_falls_back_to_the_vector_ranking(store, scope):
    assert sources(store.hybrid_search(scope, QUERY, "?! --", 3)) == sources(store.search(scope, QUERY, 3))


def test_reciprocal_rank_fusion_prefers_agreement():
    assert reciprocal_rank_fusion([[1, 2, 3], [4, 2, 5]]) == [2, 1, 4, 3, 5]


def test_hybrid_on_a_store_without_keyword_search_is_refused_when_the_workspace_opens(tmp_path: Path, monkeypatch):
    class VectorOnlyStore:
        def search(self, scope, query, k, search_filter=SearchFilter()):
            return []

    settings = load_config(write_config(tmp_path, "retrieval:\n  hybrid: true\n"), env={})
    monkeypatch.setattr(workspace_module, "build_stores", lambda settings: (VectorOnlyStore(), None, None))
    with pytest.raises(ConfigError, match="retrieval.hybrid is on, but the .* store has no keyword search"):
        Workspace(settings)


def test_upgrading_a_database_indexes_the_chunks_it_already_has(tmp_path: Path, monkeypatch):
    with monkeypatch.context() as schema_6:  # a database written before the keyword index (migration 7) existed
        schema_6.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
        store = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
        space = store.create_space("acme", "handbook", "", "", "test-embedder", DIM)
        store.put_documents(space.scope, [document("doc0.md", "plain text", 0), document("zebra.md", "a zebra", 11)])
        store.close()
    with sqlite3.connect(tmp_path / "lmspace.db") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 6
    store = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    assert sources(store.hybrid_search(space.scope, QUERY, "zebra", 1)) == ["zebra.md"]
    store.close()
