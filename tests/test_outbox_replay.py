"""Replaying the outbox: writes queued by the earlier content-addressed blob store are sent under today's names, and
a write that can never succeed is set aside with its reason (`lmspace outbox status`) instead of blocking the ones
queued after it; Azure being unreachable still stops the replay with the write first in line."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime

import numpy as np
import pytest
from azure.core.exceptions import HttpResponseError

from lmspace_core.domain import ChunkDraft, Location, Scope
from lmspace_core.errors import BackendError
from lmspace_core.stores.azure import OUTBOX_FILE
from lmspace_core.stores.azure.boundary import RequestRejectedError, azure_call
from lmspace_core.stores.base import BlobPlacement, DocumentDraft, SpaceEdit
from tests.test_azure_offline import lmspace  # the CLI online and offline, a fixture

NOTE = b"# Visitors\n\nVisitors sign in at the front desk.\n"


def draft(source: str, data: bytes) -> DocumentDraft:
    """A document write as the earlier version queued it (its drafts had no raw-file year)."""
    return DocumentDraft(source, source, "markdown", (), hashlib.sha256(data).hexdigest(), len(data), None,
                         (ChunkDraft(data.decode(), Location(start_line=1)),),
                         np.full((1, 384), 384**-0.5, dtype=np.float32))


def queue_old_ingest(outbox, scope: Scope, source: str, data: bytes) -> None:
    """What an offline ingest queued before raw files were named after documents: upload by hash, then the write."""
    content_hash = hashlib.sha256(data).hexdigest()
    outbox.file.queue("blobs", "put", f"{scope.enterprise_id}/{scope.space_id}: upload {content_hash[:12]}",
                      (scope, content_hash, data))
    outbox.file.queue("knowledge", "put_documents", f"{scope.enterprise_id}/{scope.space_id}: write {source}",
                      (scope, [draft(source, data)]))


def test_uploads_queued_by_the_content_addressed_version_are_stored_under_their_documents_names(lmspace):
    workspace = lmspace.online()
    try:
        space = workspace.create_space("handbook")
        queue_old_ingest(workspace.store.outbox, space.scope, "visitors.md", NOTE)
        queue_old_ingest(workspace.store.outbox, space.scope, "copy/visitors.md", NOTE)  # the same content again
        report = workspace.store.outbox.replay()
        assert (report.replayed, report.remaining, report.set_aside) == (4, 0, 0)
        year = datetime.now(UTC).year
        for source in ("visitors.md", "copy/visitors.md"):
            document = workspace.document(space, source)
            assert document.raw_year == year
            assert workspace.blobs.get(BlobPlacement.of(document)) == NOTE
        assert sorted(blob.name for blob in workspace.blobs.inventory()) == sorted(
            f"default/docs/{year}/{workspace.document(space, source).id}/visitors.md"
            for source in ("visitors.md", "copy/visitors.md"))
    finally:
        workspace.close()


def test_old_writes_that_name_no_document_are_set_aside_with_what_to_do_and_the_rest_go_on(lmspace):
    workspace = lmspace.online()
    try:
        space = workspace.create_space("handbook")
        outbox, scope = workspace.store.outbox, space.scope
        orphan = hashlib.sha256(b"lost").hexdigest()
        outbox.file.queue("blobs", "put", f"default/{space.id}: upload {orphan[:12]}", (scope, orphan, b"lost"))
        outbox.file.queue("blobs", "delete", f"default/{space.id}: delete {orphan[:12]}", (scope, orphan))
        outbox.file.queue("knowledge", "update_space", "default: change instructions of handbook",
                          (scope, SpaceEdit(instructions="Answer briefly.")))
    finally:
        workspace.close()
    replayed = json.loads(lmspace("outbox", "replay", "--json").stdout)
    assert (replayed["replayed"], replayed["remaining"], replayed["set_aside"]) == (1, 0, 2)
    status = json.loads(lmspace("outbox", "status", "--json").stdout)
    assert status["pending"] == []
    upload, removal = status["set_aside"]
    assert upload["summary"].endswith(f"upload {orphan[:12]}")
    assert f"content {orphan[:12]} for space {space.id}" in upload["reason"] and "ingest that file again" in upload[
        "reason"]
    assert "`lmspace doctor` removes that file" in removal["reason"]
    shown = lmspace("outbox", "status").output
    assert "Set aside" in shown and "dismiss SEQ" in shown
    lmspace("outbox", "dismiss", str(upload["seq"]))
    lmspace("outbox", "dismiss", str(upload["seq"]), code=4)
    assert [w["seq"] for w in json.loads(lmspace("outbox", "status", "--json").stdout)["set_aside"]] == [
        removal["seq"]]
    workspace = lmspace.online()
    try:
        assert workspace.space("handbook").instructions == "Answer briefly."
    finally:
        workspace.close()


def test_a_write_that_can_never_succeed_is_set_aside_and_the_next_one_is_sent(lmspace, tmp_path):
    workspace = lmspace.online()
    try:
        kept, gone = workspace.create_space("kept"), workspace.create_space("gone")
        workspace.delete_space(gone)
        outbox = workspace.store.outbox
        outbox.file.queue("knowledge", "update_space", "default: change instructions of gone",
                          (gone.scope, SpaceEdit(instructions="Never.")))  # the space is gone: NotFoundError
        outbox.file.queue("knowledge", "update_space", "default: change something", (kept.scope,))  # TypeError
        outbox.file.queue("knowledge", "update_space", "default: change instructions of kept",
                          (kept.scope, SpaceEdit(instructions="Kept.")))
    finally:
        workspace.close()
    with sqlite3.connect(tmp_path / "home" / OUTBOX_FILE) as other_version:  # a payload naming a class gone since
        other_version.execute("INSERT INTO outbox (target, method, summary, payload, queued_at) VALUES (?, ?, ?, ?, ?)",
                              ("knowledge", "update_space", "default: change of another version",
                               b"clmspace_core.gone\nEdit\n)\x81.", datetime.now(UTC).isoformat()))
    workspace = lmspace.online()
    try:
        report = workspace.store.outbox.replay()
        assert (report.replayed, report.remaining, report.set_aside) == (1, 0, 3)
        assert workspace.space("kept").instructions == "Kept."
        reasons = [write.reason for write in workspace.store.outbox.file.set_aside_writes()]
    finally:
        workspace.close()
    assert reasons[0] == f"No space {gone.id} in enterprise 'default'. It was deleted after this write was queued."
    assert reasons[1].startswith("This version of LMSpace cannot send this write (TypeError:")
    assert reasons[2].startswith("This version of LMSpace cannot send this write (ModuleNotFoundError:")


def test_an_unreachable_azure_stops_the_replay_with_the_write_first_in_line(lmspace, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe server room code changes every Monday.\n")
    lmspace("spaces", "create", "ops")
    lmspace("ingest", "ops", str(notes), reachable=False)
    assert "Cannot reach" in lmspace("outbox", "replay", reachable=False, code=11).output
    status = json.loads(lmspace("outbox", "status", "--json", reachable=False).stdout)
    assert len(status["pending"]) == 2 and status["set_aside"] == []


@pytest.mark.parametrize(("status", "rejected"), [(400, True), (413, True), (403, False), (429, False), (503, False)])
def test_only_requests_azure_refuses_as_such_count_as_rejected(status: int, rejected: bool):
    error = HttpResponseError(message="refused")
    error.status_code = status

    @azure_call("Blob Storage")
    def request() -> None:
        raise error

    with pytest.raises(BackendError) as raised:
        request()
    assert isinstance(raised.value, RequestRejectedError) is rejected
