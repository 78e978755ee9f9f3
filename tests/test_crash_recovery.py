"""A process killed between appending vectors and committing them leaves a store that repairs itself on open."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np

from lmspace_core.domain import ChunkDraft, Location, Scope
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.stores.local import vectors as vectors_module
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore

DIM = 4


def _draft(source: str, count: int) -> DocumentDraft:
    chunks = tuple(ChunkDraft(f"{source} {i}", Location(start_line=i + 1)) for i in range(count))
    vectors = np.tile(np.eye(DIM, dtype=np.float32)[:1], (count, 1))
    return DocumentDraft(source, source, "text", (), f"hash-{source}", 1, None, chunks, vectors)


def _ingest_then_die_before_commit(data_dir: str, space_id: str) -> None:
    """Runs in a child process: the vector append completes, then the process is killed before SQLite commits."""
    original_append = vectors_module.VectorFile.append

    def append_and_die(self, vectors, at_row):
        original_append(self, vectors, at_row)
        os.kill(os.getpid(), signal.SIGKILL)

    vectors_module.VectorFile.append = append_and_die
    store = LocalKnowledgeStore(Database(Path(data_dir) / "lmspace.db"), Path(data_dir))
    store.put_documents(Scope("acme", space_id), [_draft("doomed.txt", 5)])


def test_vectors_appended_before_a_crash_are_cut_on_open(tmp_path: Path):
    store = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    space = store.create_space("acme", "s", "", "", "e", DIM)
    store.put_documents(space.scope, [_draft("kept.txt", 3)])
    store.close()
    [vector_path] = (tmp_path / "vectors" / "acme").glob("*.f32")
    assert vector_path.stat().st_size == 3 * DIM * 4

    child = multiprocessing.get_context("spawn").Process(
        target=_ingest_then_die_before_commit, args=(str(tmp_path), space.id)
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    assert vector_path.stat().st_size == 8 * DIM * 4  # the orphan rows reached the disk

    reopened = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    assert vector_path.stat().st_size == 3 * DIM * 4
    assert reopened.find_document(space.scope, "doomed.txt") is None
    assert reopened.space_stats(space.scope).chunks == 3
    reopened.put_documents(space.scope, [_draft("after.txt", 2)])
    hits = reopened.search(space.scope, np.eye(DIM, dtype=np.float32)[0], k=10)
    assert sorted(h.document.source for h in hits) == ["after.txt"] * 2 + ["kept.txt"] * 3
