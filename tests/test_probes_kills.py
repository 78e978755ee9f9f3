"""Probes (kills and corruption): what a SIGKILL at a bad moment or a damaged file leaves, and how LMSpace copes.

A damaged vector file takes down only its own space, which can still be re-embedded or deleted; a damaged database
is refused with a message that names it and says how to recover; what a killed process leaves behind (blobs nothing
refers to, a half-written blob, the folder of a deleted space, the staging folder of an upload job) is removed by
`lmspace doctor`, which says what it removed.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.doctor import examine
from lmspace_core.domain import ChunkDraft, JobStatus, Location, Space, document_id
from lmspace_core.stores.base import BlobPlacement, DocumentDraft
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

DIMENSION = 384  # the configured embedder's, so that the workspace accepts the spaces seeded here


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def lmspace(config: Path, *args: str) -> tuple[int, str]:
    """Run the CLI in-process; return its exit code and everything it printed. A crash fails the test."""
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def open_workspace(config: Path) -> Workspace:
    return Workspace(load_config(config, env={}))


def placement(space: Space, source: str, content_hash: str) -> BlobPlacement:
    """Where an ingest puts the raw file of a new document `source`."""
    return BlobPlacement(space.scope, document_id(space.id, source), source, content_hash, datetime.now(UTC).year)


def seed(workspace: Workspace, space: Space, source: str, text: str) -> str:
    """Store a one-chunk document and its raw file the way an ingest does, without loading the model."""
    data = text.encode()
    content_hash = hashlib.sha256(data).hexdigest()
    workspace.blobs.put(placement(space, source, content_hash), data)
    vector = np.full((1, DIMENSION), DIMENSION**-0.5, dtype=np.float32)
    chunks = (ChunkDraft(text, Location(start_line=1)),)
    draft = DocumentDraft(source, source, "text", (), content_hash, len(data), None, chunks, vector)
    workspace.store.put_documents(space.scope, [draft])
    return content_hash


def vector_file(config: Path, space_id: str) -> Path:
    [path] = (config.parent / "home" / "vectors").glob(f"*/{space_id}-*.f32")
    return path


# -- a damaged vector file --------------------------------------------------------------------------------------


@pytest.fixture
def two_spaces(config: Path) -> dict[str, str]:
    """Spaces `intact` and `broken`, each with one ingested document; returns their ids by name."""
    ids = {}
    for name, text in (("intact", "Laptops must use full-disk encryption."), ("broken", "Badges renew in January.")):
        assert lmspace(config, "spaces", "create", name)[0] == 0
        assert lmspace(config, "ingest", name, "--text", text, "--title", name)[0] == 0
        ids[name] = json.loads(lmspace(config, "spaces", "show", name, "--json")[1])["id"]
    return ids


def assert_refused_with_repair(config: Path) -> None:
    code, output = lmspace(config, "ask", "broken", "When do badges renew?")
    assert code == 1
    assert "Space 'broken'" in output and "is damaged" in output
    assert "spaces reembed broken" in output and "spaces delete broken" in output


def assert_intact_space_works(config: Path) -> None:
    code, output = lmspace(config, "ask", "intact", "Must laptops be encrypted?")
    assert code == 0 and "full-disk encryption" in output
    code, output = lmspace(config, "spaces", "list", "--json")
    assert code == 0 and {row["name"] for row in json.loads(output)} >= {"intact"}


def test_a_truncated_vector_file_is_refused_by_name_and_reembed_repairs_it(config, two_spaces):
    os.truncate(vector_file(config, two_spaces["broken"]), 100)  # not even one whole row
    assert_intact_space_works(config)
    assert_refused_with_repair(config)
    assert lmspace(config, "spaces", "reembed", "broken")[0] == 0
    code, output = lmspace(config, "ask", "broken", "When do badges renew?")
    assert code == 0 and "January" in output


def test_a_missing_vector_file_is_refused_by_name_and_its_space_can_be_deleted(config, two_spaces):
    vector_file(config, two_spaces["broken"]).unlink()
    assert_intact_space_works(config)
    assert_refused_with_repair(config)
    assert lmspace(config, "spaces", "delete", "broken", "--yes")[0] == 0
    code, output = lmspace(config, "spaces", "list", "--json")
    assert [row["name"] for row in json.loads(output)] == ["intact"]


def test_the_doctor_reports_a_damaged_vector_file_with_its_repair(config, two_spaces):
    vector_file(config, two_spaces["broken"]).unlink()
    code, output = lmspace(config, "doctor", "--json")
    assert code == 1
    [vectors] = [check for check in json.loads(output)["checks"] if check["name"] == "vectors"]
    [problem] = vectors["problems"]
    assert "Space 'broken'" in problem and "spaces reembed broken" in problem


# -- a damaged database -----------------------------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(8192))


def _cut_in_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize("damage", [_garbage, _cut_in_half], ids=["garbage", "truncated"])
def test_a_damaged_database_is_refused_naming_the_file_and_the_recovery(config, damage: Callable[[Path], None]):
    for number in range(40):
        assert lmspace(config, "spaces", "create", f"space-{number}", "-d", "a description " * 20)[0] == 0
    database = config.parent / "home" / "lmspace.db"
    damage(database)
    for command in (["spaces", "list"], ["ask", "space-1", "anything"], ["doctor"]):
        code, output = lmspace(config, *command)
        assert code == 1
        assert f"The database {database} is damaged" in output
        assert "backup" in output and ".recover" in output


# -- leftovers of killed processes ------------------------------------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _delete_document_and_die_before_its_blob(config: str) -> None:
    from lmspace_core.stores.local.blobs import LocalBlobStore

    LocalBlobStore.delete = lambda self, blob: _die()
    workspace = open_workspace(Path(config))
    space = workspace.space("s")
    workspace.delete_document(space, workspace.document(space, "gone.txt"))


def _die_while_writing_a_blob(config: str) -> None:
    workspace = open_workspace(Path(config))
    space = workspace.space("s")
    os.replace = lambda source, target: _die()  # the temporary file is written, never renamed into place
    workspace.blobs.put(placement(space, "half.txt", "f" * 64), b"half written")


def _delete_space_and_die_before_its_blobs(config: str) -> None:
    from lmspace_core.stores.local.blobs import LocalBlobStore

    LocalBlobStore.delete_space = lambda self, scope: _die()
    workspace = open_workspace(Path(config))
    workspace.delete_space(workspace.space("doomed"))


def _die_during_an_upload_job(config: str) -> None:
    from lmspace_core.stores.local.jobs import LocalJobStore

    record_progress = LocalJobStore.record_progress

    def record_and_die(self, enterprise_id, job_id, progress):
        record_progress(self, enterprise_id, job_id, progress)
        _die()

    LocalJobStore.record_progress = record_and_die
    workspace = open_workspace(Path(config))
    job = workspace.start_ingest(workspace.space("s"), uploads=[("notes.txt", b"Meetings end at five.")])
    workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=60)


def run_and_kill(target: Callable[[str], None], config: Path) -> None:
    child = multiprocessing.get_context("spawn").Process(target=target, args=(str(config),))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL


def test_the_doctor_removes_what_killed_processes_left_and_says_so(config: Path):
    workspace = open_workspace(config)
    space, doomed = workspace.create_space("s"), workspace.create_space("doomed")
    kept_hash = seed(workspace, space, "kept.txt", "This document stays.")
    gone_hash = seed(workspace, space, "gone.txt", "This document is deleted.")
    doomed_hash = seed(workspace, doomed, "doomed.txt", "This space is deleted.")
    workspace.close()
    for probe in (_delete_document_and_die_before_its_blob, _die_while_writing_a_blob,
                  _delete_space_and_die_before_its_blobs, _die_during_an_upload_job):
        run_and_kill(probe, config)

    home = config.parent / "home"
    blob_folder = home / "blobs" / "default" / space.id
    [staging] = (home / "uploads").iterdir()
    [temporary] = [path for path in blob_folder.rglob("*") if path.is_file()
                   and path.name not in (kept_hash, gone_hash)]
    gone_file = blob_folder / document_id(space.id, "gone.txt") / gone_hash
    [doomed_file] = (home / "blobs" / "default" / doomed.id).rglob(doomed_hash)
    assert gone_file.exists()

    report = examine(load_config(config, env={}), grace_seconds=0)
    assert report.ok
    fixed = "\n".join(report.fixed)
    assert f"removed {gone_file}, a blob no document refers to" in fixed
    assert f"removed {temporary}, a temporary file of an unfinished write" in fixed
    assert f"removed {doomed_file}, a raw file of a deleted space" in fixed
    assert "marked 1 job(s) interrupted" in fixed
    assert f"{staging}, the staging folder of a job that stopped" in fixed
    assert sorted(path.name for path in blob_folder.rglob("*") if path.is_file()) == [kept_hash]
    assert not (home / "blobs" / "default" / doomed.id).exists() and not staging.exists()
    assert examine(load_config(config, env={}), grace_seconds=0).fixed == ()

    reopened = open_workspace(config)
    [job] = reopened.job_store.list_jobs(reopened.enterprise_id, space.id)
    assert job.status is JobStatus.INTERRUPTED
    assert reopened.blobs.get(BlobPlacement.of(reopened.document(space, "kept.txt"))) == b"This document stays."
    reopened.close()
