"""Deltas: what changed in a space since its last successful sync, read from the document change log.

The log records every add, replace and delete in order; several entries for one document collapse into what a
sync must learn: a document that did not exist at the last sync is new, one that did and still does is changed,
one that did and no longer does is deleted. A document added and deleted again in between is nothing.
"""

from __future__ import annotations

from lmspace_core.domain import ChangeKind, DocumentChange, Scope
from lmspace_core.sync.model import Delta, DeltaItem


def collapse(space_id: str, base_sequence: int, changes: list[DocumentChange]) -> Delta:
    """The delta of `changes` (log entries after `base_sequence`, in order), one item per document."""
    first: dict[str, DocumentChange] = {}
    last: dict[str, DocumentChange] = {}
    for change in changes:
        first.setdefault(change.document_id, change)
        last[change.document_id] = change
    items = []
    for document_id, final in last.items():
        existed_before = first[document_id].kind is not ChangeKind.ADDED
        if final.kind is ChangeKind.DELETED:
            if not existed_before:
                continue
            kind = ChangeKind.DELETED
        else:
            kind = ChangeKind.REPLACED if existed_before else ChangeKind.ADDED
        items.append(DeltaItem(document_id, final.source, final.version, final.content_hash, kind))
    through = changes[-1].sequence if changes else base_sequence
    return Delta(space_id, base_sequence, through, tuple(sorted(items, key=lambda item: item.source)))


def space_delta(store, sync_store, scope: Scope, full: bool = False) -> Delta:
    """The space's delta since its last successful sync (`full`: since the beginning, i.e. everything it holds)."""
    base = 0 if full else sync_store.synced_through(scope)
    return collapse(scope.space_id, base, store.changes(scope, after_sequence=base))
