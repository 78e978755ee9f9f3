"""Raw-file writes queued in the outbox before raw files were named after their documents, sent in today's form.

Until raw files were named after their documents, blobs were content-addressed: an offline ingest queued
`("blobs", "put", (scope, content_hash, data))` ahead of the `put_documents` write of the same batch, and a replaced
file's removal as `("blobs", "delete", (scope, content_hash))`. Today's `BlobStore` takes a `BlobPlacement` (the
document, its file name, the year in the name), which such an upload lacks; sent as it is, it raised TypeError.

The upload is converted from what is queued with it: the document writes queued after it name the sources with that
content (a document's id follows from its space and source), and the year chosen now is written into their drafts
before the upload, so the stored documents record the very year their files are named by. A document already in
Azure with that content (its write went through before) is found there. When neither names the content, nothing can
name its file: the upload is refused with a message saying which content of which space it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from lmspace_core.domain import Scope, document_id
from lmspace_core.errors import LMSpaceError
from lmspace_core.stores.base import BlobPlacement, DocumentDraft


class UnreplayableWriteError(LMSpaceError):
    """A queued write that no store of this version can carry out; its message says what to do instead."""


def content_addressed(target: str, method: str, args: tuple) -> bool:
    """Whether a queued write is a raw-file write in the content-addressed form (scope, content hash, ...)."""
    return (target == "blobs" and method in ("put", "delete") and len(args) >= 2 and isinstance(args[0], Scope)
            and isinstance(args[1], str))


def replay_content_addressed(
    method: str,
    args: tuple,
    later: Sequence[tuple[int, str, str, tuple]],
    rewrite: Callable[[int, tuple], None],
    knowledge: Any,
    blobs: Any,
) -> None:
    """Send an old-form raw-file write to `blobs` under today's names; `later` are the writes queued after it and
    `rewrite(seq, args)` replaces one's arguments. Raises `UnreplayableWriteError` when it cannot be converted."""
    scope, content_hash = args[0], args[1]
    space = f"space {scope.space_id} (enterprise '{scope.enterprise_id}')"
    if method == "delete":
        raise UnreplayableWriteError(
            f"The removal of a raw file with content {content_hash[:12]} of {space}, queued by an earlier version of "
            "LMSpace in the old layout: `lmspace doctor` removes that file if no document uses it. Nothing to "
            "re-ingest; dismiss this entry after running the doctor.")
    data = args[2]
    named = _named_in_queue(scope, content_hash, later, rewrite) or _named_in_azure(scope, content_hash, knowledge)
    if not named:
        raise UnreplayableWriteError(
            f"An upload with content {content_hash[:12]} for {space}, queued by an earlier version of LMSpace, "
            "names no document, and no queued write or stored document has that content, so it has no name to be "
            "stored under. If a document of that space lacks its raw file (`lmspace doctor` lists them), ingest "
            "that file again.")
    for source, codebase, year in named:
        blobs.put(BlobPlacement(scope, document_id(scope.space_id, source), source, content_hash, year, codebase),
                  data)


def _named_in_queue(
    scope: Scope, content_hash: str, later: Sequence[tuple[int, str, str, tuple]], rewrite: Callable[[int, tuple], None]
) -> list[tuple[str, str | None, int]]:
    """(source, codebase, year) of each queued document draft with this content, each draft given the year first."""
    year = datetime.now(UTC).year
    named: dict[str, tuple[str, str | None, int]] = {}
    for seq, target, method, args in later:
        if (target, method) != ("knowledge", "put_documents") or args[0] != scope:
            continue
        drafts: list[DocumentDraft] = list(args[1])
        dated = [replace(draft, raw_year=year) if draft.content_hash == content_hash and draft.raw_year is None
                 else draft for draft in drafts]
        if any(new is not old for new, old in zip(dated, drafts, strict=True)):
            rewrite(seq, (scope, dated))
        named.update({draft.source: (draft.source, draft.codebase, draft.raw_year) for draft in dated
                      if draft.content_hash == content_hash})
    return list(named.values())


def _named_in_azure(scope: Scope, content_hash: str, knowledge: Any) -> list[tuple[str, str | None, int]]:
    """(source, codebase, year) of the stored documents of the space with this content."""
    return [(placement.source, placement.codebase, placement.uploaded_year)
            for placement in (BlobPlacement.of(document) for document in knowledge.list_documents(scope))
            if placement.content_hash == content_hash]
