"""Kill a process in the middle of a sync job, then read the job as the next process to open the data finds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lmspace_core.config import load_config
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import Metric, SyncEvent, SyncJob
from lmspace_core.workspace import Workspace


def kill_when_it_prints(script: str) -> str:
    """Run `script` in a new Python process, which prints a job id once the job is where the test wants it; kill
    the process with SIGKILL (no clean-up runs) and return the id."""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).parent.parent)
    job_id = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert job_id, "the child process did not reach the point where it is killed"
    return job_id


def after_restart(config: Path, job_id: str, env: dict[str, str] | None = None
                  ) -> tuple[SyncJob, list[SyncEvent], list[Metric]]:
    """The job, its events and its metrics as a new `SyncManager` on the same data (and `env` settings) leaves
    them."""
    workspace = Workspace(load_config(config, env=env or {}))
    manager = SyncManager(workspace)
    try:
        return manager.job(job_id), manager.events(job_id), manager.metrics(job_id)
    finally:
        manager.close()
        workspace.close()
