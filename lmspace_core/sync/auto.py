"""Automatic sync: a space listed in `sync.auto_sync` is due when its delta holds `sync.auto_sync_items` changed
documents, or its oldest unsynced change is `sync.auto_sync_age_h` hours old; a due space gets one request on the
sync queue, which `lmspace sync worker` runs.

The check runs after every successful ingest (so a space is queued the moment an ingest passes the threshold) and
in the worker (which also sees the age threshold pass while nobody ingests). A space with a request waiting or a job
under way is not queued again. After an ingest the check reads only SQLite and the queue (no model, no DSPy) and never
fails the ingest: what went wrong is logged and returned with the ingest report as a warning.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lmspace_core.domain import IngestReport, Space
from lmspace_core.sync.delta import collapse
from lmspace_core.sync.queue import SyncQueue, SyncRequest, build_queue
from lmspace_core.sync.store import SyncStore

if TYPE_CHECKING:
    from lmspace_core.config import Settings
    from lmspace_core.stores.base import KnowledgeStore
    from lmspace_core.workspace import Workspace

log = logging.getLogger(__name__)


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


def enqueue_if_due(settings: Settings, knowledge: KnowledgeStore, store: SyncStore, queue: SyncQueue,
                   space: Space) -> SyncRequest | None:
    """Queue a sync of an auto-synced space that is due and has no request waiting and no job under way."""
    if not is_auto_synced(settings, space) or queue.waiting(space.id):
        return None
    if any(not job.status.finished for job in store.list_jobs(space.enterprise_id, space.id, limit=5)):
        return None
    reason = due_reason(settings, knowledge, store, space)
    if reason is None:
        return None
    request = SyncRequest.now(space.enterprise_id, space.id, reason)
    queue.put(request)
    return request


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
