"""Shows one background job (ingest now; research and sync later): live progress while it runs, its outcome after.

The monitor reads only the job store, never the thread doing the work, so it shows the same thing whether the job
was started in this session, in another tab, or before the page was left and opened again. A running job is drawn
inside a fragment that re-reads the store every second; when the job ends, the fragment asks for one full rerun,
after which the page draws the job as finished, outside any fragment, and the polling stops.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lmspace_core.domain import IngestReport, Job, JobEvent, JobStatus, Outcome
from lmspace_core.ingest.inputs import supported_list
from lmspace_core.ingest.unread import counted_unread, unread_summary
from lmspace_core.stores.base import JobStore
from lmspace_ui.components import reported_errors
from lmspace_ui.text import plain

POLL_SECONDS = 1
SHOWN_ITEMS = 8  # a codebase has thousands of files: a running job lists only the latest few it worked on

ResultRenderer = Callable[[Job], None]
Canceller = Callable[[str], bool]  # asks a running job to stop; False when this process cannot (or it has ended)

# Each status its own colour and icon, so a failed or partial job never reads as a succeeded one at a glance.
_STATUS_LOOKS = {
    JobStatus.QUEUED: ("gray", ":material/schedule:"),
    JobStatus.RUNNING: ("blue", ":material/progress_activity:"),
    JobStatus.SUCCEEDED: ("green", ":material/check_circle:"),
    JobStatus.PARTIAL: ("orange", ":material/warning:"),
    JobStatus.FAILED: ("red", ":material/error:"),
    JobStatus.CANCELLED: ("yellow", ":material/stop_circle:"),
    JobStatus.INTERRUPTED: ("violet", ":material/cancel:"),
}


def status_badge(status: JobStatus) -> str:
    """The status as a coloured badge with its icon, in Streamlit markdown (labels, captions, markdown)."""
    colour, icon = _STATUS_LOOKS[status]
    return f":{colour}-badge[{icon} {status.value}]"


def job_monitor(
    store: JobStore, job: Job, render_result: ResultRenderer | None = None, cancel: Canceller | None = None
) -> None:
    """Draw a job in a bordered box: live while it runs, with its outcome once it has finished.

    `render_result` draws a succeeded job's result; by default an ingest job shows its report and other kinds
    only their final message, so Research and Sync pages pass their own. With `cancel`, a running job has a Cancel
    button.
    """
    with st.container(border=True):
        if job.status.finished:
            _header(job)
            _finished(job, render_result or _default_result)
        else:
            _live(store, job.enterprise_id, job.id, cancel)


def job_list(
    store: JobStore, jobs: list[Job], render_result: ResultRenderer | None = None, cancel: Canceller | None = None
) -> None:
    """Jobs newest first: the newest and every unfinished one open, older finished ones folded away under their
    status so the newest stays in view."""
    for job in jobs:
        if job is jobs[0] or not job.status.finished:
            job_monitor(store, job, render_result, cancel)
        else:
            with st.expander(f"{status_badge(job.status)} {plain(job.title)}"):
                job_monitor(store, job, render_result)


def render_ingest_report(job: Job) -> None:
    """The end report of an ingest: counts per outcome, one row per input, and why each failed input failed."""
    report = IngestReport.from_json_data(job.result or {"space_id": job.space_id, "files": []})
    columns = st.columns(len(Outcome))
    for column, outcome in zip(columns, Outcome, strict=True):
        column.metric(outcome.value.capitalize(), report.count(outcome))
    if report.files:
        rows = [{"File": f.source, "Outcome": f.outcome.value, "Chunks": f.chunks} for f in report.files]
        st.dataframe(rows, hide_index=True, width="stretch")  # pandas loads only when a table is drawn
    listed = f" ({supported_list()})"  # ends each unread upload's reason: said once below, not in every warning
    for failed in report.failed:
        st.warning(f"{plain(failed.source)}: {plain(failed.reason.replace(listed, ''))}", icon=":material/error:")
    if any(listed in failed.reason for failed in report.failed):
        st.caption(plain(f"What LMSpace reads ({supported_list()})."))
    counted = counted_unread(report)  # a codebase's many images or headers: one line by type, not a box each
    hidden = set(counted)
    for skipped in (f for f in report.files if f.outcome is Outcome.SKIPPED and f not in hidden):
        st.info(f"{plain(skipped.source)}: {plain(skipped.reason)}", icon=":material/block:")
    if counted:
        st.info(f"{plain(unread_summary(counted))} (the table lists each).", icon=":material/block:")
    if report.sync_queued:
        st.info(f"Queued an automatic sync of the space ({plain(report.sync_queued)}).", icon=":material/sync:")
    for warning in report.warnings:
        st.warning(plain(warning), icon=":material/warning:")


def _default_result(job: Job) -> None:
    if job.kind == "ingest":
        render_ingest_report(job)
    elif job.message:
        st.caption(plain(job.message))


def _header(job: Job) -> None:
    started = job.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    st.markdown(f"{status_badge(job.status)} **{plain(job.title)}**")
    st.caption(f"{job.kind} · {job.status.value} · started {started}")


def _finished(job: Job, render_result: ResultRenderer) -> None:
    if job.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL):  # a partial result lists its own failures
        render_result(job)
    elif job.status is JobStatus.FAILED:
        st.error(plain(job.error or "The job failed without saying why."), icon=":material/error:")
        if job.result is not None:
            render_result(job)
    else:
        st.warning(plain(job.error or "The job stopped before it finished."), icon=":material/cancel:")
        if job.status is JobStatus.CANCELLED and job.result is not None:
            render_result(job)  # what a cancelled ingest stored before it stopped


@st.fragment(run_every=POLL_SECONDS)
def _live(store: JobStore, enterprise_id: str, job_id: str, cancel: Canceller | None = None) -> None:
    """Re-read the job each second; once it has ended, rerun the page so it is drawn finished and polling stops.

    The header is drawn here too, so it moves from queued to running with the job instead of keeping the status
    the page read.
    """
    with reported_errors():  # a fragment rerun runs this alone, outside the page's own error handling
        job = store.get_job(enterprise_id, job_id)
        if job.status.finished:
            st.rerun()
        _header(job)
        events = store.job_events(enterprise_id, job_id)
        st.progress(job.fraction or 0.0, text=plain(_progress_text(job, events)))
        _items(events)
        if cancel is not None and st.button("Cancel", key=f"cancel_{job_id}", icon=":material/stop_circle:"):
            stopping = cancel(job_id)
            st.caption("Stopping after the current step; what was stored stays." if stopping else
                       "This job runs in another process or has ended; it cannot be cancelled from here.")


def _progress_text(job: Job, events: list[JobEvent]) -> str:
    """How far the job is and what it does now, e.g. `3/10 · ingest handbook/leave.md`."""
    counter = f"{job.done}/{job.total}" if job.total else job.status.value
    if not events:
        return counter
    latest = events[-1]
    doing = f"{latest.stage} {latest.item}" if latest.item else (latest.message or latest.stage)
    found = f" · {latest.message}" if latest.item and latest.message else ""
    return f"{counter} · {doing}{found}"


# How an item the job has moved past ended, by the stage of its last event; any other stage means it was done.
_ENDED = {"failed": ":material/error:", "skipped": ":material/block:"}


def _items(events: list[JobEvent]) -> None:
    """Each item the job has reached, in order: failed or skipped as its events say, done once the job has moved
    past it, else in progress."""
    ended = {event.item: event.stage for event in events if event.item}  # the last stage each item reached
    items = list(ended)
    if not items:
        return
    hidden = len(items) - SHOWN_ITEMS
    if hidden > 0:
        st.caption(f"{hidden} earlier items done")
    current = items[-1] if events[-1].item == items[-1] and ended[items[-1]] not in _ENDED else None
    lines = [f"{':material/progress_activity:' if item == current else _ENDED.get(ended[item], ':material/check:')} "
             f"{plain(item)}" for item in items[-SHOWN_ITEMS:]]
    st.markdown("  \n".join(lines))
