"""Automatic sync: a space listed in `sync.auto_sync` is due when its delta holds `sync.auto_sync_items` changed
documents, or its oldest unsynced change is `sync.auto_sync_age_h` hours old; a due space gets one request on the
sync queue, which `lmspace sync worker` runs.

The check runs after every successful ingest (so a space is queued the moment an ingest passes the threshold) and
in the worker (which also sees the age threshold pass while nobody ingests). Whether a space has a request is decided
in the sync store, not by looking into the queue: the space's `AutoSyncState` names the one request queued or running
for it and is written only over the version it was read at, so of several processes checking at once (ingests,
workers, on several machines sharing an Azure queue) exactly one queues the space, and a worker runs a request only
after claiming it the same way, so a message the queue delivers twice runs one job.

A failed or refused automatic sync holds the space back: it is not queued again until `auto_sync_items` more documents
changed since that attempt, or a backoff passed (`auto_sync_backoff_h`, doubled with each failure in a row, at most
`auto_sync_backoff_max_h`), or a sync of it succeeded meanwhile. Otherwise every ingest into a space whose dataset is
refused would build that dataset again (and possibly upload it) for nothing. A manual sync is never held back.

After an ingest the check reads only the stores and the queue (no model, no DSPy) and never fails the ingest: what
went wrong is logged and returned with the ingest report as a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lmspace_core.domain import IngestReport, Scope, Space
from lmspace_core.sync.delta import collapse, space_delta
from lmspace_core.sync.model import AutoSyncHold, AutoSyncState, SyncJob, SyncStatus
from lmspace_core.sync.queue import SyncQueue, SyncRequest, build_queue
from lmspace_core.sync.store import SyncStore

if TYPE_CHECKING:
    from lmspace_core.config import Settings
    from lmspace_core.stores.base import KnowledgeStore
    from lmspace_core.workspace import Workspace

log = logging.getLogger(__name__)

# A request queued this long ago that is no longer in the queue, or claimed this long ago with no job under way, lost
# its worker (it died between taking the message and claiming it, or while running it): it is let go.
STALE_AFTER = timedelta(minutes=5)
_REASON_CHARS = 300


@dataclass(frozen=True)
class AutoSyncOutlook:
    """When the space's next automatic sync comes, in words (`text`) and as values.

    `state` is `off`, `queued`, `running`, `held` (a failed attempt holds it back until `retry_at` or until
    `changes_needed` more documents change), `due` (the next check queues it) or `waiting` (for its thresholds).
    """

    state: str
    text: str
    retry_at: datetime | None = None
    changes_needed: int | None = None


def is_auto_synced(settings: Settings, space: Space) -> bool:
    return space.name in settings.sync.auto_sync or space.id in settings.sync.auto_sync


def due_reason(settings: Settings, knowledge: KnowledgeStore, store: SyncStore, space: Space) -> str | None:
    """Why the space should sync now (its delta passed `sync.auto_sync_items` or `auto_sync_age_h`), or None."""
    sync = settings.sync
    base = store.synced_through(space.scope)
    changes = knowledge.changes(space.scope, after_sequence=base)
    delta = collapse(space.id, base, changes)
    if delta.is_empty:
        return None
    if len(delta.items) >= sync.auto_sync_items:
        return f"{len(delta.items)} changed documents (threshold {sync.auto_sync_items})"
    age_h = (datetime.now(UTC) - changes[0].changed_at).total_seconds() / 3600
    if age_h >= sync.auto_sync_age_h:
        return f"the oldest unsynced change is {age_h:.1f} h old (threshold {sync.auto_sync_age_h:g} h)"
    return None


def retry_delay(settings: Settings, failures: int) -> timedelta:
    """How long `failures` failed automatic attempts in a row hold a space back: doubling, capped."""
    sync = settings.sync
    hours = sync.auto_sync_backoff_h * 2 ** min(failures - 1, 32)
    return timedelta(hours=min(hours, sync.auto_sync_backoff_max_h))


def changes_still_needed(settings: Settings, knowledge: KnowledgeStore, store: SyncStore, space: Space,
                         hold: AutoSyncHold | None, now: datetime) -> int | None:
    """How many more documents must change to lift `hold` while it still holds the space back; None once it is
    lifted (its backoff passed, enough documents changed since the failed attempt, or a sync succeeded since)."""
    if hold is None or now >= hold.retry_at or store.synced_through(space.scope) > hold.base_sequence:
        return None
    changed = {change.document_id for change in knowledge.changes(space.scope, after_sequence=hold.through_sequence)}
    more = settings.sync.auto_sync_items - len(changed)
    return more if more > 0 else None


def enqueue_if_due(settings: Settings, knowledge: KnowledgeStore, store: SyncStore, queue: SyncQueue, space: Space,
                   *, now: datetime | None = None) -> SyncRequest | None:
    """Queue a sync of an auto-synced space that is due, not held back by a failed attempt, and has no request
    queued or running and no job under way; None when it was not queued (also when another process just was first).
    """
    if not is_auto_synced(settings, space):
        return None
    now = now or datetime.now(UTC)
    state = _let_go_if_stale(settings, knowledge, store, queue, space, now)
    if state.request_id is not None or _job_under_way(store, space):
        return None
    reason = due_reason(settings, knowledge, store, space)
    if reason is None or changes_still_needed(settings, knowledge, store, space, state.hold, now) is not None:
        return None
    request = SyncRequest.now(space.enterprise_id, space.id, reason)
    queued = store.save_auto_sync_state(space.scope, replace(state, request_id=request.id, requested_at=now,
                                                             running=False))
    if queued is None:
        return None  # another process queued (or claimed, or settled) it since we read the state
    try:
        queue.put(request)
    except Exception:
        store.save_auto_sync_state(space.scope, replace(queued, request_id=None, requested_at=None))
        raise
    return request


def claim(store: SyncStore, request: SyncRequest, *, now: datetime | None = None) -> AutoSyncState | None:
    """Take a request off the queue to run it; None when the space's state no longer names it: it ran already, runs
    in another worker (the message came back while its job ran), or was let go and queued anew."""
    scope = Scope(request.enterprise_id, request.space_id)
    state = store.auto_sync_state(scope)
    if not request.id or state.request_id != request.id or state.running:
        return None
    return store.save_auto_sync_state(scope, replace(state, running=True, requested_at=now or datetime.now(UTC)))


def settle(settings: Settings, store: SyncStore, space: Space, claimed: AutoSyncState, job: SyncJob | None,
           through_sequence: int, *, error: str = "", now: datetime | None = None) -> AutoSyncState:
    """Record how a claimed request ended: `job` succeeded (the hold is lifted) or not, or no job started (`error`
    says why); a failure holds the space back, see `AutoSyncHold`. Only the first to settle a request writes."""
    now = now or datetime.now(UTC)
    hold = None
    if job is None or job.status is not SyncStatus.SUCCEEDED:
        base = store.synced_through(space.scope)
        chained = claimed.hold is not None and base <= claimed.hold.base_sequence  # no success since that failure
        failures = (claimed.hold.failures if chained else 0) + 1
        reason = (job.message or job.error or job.status.value) if job is not None else error
        hold = AutoSyncHold(reason[:_REASON_CHARS], failures, job.id if job else None, base, through_sequence, now,
                            now + retry_delay(settings, failures))
    settled = replace(claimed, request_id=None, requested_at=None, running=False, hold=hold)
    return store.save_auto_sync_state(space.scope, settled) or store.auto_sync_state(space.scope)


def release(store: SyncStore, space: Space, claimed: AutoSyncState) -> None:
    """Let a claimed request go without holding the space back: it started no job because another sync of the space
    (one started by hand) is under way and covers the same delta."""
    store.save_auto_sync_state(space.scope, replace(claimed, request_id=None, requested_at=None, running=False))


def outlook(settings: Settings, knowledge: KnowledgeStore, store: SyncStore, space: Space,
            *, now: datetime | None = None) -> AutoSyncOutlook:
    """The space's next automatic sync: whether one is queued or running, what holds it back, or what it waits for."""
    now = now or datetime.now(UTC)
    if not is_auto_synced(settings, space):
        return AutoSyncOutlook("off", "Automatic sync is off for this space (list it in `sync.auto_sync`).")
    state = store.auto_sync_state(space.scope)
    if state.request_id is not None and state.requested_at is not None:
        since = _clock(state.requested_at, now)
        if state.running:
            return AutoSyncOutlook("running", f"An automatic sync is running (claimed at {since}).")
        return AutoSyncOutlook("queued", f"An automatic sync is queued since {since}; `lmspace sync worker` runs it.")
    more = changes_still_needed(settings, knowledge, store, space, state.hold, now)
    if more is not None and state.hold is not None:
        failed = f"{state.hold.failures} automatic attempts in a row failed" if state.hold.failures > 1 else ""
        return AutoSyncOutlook(
            "held", f"Automatic sync is waiting: {state.hold.reason}; next automatic try after {more} more "
                    f"change{'s' if more != 1 else ''} or at {_clock(state.hold.retry_at, now)}"
                    f"{f' ({failed})' if failed else ''}.", state.hold.retry_at, more)
    reason = due_reason(settings, knowledge, store, space)
    if reason is not None:
        return AutoSyncOutlook("due", f"An automatic sync is due ({reason}); the next ingest or `lmspace sync "
                                      f"worker` check queues it.")
    delta = space_delta(knowledge, store, space.scope)
    more = settings.sync.auto_sync_items - len(delta.items)
    text = f"Next automatic sync after {more} more changed document{'s' if more != 1 else ''}"
    if delta.is_empty:
        return AutoSyncOutlook("waiting", text + ".", changes_needed=more)
    oldest = knowledge.changes(space.scope, after_sequence=delta.base_sequence)[0].changed_at
    at = oldest + timedelta(hours=settings.sync.auto_sync_age_h)
    return AutoSyncOutlook("waiting", f"{text} or at {_clock(at, now)}.", at, more)


def after_ingest(workspace: Workspace, space: Space, report: IngestReport) -> IngestReport:
    """The ingest report, with the sync this ingest queued (`sync_queued`) or why it could not (`warnings`)."""
    settings = workspace.settings
    if not is_auto_synced(settings, space):
        return report
    from lmspace_core.workspace import build_sync_store  # here: the workspace calls this module after an ingest

    try:
        store = build_sync_store(settings)
        try:
            queue = build_queue(settings, space.enterprise_id)
            request = enqueue_if_due(settings, workspace.store, store, queue, space)
        finally:
            store.close()
    except Exception as error:  # the documents are stored: a queue that is down must not fail the ingest
        log.exception("could not queue an automatic sync of space %s", space.id)
        warning = (f"The automatic sync of space '{space.name}' could not be queued ({type(error).__name__}: "
                   f"{error}); `lmspace sync worker` queues it on its next check.")
        return replace(report, warnings=(*report.warnings, warning))
    return replace(report, sync_queued=request.reason) if request else report


def job_started_since(store: SyncStore, space: Space, since: datetime | None) -> SyncJob | None:
    """The space's newest job if it was created at `since` or later (the job a claimed request started)."""
    newest = store.list_jobs(space.enterprise_id, space.id, limit=1)
    return newest[0] if newest and since is not None and newest[0].created_at >= since else None


def _job_under_way(store: SyncStore, space: Space) -> bool:
    """Whether a job of the space has not ended (a manual one, or the one a worker runs)."""
    return any(not job.status.finished for job in store.list_jobs(space.enterprise_id, space.id, limit=5))


def _let_go_if_stale(settings: Settings, knowledge: KnowledgeStore, store: SyncStore, queue: SyncQueue, space: Space,
                     now: datetime) -> AutoSyncState:
    """The space's state, with a request that lost its worker let go (see `STALE_AFTER`). One that was claimed is
    settled by the job its worker started, if that job ended, so the failure still holds the space back."""
    state = store.auto_sync_state(space.scope)
    if state.request_id is None or state.requested_at is None or now - state.requested_at < STALE_AFTER:
        return state
    if not state.running:
        if queue.waiting(space.id):
            return state
        let_go = replace(state, request_id=None, requested_at=None)
        return store.save_auto_sync_state(space.scope, let_go) or store.auto_sync_state(space.scope)
    if _job_under_way(store, space):
        return state
    through = space_delta(knowledge, store, space.scope).through_sequence
    return settle(settings, store, space, state, job_started_since(store, space, state.requested_at), through,
                  error="the worker running it stopped before it started a job", now=now)


def _clock(at: datetime, now: datetime) -> str:
    """A time as people read it here: the hour today, the date too on another day."""
    local = at.astimezone()
    return f"{local:%H:%M}" if local.date() == now.astimezone().date() else f"{local:%Y-%m-%d %H:%M}"
