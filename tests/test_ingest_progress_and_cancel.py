"""A long ingest reports progress inside its embedding batches and can be cancelled, keeping what it committed."""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lmspace_core.domain import IngestReport, JobStatus, Outcome
from lmspace_core.errors import IngestCancelledError
from lmspace_core.ingest.embedding_step import SLICE_CHUNKS
from lmspace_core.ingest.inputs import items_from_mapping
from lmspace_core.ingest.pipeline import IngestPipeline
from tests.conftest import DATA, write_config

SENTENCES = [
    sentence
    for path in sorted((DATA / "retrieval").glob("*.md"))
    for sentence in re.split(r"(?<=[.!?])\s+", path.read_text())
    if len(sentence.split()) > 6 and not sentence.startswith("#")
]


def documents(count: int, paragraphs: int, seed: int = 3) -> dict[str, str]:
    """Distinct markdown documents of shuffled real sentences; about one chunk per two paragraphs."""
    rng = random.Random(seed)
    return {
        f"doc-{number:03d}.md": f"# Policy {number}\n\n"
        + "\n\n".join(" ".join(rng.sample(SENTENCES, 5)) for _ in range(paragraphs))
        for number in range(count)
    }


def pipeline(workspace, batch_chunks: int) -> IngestPipeline:
    return IngestPipeline(workspace.store, workspace.blobs, workspace.embedder, chunk_tokens=250, chunk_overlap=40,
                          batch_chunks=batch_chunks)


def test_embedding_reports_chunks_done_rate_and_time_left_inside_a_batch(workspace):
    space = workspace.create_space("long")
    events = []
    report = workspace.ingest(space, documents(12, 30), progress=events.append)
    chunks = sum(f.chunks for f in report.files)
    embedded = [event for event in events if event.stage == "embed"]
    assert chunks > 2 * SLICE_CHUNKS
    assert embedded[0].done <= SLICE_CHUNKS  # long before the batch of 256 chunks is done
    assert [event.done for event in embedded] == sorted({event.done for event in embedded})
    assert (embedded[-1].done, embedded[-1].total) == (chunks, chunks)
    for event in embedded:
        assert re.fullmatch(r"\d+\.\d chunks/s · about \d+ (s|min) left", event.message), event.message


def test_cancelling_between_documents_keeps_the_committed_ones_and_a_rerun_adds_the_rest(workspace):
    space = workspace.create_space("cancelled")
    sources = documents(12, 6)
    cancel = threading.Event()

    def cancel_at_the_ninth_document(event) -> None:
        if event.stage == "ingest" and event.done == 8:
            cancel.set()

    with pytest.raises(IngestCancelledError) as stopped:
        pipeline(workspace, batch_chunks=8).run(space.scope, items_from_mapping(sources), (),
                                                cancel_at_the_ninth_document, cancel)
    kept = stopped.value.report.files
    stored = {document.source for document in workspace.documents(space)}
    assert kept and all(f.outcome is Outcome.ADDED for f in kept)
    assert stored == {f.source for f in kept} and len(stored) < len(sources)
    assert stopped.value.exit_code == 130 and "Run the same ingest again" in str(stopped.value)

    rerun = workspace.ingest(space, sources)
    assert rerun.count(Outcome.UNCHANGED) == len(kept)
    assert rerun.count(Outcome.ADDED) == len(sources) - len(kept)


def test_cancelling_while_a_batch_is_embedded_stores_none_of_that_batch(workspace):
    space = workspace.create_space("mid-batch")
    cancel = threading.Event()

    def cancel_after_the_first_slice(event) -> None:
        if event.stage == "embed":
            cancel.set()

    with pytest.raises(IngestCancelledError) as stopped:
        pipeline(workspace, batch_chunks=256).run(space.scope, items_from_mapping(documents(6, 30)), (),
                                                  cancel_after_the_first_slice, cancel)
    assert stopped.value.report.files == ()
    assert workspace.documents(space) == []


def test_a_job_runner_job_is_cancelled_through_its_event(workspace):
    space = workspace.create_space("job")
    started, cancel = threading.Event(), threading.Event()

    def work(progress):
        started.set()
        return {"stopped": cancel.wait(30)}

    job = workspace.jobs.submit(space.scope, "wait", "wait for cancel", work, cancel=cancel)
    assert started.wait(30)
    assert workspace.jobs.cancel(job.id)
    assert workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=30).result == {"stopped": True}
    assert not workspace.jobs.cancel(job.id)  # it has ended


def test_a_cancelled_upload_job_ends_saying_it_was_cancelled(workspace):
    space = workspace.create_space("upload")
    uploads = [(name, text.encode()) for name, text in documents(20, 30).items()]
    job = workspace.start_ingest(space, uploads)
    assert workspace.jobs.cancel(job.id)
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120)
    assert finished.status is JobStatus.CANCELLED  # was 'failed': a red error for what the user asked for
    assert "Ingest cancelled" in (finished.error or "")
    stored = workspace.documents(space)
    assert len(stored) < len(uploads)
    report = IngestReport.from_json_data(finished.result)  # the job lists what was stored before it stopped
    assert {f.source for f in report.files if f.outcome is Outcome.ADDED} == {doc.source for doc in stored}


def test_ctrl_c_stops_a_cli_ingest_keeping_and_listing_what_was_stored(tmp_path: Path):
    folder = tmp_path / "policies"
    folder.mkdir()
    for name, text in documents(60, 40).items():
        (folder / name).write_text(text)
    # Small chunks: the first documents are stored once a batch of 256 chunks is embedded, which with 250-token
    # chunks took 140 s to over 240 s on a machine at load 20 (48-token chunks: 30 s), and they leave the ingest
    # over 90% of its work to do when it is interrupted.
    config = write_config(tmp_path, "ingest:\n  chunk_tokens: 48\n  chunk_overlap: 8\n")
    lmspace = Path(sys.executable).parent / "lmspace"
    subprocess.run([lmspace, "--config", config, "spaces", "create", "big"], check=True, capture_output=True)
    ingest = subprocess.Popen([lmspace, "--config", config, "ingest", "big", folder], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        stored_before_signal = _wait_for_stored_documents(tmp_path / "home" / "lmspace.db", ingest)
        ingest.send_signal(signal.SIGINT)
        stdout, stderr = ingest.communicate(timeout=120)
    finally:
        ingest.kill()
    assert ingest.returncode == 130, stderr
    assert "Ingest cancelled" in stderr and "Traceback" not in stderr
    with sqlite3.connect(tmp_path / "home" / "lmspace.db") as database:
        stored = database.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert stored_before_signal <= stored < 60
    assert f"{stored} added" in stdout


def _wait_for_stored_documents(database: Path, process: subprocess.Popen, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if database.exists():
            with sqlite3.connect(database) as connection:
                stored = connection.execute("SELECT count(*) FROM documents").fetchone()[0]
            if stored:
                return stored
        time.sleep(0.2)
    raise AssertionError("the ingest stored nothing in time")


def test_an_input_that_fails_or_is_skipped_says_so_in_the_progress_with_its_reason(workspace):
    """Watching an upload, a corrupt PDF was shown done like the files that were stored (no event said it failed)."""
    space = workspace.create_space("mixed")
    events = []
    workspace.ingest(space, {"good.md": "# Good\n\nStored.", "broken.pdf": b"%PDF-1.4\ngarbage", "empty.txt": ""},
                     progress=events.append)
    ended = {event.item: (event.stage, event.message) for event in events if event.stage in ("failed", "skipped")}
    assert set(ended) == {"broken.pdf", "empty.txt"}
    assert ended["broken.pdf"][0] == "failed" and "PDF" in ended["broken.pdf"][1]
