"""The offline read cache ranks and filters exactly as the embedded store does, and keeps only the most recently
used spaces that fit in its size bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lmspace_core.domain import Chunk, Document, Location, Scope, SearchFilter
from lmspace_core.stores.azure.read_cache import MAX_FILE_BYTES, SpaceCache, SpaceSnapshot, worth_keeping
from tests.test_ranking import DIM, random_space, random_unit


def test_cached_search_ranks_and_filters_as_the_embedded_store_does(tmp_path: Path):
    rng = np.random.default_rng(11)
    store, space, drafts = random_space(tmp_path, rng, 40, 20)
    vectors = {(d.source, ordinal): vector for d in drafts for ordinal, vector in enumerate(d.vectors)}
    documents = store.list_documents(space.scope)
    sources = {document.id: document.source for document in documents}
    chunks = store.list_chunks(space.scope)
    cache = SpaceCache(tmp_path / "cache.db", 1 << 30)
    cache.fill(space.scope, SpaceSnapshot(7, tuple(documents), tuple(chunks), np.stack(
        [vectors[sources[chunk.document_id], chunk.ordinal] for chunk in chunks])))
    filters = [SearchFilter(), SearchFilter(doc_types=("pdf",)), SearchFilter(tags=("hr",)),
               SearchFilter.where(team="a"), SearchFilter(doc_types=("text",), tags=("hr",), metadata=(("team", "b"),))]
    for query in random_unit(rng, 5):
        for search_filter in filters:
            expected = store.search(space.scope, query, 8, search_filter)
            cached = cache.search(space.scope, query * 3, 8, search_filter)  # any length: ranked by cosine
            assert [hit.chunk.id for hit in cached] == [hit.chunk.id for hit in expected]
            assert [hit.score for hit in cached] == pytest.approx([hit.score for hit in expected], abs=1e-5)
            assert all(hit.cached_at is not None and hit.document == e.document for hit, e in zip(cached, expected))
    assert cache.search(Scope("acme", "never-searched"), random_unit(rng, 1)[0], 8) is None
    store.close()


def _snapshot(rng: np.random.Generator, scope: Scope, chunks: int) -> SpaceSnapshot:
    """A space of `chunks` chunks in one document, as Cosmos would hand it over."""
    now = datetime.now(UTC)
    document = Document(id="d", enterprise_id=scope.enterprise_id, space_id=scope.space_id, source="a.txt",
                        title="a", doc_type="text", tags=(), content_hash="h", size_bytes=10, version=1,
                        chunk_count=chunks, codebase=None, created_at=now, updated_at=now)
    return SpaceSnapshot(1, (document,), tuple(
        Chunk(f"d:1:{n}", scope.enterprise_id, scope.space_id, "d", n, f"passage {n}", Location())
        for n in range(chunks)), random_unit(rng, chunks))


def test_the_cache_keeps_the_most_recently_used_spaces_that_fit(tmp_path: Path):
    rng = np.random.default_rng(5)
    a, b, c, huge = (Scope("acme", name) for name in ("a", "b", "c", "huge"))
    one_space = 100 * (DIM * 4 + 250)  # about what 100 chunks of this size take, pickles included
    cache = SpaceCache(tmp_path / "cache.db", int(one_space * 2.5))
    cache.fill(a, _snapshot(rng, a, 100))
    cache.fill(b, _snapshot(rng, b, 100))
    assert cache.search(a, random_unit(rng, 1)[0], 3)  # a is used: b is now the least recently used
    cache.fill(c, _snapshot(rng, c, 100))
    assert [cache.sequence(scope) for scope in (a, b, c)] == [1, None, 1]
    cache.fill(huge, _snapshot(rng, huge, 400))  # larger than the whole bound: not kept, the others stay
    assert [cache.sequence(scope) for scope in (a, c, huge)] == [1, 1, None]
    assert not cache.fits(400, 0, DIM) and cache.fits(100, 0, DIM)


def test_a_cached_space_follows_writes_and_deletions_made_here(tmp_path: Path):
    rng = np.random.default_rng(9)
    scope = Scope("acme", "s")
    cache = SpaceCache(tmp_path / "cache.db", 1 << 30)
    first = _snapshot(rng, scope, 3)
    cache.apply(scope, first)  # not cached yet: a write alone does not make a (partial) copy
    assert cache.sequence(scope) is None
    cache.fill(scope, SpaceSnapshot.empty())
    cache.apply(scope, first)
    assert [hit.chunk.id for hit in cache.search(scope, first.vectors[2], 1)] == ["d:1:2"]
    assert cache.sequence(scope) == 0  # still complete only up to the sequence it was filled at
    cache.apply(scope, SpaceSnapshot.empty(), ["d"])
    assert cache.search(scope, first.vectors[2], 1) == [] and cache.documents(scope) == []


def test_kept_files_are_served_only_in_the_content_their_document_names(tmp_path: Path):
    rng = np.random.default_rng(3)
    scope = Scope("acme", "s")
    cache = SpaceCache(tmp_path / "cache.db", 1 << 30)
    assert not cache.keep_file(scope, "d", "h", b"print(1)\n")  # the space is not cached: nothing of it is kept
    first = _snapshot(rng, scope, 2)
    cache.fill(scope, first)
    assert cache.keep_file(scope, "d", "h", b"print(1)\n")
    assert cache.file(scope, "d", "h") == b"print(1)\n" and cache.file(scope, "d", "other") is None
    assert cache.keep_file(scope, "d", "h2", b"print(2)\n")  # the new content, written before its document
    [document] = first.documents
    cache.apply(scope, replace(first, documents=(replace(document, content_hash="h2", version=2),)))
    assert cache.file(scope, "d", "h2") == b"print(2)\n" and cache.file(scope, "d", "h") is None
    cache.apply(scope, replace(first, documents=(replace(document, content_hash="h3", version=3),)), sequence=5)
    assert cache.file(scope, "d", "h2") is None  # replaced elsewhere: the change log drops the old content
    cache.keep_file(scope, "d", "h3", b"print(3)\n")
    cache.apply(scope, SpaceSnapshot.empty(), ["d"])
    assert cache.file(scope, "d", "h3") is None


def test_kept_files_count_in_the_bound_and_never_push_their_own_space_out(tmp_path: Path):
    rng = np.random.default_rng(4)
    a, b = Scope("acme", "a"), Scope("acme", "b")
    one_space = 100 * (DIM * 4 + 250)
    cache = SpaceCache(tmp_path / "cache.db", int(one_space * 2.5))
    cache.fill(a, _snapshot(rng, a, 100))
    cache.fill(b, _snapshot(rng, b, 100))
    assert not cache.keep_file(a, "d", "h", bytes(int(one_space * 2)))  # a with it would not fit alone
    assert cache.sequence(a) == 1 and cache.sequence(b) == 1
    assert cache.keep_file(a, "d", "h", bytes(one_space))  # fits with a, not beside b: b, used last, goes
    assert cache.sequence(a) == 1 and cache.sequence(b) is None


def test_research_reads_code_files_of_ordinary_size_and_nothing_else_is_kept():
    assert worth_keeping("codebase/src/main.py", 10_000) and worth_keeping("lib/app.ts", MAX_FILE_BYTES)
    assert not worth_keeping("codebase/dist/bundle.js", MAX_FILE_BYTES + 1)
    assert not worth_keeping("docs/policy.md", 100) and not worth_keeping("report.pdf", 100)
    assert not worth_keeping("data.unknownext", 100)


def test_a_cache_file_of_the_previous_version_is_used_as_it_is(tmp_path: Path):
    import sqlite3

    rng = np.random.default_rng(6)
    scope = Scope("acme", "s")
    SpaceCache(tmp_path / "cache.db", 1 << 30).fill(scope, _snapshot(rng, scope, 3))
    with sqlite3.connect(tmp_path / "cache.db") as old:  # as the version without raw files left it
        old.executescript("DROP TABLE files; ALTER TABLE spaces DROP COLUMN bytes;")
    cache = SpaceCache(tmp_path / "cache.db", 1 << 30)
    assert [hit.chunk.id for hit in cache.search(scope, random_unit(rng, 1)[0], 3)]
    assert cache.keep_file(scope, "d", "h", b"print(1)\n") and cache.file(scope, "d", "h") == b"print(1)\n"
