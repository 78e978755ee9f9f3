"""Runs long work (ingest now; research and sync later) as jobs in background threads, recorded in a job store.

A job's progress events and final result are written to the store as they happen, so a dashboard page polling the
store, a page reloaded later, or another process all see the same state. A job that was running when its process
died is marked interrupted the next time a runner starts on that machine.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from lmspace_core.domain import IngestReport, Job, JobStatus, Progress, ProgressCallback, Scope, to_json_data
from lmspace_core.errors import IngestCancelledError, LMSpaceError
from lmspace_core.stores.base import JobStore

log = logging.getLogger(__name__)

JobWork = Callable[[ProgressCallback], dict | None]


def this_process_owner() -> str:
    """How jobs name the process that runs them (`host:pid`), so that a later process can tell whether it died."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_on_this_host(owner: str) -> bool:
    """Whether the job owner `host:pid` (see `this_process_owner`) is a process of this machine, which alone uses
    this machine's folders."""
    return owner.rpartition(":")[0] == socket.gethostname()


def owner_is_alive(owner: str) -> bool:
    """Whether the process a job names as its owner (`host:pid`, see `this_process_owner`) still runs.

    Owners on other hosts are assumed alive: this machine cannot see their processes, and marking a job of a
    running process interrupted would be wrong, while an orphan elsewhere is found by a process on its own host.
    """
    if not owner_is_on_this_host(owner):
        return True
    pid = owner.rpartition(":")[2]
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _outcome(kind: str, result: dict | None) -> tuple[JobStatus, str]:
    """How finished work ended, and why when it did not wholly succeed: an ingest is judged by its inputs."""
    if kind != "ingest" or not result:
        return JobStatus.SUCCEEDED, ""
    report = IngestReport.from_json_data(result)
    if not report.failed:
        return JobStatus.SUCCEEDED, ""
    reasons = "; ".join(f"{f.source}: {f.reason}" for f in report.failed[:3])
    more = f" and {len(report.failed) - 3} more" if len(report.failed) > 3 else ""
    if len(report.failed) == len(report.files):
        return JobStatus.FAILED, f"Every input failed ({len(report.files)}): {reasons}{more}."
    return JobStatus.PARTIAL, f"{len(report.failed)} of {len(report.files)} inputs failed: {reasons}{more}."


class JobRunner:
    """A small pool of worker threads that run job work and keep the job store up to date."""

    def __init__(self, store: JobStore, workers: int = 2) -> None:
        self._store = store
        self._owner = this_process_owner()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lmspace-job")
        self._futures: dict[str, Future] = {}
        self._cancels: dict[str, threading.Event] = {}
        interrupted = store.interrupt_orphans(owner_is_alive)
        if interrupted:
            log.warning("marked %d job(s) interrupted: their process stopped", interrupted)

    def submit(
        self, scope: Scope, kind: str, title: str, work: JobWork, cancel: threading.Event | None = None
    ) -> Job:
        """Queue `work(progress)`; its return value (JSON data) becomes the job's result.

        `cancel` is the event the work checks to stop early; `cancel(job_id)` sets it.
        """
        job = self._store.create_job(scope, kind, title, self._owner)
        if cancel is not None:
            self._cancels[job.id] = cancel
        self._futures[job.id] = self._pool.submit(self._run, scope.enterprise_id, job.id, kind, work)
        return job

    def wait(self, enterprise_id: str, job_id: str, timeout: float | None = None) -> Job:
        """Block until a job of this runner finishes (the CLI and tests); other jobs are polled from the store."""
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)
            return self._store.get_job(enterprise_id, job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (job := self._store.get_job(enterprise_id, job_id)).status.finished:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job.status.value}")
            time.sleep(0.2)
        return job

    def cancel(self, job_id: str) -> bool:
        """Ask a running job of this runner to stop; False when it cannot be cancelled (or has ended)."""
        event = self._cancels.get(job_id)
        if event is None:
            return False
        event.set()
        return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def _run(self, enterprise_id: str, job_id: str, kind: str, work: JobWork) -> None:
        def progress(event: Progress) -> None:
            self._store.record_progress(enterprise_id, job_id, event)

        try:
            self._store.record_progress(enterprise_id, job_id, Progress("start", 0, None, message="started"))
            result = work(progress)
        except IngestCancelledError as error:  # asked for: not a failure, and the inputs it finished are listed
            self._store.finish_job(enterprise_id, job_id, JobStatus.CANCELLED, result=to_json_data(error.report),
                                   error=str(error))
        except LMSpaceError as error:
            self._store.finish_job(enterprise_id, job_id, JobStatus.FAILED, error=str(error))
        except Exception as error:  # a bug must still end the job visibly, not leave it "running" forever
            log.exception("job %s failed", job_id)
            message = f"Unexpected error ({type(error).__name__}): {error}"
            self._store.finish_job(enterprise_id, job_id, JobStatus.FAILED, error=message)
        else:
            status, error = _outcome(kind, result)
            self._store.finish_job(enterprise_id, job_id, status, result=result, error=error)
        finally:
            self._futures.pop(job_id, None)
            self._cancels.pop(job_id, None)
