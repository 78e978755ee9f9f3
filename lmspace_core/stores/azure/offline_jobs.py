"""Jobs while Table Storage is unreachable: kept in a local SQLite job store, written to Table Storage later.

A job created while Table Storage cannot be reached is recorded in `<data_dir>/azure_offline_jobs.db` (the embedded
`LocalJobStore`, under an id of Table Storage's newest-first form), and so is a job of this process that loses Table
Storage half-way: it carries on there, its earlier events staying on Azure. When such a job ends, writing it to
Table Storage joins the outbox behind the writes the job made, so a replay sends an ingest's documents, then its job
(row, events, result); a repeated send finds the job gone from the local store and does nothing. Listings merge the
two stores; while Table Storage is unreachable, its part is the listing last seen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from lmspace_core.domain import Job, JobEvent, JobStatus, Progress, Scope
from lmspace_core.errors import LMSpaceError, NotFoundError
from lmspace_core.stores.azure.boundary import ServiceUnreachableError
from lmspace_core.stores.azure.jobs import TableJobStore, newest_first_id
from lmspace_core.stores.azure.offline import Outbox
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.jobs import LocalJobStore

log = logging.getLogger(__name__)
T = TypeVar("T")

UNREACHABLE_FOR_S = 15.0  # after Table Storage could not be reached, how long jobs keep to the local store


@dataclass
class _OnAzure:
    """A job of this process recorded in Table Storage: what it takes to carry it on locally if Azure goes."""

    scope: Scope
    kind: str
    title: str
    owner: str
    last: Progress | None = None  # the latest progress Table Storage took
    events: int = 0  # how many events Table Storage took


class ResilientJobStore:
    """`JobStore` over Table Storage that records jobs locally while Table Storage is unreachable."""

    def __init__(self, inner: TableJobStore, database: Database, outbox: Outbox) -> None:
        self._inner = inner
        self._database = database
        self._local = LocalJobStore(database)
        self._outbox = outbox
        self._file = outbox.file
        self._on_azure: dict[str, _OnAzure] = {}
        self._down_until = 0.0  # time.monotonic() until which Table Storage counts as unreachable
        self._lock = threading.Lock()
        outbox.serve("jobs", self)

    def _on_table(self, call: Callable[[], T], *, even_if_down: bool = False) -> T:
        """`call()` to Table Storage; for UNREACHABLE_FOR_S after it could not be reached, the same error at once.

        Finding Azure gone costs the connection retries (about a second): pages list jobs on every rerun and a job
        records every step, so offline they go straight to the local store until the pause is over.
        """
        with self._lock:
            down_for = self._down_until - time.monotonic()
        if down_for > 0 and not even_if_down:
            raise ServiceUnreachableError(
                f"Cannot reach Table Storage: it did not answer {UNREACHABLE_FOR_S - down_for:.0f} s ago and is asked "
                f"again in {down_for:.0f} s; check the store.azure endpoints and the network.")
        try:
            result = call()
        except ServiceUnreachableError:
            with self._lock:
                self._down_until = time.monotonic() + UNREACHABLE_FOR_S
            raise
        with self._lock:
            self._down_until = 0.0
        return result

    def create_job(self, scope: Scope, kind: str, title: str, owner: str) -> Job:
        try:
            job = self._on_table(lambda: self._inner.create_job(scope, kind, title, owner))
        except ServiceUnreachableError:
            return self._local.create_job(scope, kind, title, owner, job_id=newest_first_id())
        with self._lock:
            self._on_azure[job.id] = _OnAzure(scope, kind, title, owner)
        return job

    def record_progress(self, enterprise_id: str, job_id: str, progress: Progress) -> None:
        with self._lock:
            on_azure = self._on_azure.get(job_id)
        if on_azure is not None:
            try:
                self._on_table(lambda: self._inner.record_progress(enterprise_id, job_id, progress))
            except ServiceUnreachableError:
                self._carry_on_locally(job_id, on_azure)
            else:
                on_azure.last, on_azure.events = progress, on_azure.events + 1
                return
        self._local.record_progress(enterprise_id, job_id, progress)

    def finish_job(
        self, enterprise_id: str, job_id: str, status: JobStatus, result: dict | None = None, error: str = ""
    ) -> Job:
        with self._lock:
            on_azure = self._on_azure.get(job_id)
        if on_azure is not None:
            try:
                job = self._on_table(lambda: self._inner.finish_job(enterprise_id, job_id, status, result, error))
            except ServiceUnreachableError:
                self._carry_on_locally(job_id, on_azure)
            else:
                with self._lock:
                    self._on_azure.pop(job_id, None)
                return job
        job = self._local.finish_job(enterprise_id, job_id, status, result, error)
        self._send(job.enterprise_id, job.id, job.space_id, job.title)
        return job

    def _carry_on_locally(self, job_id: str, on_azure: _OnAzure) -> None:
        """Table Storage went away during a job of this process: copy it to the local store and go on there.

        Its latest progress is recorded again as the first local event, numbered as it is on Azure, so the job
        keeps its counters and a later send overwrites that event with itself instead of adding one.
        """
        with self._lock:
            self._on_azure.pop(job_id, None)
        scope = on_azure.scope
        self._local.create_job(scope, on_azure.kind, on_azure.title, on_azure.owner, job_id=job_id)
        if on_azure.last is not None:
            self._local.record_progress(scope.enterprise_id, job_id, on_azure.last)
        self._file.remember(_events_before(job_id), on_azure.events - (on_azure.last is not None))
        log.warning("Table Storage is unreachable: job %s goes on in the local job store", job_id)

    def _send(self, enterprise_id: str, job_id: str, space_id: str, title: str) -> None:
        """Write a finished local job to Table Storage now, or queue that behind the outbox's writes."""
        try:
            self._outbox.write("jobs", "send_job", f"{enterprise_id}/{space_id}: record job {title}",
                               (enterprise_id, job_id), lambda: None)
        except LMSpaceError as error:  # refused, not unreachable: the job stays listed from the local store
            log.warning("Job %s stays in the local job store: Table Storage did not take it (%s)", job_id, error)

    def send_job(self, enterprise_id: str, job_id: str) -> None:
        """Write a finished local job to Table Storage, then drop it here (what the outbox replays)."""
        try:
            job = self._local.get_job(enterprise_id, job_id)
        except NotFoundError:
            return  # sent before; the answer was lost
        events = self._local_events(enterprise_id, job_id, 0)
        self._on_table(lambda: self._inner.put_job(job, events), even_if_down=True)  # a replay always asks
        self._local.delete_job(enterprise_id, job_id)
        self._file.forget(_events_before(job_id))

    def get_job(self, enterprise_id: str, job_id: str) -> Job:
        try:
            return self._local.get_job(enterprise_id, job_id)
        except NotFoundError:
            return self._on_table(lambda: self._inner.get_job(enterprise_id, job_id))

    def job_events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[JobEvent]:
        try:
            return self._local_events(enterprise_id, job_id, after_sequence)
        except NotFoundError:
            return self._on_table(lambda: self._inner.job_events(enterprise_id, job_id, after_sequence))

    def _local_events(self, enterprise_id: str, job_id: str, after_sequence: int) -> list[JobEvent]:
        """A local job's events numbered as on Table Storage: after those it took before the job went on here."""
        before = self._file.recall(_events_before(job_id))[1] or 0
        return [replace(event, sequence=event.sequence + before)
                for event in self._local.job_events(enterprise_id, job_id, max(after_sequence - before, 0))]

    def list_jobs(
        self, enterprise_id: str, space_id: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        """Newest first: the local jobs (not sent yet) and Table Storage's, or the listing last seen of it."""
        key = f"jobs:{enterprise_id}:{space_id}:{kind}:{limit}"
        try:
            remote = self._on_table(lambda: self._inner.list_jobs(enterprise_id, space_id, kind, limit))
        except ServiceUnreachableError:
            remote = self._file.recall(key)[1] or []
        else:
            self._file.remember(key, remote)
        local = self._local.list_jobs(enterprise_id, space_id, kind, limit)
        merged = {job.id: job for job in remote} | {job.id: job for job in local}  # a local copy is the newer
        return sorted(merged.values(), key=lambda job: job.id)[:limit]  # ids sort newest first

    def interrupt_orphans(self, owner_alive: Callable[[str], bool]) -> int:
        orphans = self._local.interrupt_orphan_jobs(owner_alive)
        for enterprise_id, job_id in orphans:
            job = self._local.get_job(enterprise_id, job_id)
            self._send(enterprise_id, job_id, job.space_id, job.title)
        try:
            return len(orphans) + self._on_table(lambda: self._inner.interrupt_orphans(owner_alive))
        except ServiceUnreachableError as error:
            log.warning("Jobs in Table Storage left by stopped processes are checked when it answers: %s", error)
            return len(orphans)

    def has_unfinished_jobs(self, owned_here: Callable[[str], bool]) -> bool:
        return self._local.has_unfinished_jobs(owned_here) or self._on_table(
            lambda: self._inner.has_unfinished_jobs(owned_here))

    def close(self) -> None:
        self._database.close()


def _events_before(job_id: str) -> str:
    """Where the number of a job's events Table Storage took before it went on locally is remembered."""
    return f"job-events-before:{job_id}"
