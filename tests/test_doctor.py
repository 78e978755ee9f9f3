"""`lmspace doctor`: a sound store passes, recent files of work in progress are kept, lost raw files are reported;
on Azure it checks raw files and jobs."""

from __future__ import annotations

import json
import os
import socket

import pytest

from lmspace_core.doctor import Check, examine
from lmspace_core.domain import JobStatus
from lmspace_core.stores.base import BlobPlacement
from tests.conftest import write_config
from tests.test_blob_layout import YEAR, seeded
from tests.test_probes_kills import lmspace, open_workspace, placement, seed

THIS_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def test_a_sound_store_passes_every_check_and_nothing_is_fixed(tmp_path):
    config = write_config(tmp_path)
    workspace = open_workspace(config)
    seed(workspace, workspace.create_space("s"), "a.txt", "Some text.")
    workspace.close()
    code, output = lmspace(config, "doctor", "--json")
    report = json.loads(output)
    assert code == 0 and report["ok"]
    assert [check["name"] for check in report["checks"]] == ["database", "vectors", "blobs", "jobs", "uploads"]
    assert all(check["fixed"] == [] and check["problems"] == [] for check in report["checks"])
    code, output = lmspace(config, "doctor")
    assert code == 0 and "ok blobs: 1 raw files referenced by documents" in output


def test_recent_files_are_left_to_the_work_that_is_writing_them(tmp_path):
    config = write_config(tmp_path)
    workspace = open_workspace(config)
    space = workspace.create_space("s")
    raw_file = placement(space, "new.txt", "a" * 64)
    workspace.blobs.put(raw_file, b"written a moment before its document is committed")
    staging = workspace.settings.data_dir / "uploads" / "job"
    staging.mkdir(parents=True)
    assert examine(workspace.settings).fixed == ()
    assert workspace.blobs.get(raw_file) and staging.exists()
    workspace.close()


def test_staging_folders_are_kept_while_a_job_runs(tmp_path):
    config = write_config(tmp_path)
    workspace = open_workspace(config)
    space = workspace.create_space("s")
    workspace.job_store.create_job(space.scope, "ingest", "running", THIS_PROCESS)
    staging = workspace.settings.data_dir / "uploads" / "job"
    staging.mkdir(parents=True)
    report = examine(workspace.settings, grace_seconds=0)
    assert staging.exists() and report.fixed == ()
    assert report.checks[-1].summary == "1 staging folders kept while jobs run"
    workspace.close()


def test_a_document_whose_raw_file_is_lost_is_reported_by_its_source(tmp_path):
    config = write_config(tmp_path)
    workspace = open_workspace(config)
    space = workspace.create_space("s")
    seed(workspace, space, "handbook/leave.md", "Leave is 25 days.")
    workspace.blobs.delete(BlobPlacement.of(workspace.document(space, "handbook/leave.md")))
    report = examine(workspace.settings)
    workspace.close()
    assert not report.ok
    [blobs] = [check for check in report.checks if check.name == "blobs"]
    assert blobs.problems == (
        f"space {space.id} (enterprise 'default') lost the raw file of handbook/leave.md; "
        "ingest those files again to restore them",
    )


@pytest.mark.parametrize("backend", ["azure"])
def test_on_azure_the_doctor_checks_raw_files_and_jobs(workspace, backend):
    space = workspace.create_space("s")
    seeded(workspace, space, "kept.txt", b"Kept.")
    lost = seeded(workspace, space, "handbook/lost.md", b"Lost.")
    gone = seeded(workspace, space, "gone.txt", b"Gone.")
    workspace.store.delete_document(space.scope, gone.id)  # its process died before deleting the raw file
    workspace.blobs.remove(next(blob for blob in workspace.blobs.inventory() if blob.document_id == lost.id))
    job = workspace.job_store.create_job(space.scope, "ingest", "stopped", f"{socket.gethostname()}:{2**22 + 7}")
    report = examine(workspace.settings, grace_seconds=0)
    assert [check.name for check in report.checks] == ["blobs", "jobs", "uploads"] and not report.ok
    blobs, jobs, _ = report.checks
    assert blobs.fixed == (f"removed default/docs/{YEAR}/{gone.id}/gone.txt, a blob no document refers to",)
    assert blobs.problems == (f"space {space.id} (enterprise 'default') lost the raw file of handbook/lost.md; "
                              "ingest those files again to restore them",)
    assert jobs.fixed == ("marked 1 job(s) interrupted: their process stopped",)
    assert workspace.job_store.get_job("default", job.id).status is JobStatus.INTERRUPTED
    assert examine(workspace.settings, grace_seconds=0).fixed == ()


@pytest.mark.parametrize("backend", ["azure"])
def test_on_azure_staging_folders_are_kept_while_a_job_of_this_machine_runs(workspace, backend):
    space = workspace.create_space("s")
    staging = workspace.settings.data_dir / "uploads" / "job"
    staging.mkdir(parents=True)
    workspace.job_store.create_job(space.scope, "ingest", "elsewhere", "another-machine:12")  # not its folders
    job = workspace.job_store.create_job(space.scope, "ingest", "running", THIS_PROCESS)
    report = examine(workspace.settings, grace_seconds=0)
    assert staging.exists() and report.fixed == ()
    assert report.checks[-1] == Check("uploads", "1 staging folders kept while jobs run")
    workspace.job_store.finish_job("default", job.id, JobStatus.SUCCEEDED)
    report = examine(workspace.settings, grace_seconds=0)
    assert not staging.exists()
    assert report.checks[-1].fixed == (f"removed {staging}, the staging folder of a job that stopped",)
