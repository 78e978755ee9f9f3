"""The approximate (HNSW) index of a big space: built by a background job, trusted only after it measures up.

Exact search answers until the job has finished; then the index answers with the same hits; an index that misses
more than `min_recall` of the exact top 10 is refused; and any change to the space sends searches back to exact
until a rebuild for the new state passes again. The threshold is lowered so that a test space is "big".
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.domain import ChunkDraft, JobStatus, Location, SearchFilter
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

DIM = 384
PER_DOCUMENT = 50


def clustered(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Unit vectors around a few centres, like embeddings of real text (nearest neighbours at cosine ~0.8)."""
    centres = rng.standard_normal((rows // 20, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), rows)] + 0.5 * rng.standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def scattered(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Unit vectors with no structure at all: the hardest case for a graph index."""
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def workspace_with(tmp_path: Path, approximate: str) -> Workspace:
    config = write_config(tmp_path, f"retrieval:\n  approximate:\n{approximate}")
    return Workspace(load_config(config, env={}))


def add_documents(workspace: Workspace, space, vectors: np.ndarray, first: int = 0) -> None:
    drafts = []
    for start in range(0, len(vectors), PER_DOCUMENT):
        number = first + start // PER_DOCUMENT
        rows = vectors[start : start + PER_DOCUMENT]
        drafts.append(DocumentDraft(
            source=f"doc-{number}.md", title=f"doc {number}", doc_type="markdown" if number % 2 else "text",
            tags=(), content_hash=f"h{number}", size_bytes=1, codebase=None,
            chunks=tuple(ChunkDraft(f"row {first + start + i}", Location()) for i in range(len(rows))), vectors=rows,
        ))
    workspace.store.put_documents(space.scope, drafts)


def top_rows(workspace: Workspace, space, query: np.ndarray, search_filter: SearchFilter = SearchFilter()) -> list[int]:
    return [int(hit.chunk.text.split()[1]) for hit in workspace.store.search(space.scope, query, 10, search_filter)]


def exact_rows(vectors: np.ndarray, query: np.ndarray, allowed: np.ndarray | None = None) -> list[int]:
    scores = vectors.astype(np.float64) @ query.astype(np.float64)
    if allowed is not None:
        scores[~allowed] = -np.inf
    return [int(row) for row in np.argsort(-scores, kind="stable")[:10]]


def queries_near(rng: np.random.Generator, vectors: np.ndarray, count: int = 20) -> np.ndarray:
    picked = vectors[rng.choice(len(vectors), count, replace=False)] + 0.3 * scattered(rng, count)
    return picked / np.linalg.norm(picked, axis=1, keepdims=True)


@pytest.fixture
def big_space(tmp_path: Path):
    """A workspace whose threshold is 1,000 vectors, with a space of 2,000 clustered ones."""
    workspace = workspace_with(tmp_path, "    min_chunks: 1000\n    build_threads: 1\n")
    space = workspace.create_space("big")
    vectors = clustered(np.random.default_rng(3), 2000)
    add_documents(workspace, space, vectors)
    yield workspace, space, vectors
    workspace.close()


def test_exact_search_answers_until_the_background_build_ends_then_the_index_gives_the_same_hits(big_space):
    workspace, space, vectors = big_space
    queries = queries_near(np.random.default_rng(5), vectors)
    gate = threading.Event()
    blockers = [workspace.jobs.submit(space.scope, "test", "hold a worker", lambda progress: gate.wait() and None)
                for _ in range(2)]  # both workers of the runner: the index job has to wait its turn
    job = workspace.schedule_approximate_index(space)
    assert job is not None
    assert workspace.schedule_approximate_index(space) is None  # one build per space at a time

    plan = workspace.search_plan(space)
    assert not plan.approximate and "being built" in plan.reason
    before = [top_rows(workspace, space, query) for query in queries]
    assert before == [exact_rows(vectors, query) for query in queries]

    gate.set()
    for blocker in blockers:
        workspace.jobs.wait(space.enterprise_id, blocker.id, timeout=60)
    finished = workspace.jobs.wait(space.enterprise_id, job.id, timeout=120)
    assert finished.status is JobStatus.SUCCEEDED, finished.error
    plan = workspace.search_plan(space)
    assert plan.approximate, plan.reason
    assert "recall@10 1.000" in plan.reason
    assert [top_rows(workspace, space, query) for query in queries] == before


def test_an_index_that_misses_too_many_true_neighbours_is_refused_and_exact_search_answers(tmp_path: Path):
    # A sparse graph searched with the smallest candidate list, over vectors without structure: low recall.
    workspace = workspace_with(tmp_path, "    min_chunks: 1000\n    m: 2\n    ef_construction: 4\n    ef_search: 1\n")
    space = workspace.create_space("scattered")
    vectors = scattered(np.random.default_rng(4), 2000)
    add_documents(workspace, space, vectors)

    plan = workspace.build_approximate_index(space)
    assert not plan.approximate and not plan.due
    assert "refused" in plan.reason
    recall = float(plan.reason.split("recall@10 ")[1].split()[0])
    assert recall < 0.99
    folder = tmp_path / "home" / "vectors" / space.enterprise_id
    assert not list(folder.glob("*.hnsw")) and len(list(folder.glob("*.hnsw.json"))) == 1  # the verdict is kept
    assert workspace.schedule_approximate_index(space) is None  # and not rebuilt in a loop
    for query in queries_near(np.random.default_rng(6), vectors, 10):
        assert top_rows(workspace, space, query) == exact_rows(vectors, query)
    workspace.close()


def test_a_change_to_the_space_sends_search_back_to_exact_until_the_index_is_rebuilt(big_space):
    workspace, space, vectors = big_space
    assert workspace.build_approximate_index(space).approximate

    added = clustered(np.random.default_rng(8), PER_DOCUMENT)
    add_documents(workspace, space, added, first=len(vectors))
    plan = workspace.search_plan(space)
    assert not plan.approximate and plan.due
    everything = np.concatenate([vectors, added])
    for query in added[:5]:  # the old index has never seen these rows: only exact search can find them
        assert top_rows(workspace, space, query) == exact_rows(everything, query)

    job = workspace.schedule_approximate_index(space)
    assert workspace.jobs.wait(space.enterprise_id, job.id, timeout=120).status is JobStatus.SUCCEEDED
    assert workspace.search_plan(space).approximate
    for query in added[:5]:
        assert top_rows(workspace, space, query)[0] == exact_rows(everything, query)[0]
    folder = workspace.settings.data_dir / "vectors" / space.enterprise_id
    assert len(list(folder.glob("*.hnsw"))) == 1  # the index of the older state is gone


def test_a_filtered_search_is_exact_even_when_the_index_is_ready(big_space):
    workspace, space, vectors = big_space
    assert workspace.build_approximate_index(space).approximate
    documents = np.arange(len(vectors)) // PER_DOCUMENT
    allowed = documents % 2 == 1  # the markdown documents
    for query in queries_near(np.random.default_rng(9), vectors, 10):
        found = top_rows(workspace, space, query, SearchFilter(doc_types=("markdown",)))
        assert found == exact_rows(vectors, query, allowed)


def test_a_small_space_gets_no_index_job(tmp_path: Path):
    workspace = workspace_with(tmp_path, "    min_chunks: 1000\n")
    space = workspace.create_space("small")
    add_documents(workspace, space, clustered(np.random.default_rng(1), 100))
    assert workspace.schedule_approximate_index(space) is None
    plan = workspace.search_plan(space)
    assert not plan.approximate and not plan.due and "below retrieval.approximate.min_chunks" in plan.reason
    workspace.close()


def test_spaces_show_and_spaces_index_say_which_index_answers(tmp_path: Path):
    workspace = workspace_with(tmp_path, "    min_chunks: 1000\n    build_threads: 1\n")
    space = workspace.create_space("big")
    add_documents(workspace, space, clustered(np.random.default_rng(2), 1000))
    workspace.close()
    runner = CliRunner()
    config = str(tmp_path / "lmspace.yaml")

    shown = json.loads(runner.invoke(app, ["--config", config, "spaces", "show", "big", "--json"]).stdout)
    assert shown["search"].startswith("exact: no approximate index")
    assert shown["search"].endswith("to build it now: lmspace spaces index 'big'")
    built = runner.invoke(app, ["--config", config, "spaces", "index", "big"])
    assert built.exit_code == 0, built.output
    assert "approximate (HNSW)" in built.stdout and "recall@10" in built.stdout
    shown = json.loads(runner.invoke(app, ["--config", config, "spaces", "show", "big", "--json"]).stdout)
    assert shown["search"].startswith("approximate (HNSW): HNSW M=32")


def test_closing_the_workspace_stops_its_index_build_and_the_job_says_how_to_finish_it(big_space, tmp_path: Path):
    workspace, space, _ = big_space
    gate = threading.Event()
    for _ in range(2):
        workspace.jobs.submit(space.scope, "test", "hold a worker", lambda progress: gate.wait() and None)
    job = workspace.schedule_approximate_index(space)
    closing = threading.Thread(target=workspace.close)
    closing.start()  # stops the build it finds queued, then waits for the runner's jobs
    # Release the held workers only once close() has flagged the build (its first act), so the test never races.
    while closing.is_alive() and not workspace._index_jobs[space.id].is_set():
        closing.join(0.01)
    gate.set()
    closing.join(60)

    reopened = Workspace(load_config(tmp_path / "lmspace.yaml", env={}))
    stopped = reopened.job_store.get_job(space.enterprise_id, job.id)
    assert stopped.status is JobStatus.FAILED and "lmspace spaces index big" in stopped.error
    assert reopened.search_plan(space).due
    assert not list((reopened.settings.data_dir / "vectors" / space.enterprise_id).glob("*.hnsw*"))
    reopened.close()


def test_an_ingest_that_makes_a_space_big_enough_starts_the_index_job(tmp_path: Path):
    workspace = workspace_with(tmp_path, "    min_chunks: 5\n    build_threads: 1\n")
    space = workspace.create_space("notes")
    workspace.ingest(space, {f"note-{number}.md": f"# Note {number}\n\nThe number {number} is noted here."
                             for number in range(6)})
    jobs = workspace.recent_jobs(space, kind="index")
    assert len(jobs) == 1
    assert workspace.jobs.wait(space.enterprise_id, jobs[0].id, timeout=120).status is JobStatus.SUCCEEDED
    assert workspace.search_plan(space).approximate
    workspace.close()
