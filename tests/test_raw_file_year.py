"""The year in a raw file's Azure name (`{enterprise}/docs/{yyyy}/{document}/{name}`) is recorded on the document by
the write that chose it, so reading the file finds it even when that year is not the document's creation year: an
ingest crossing midnight on 31 December, or an offline ingest of a document this machine had never seen."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.doctor import examine
from lmspace_core.stores.base import BlobPlacement
from lmspace_core.workspace import Workspace
from tests.conftest import azure_environment, unreachable_environment, write_config
from tests.test_blob_layout import blobs_of, container

NEW_YEARS_EVE = datetime(2025, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC)
NEW_YEAR = datetime(2026, 1, 1, 0, 0, 0, 100_000, tzinfo=UTC)


class _IngestClock(datetime):
    """The ingest's clock, a moment before midnight (the store's clock is past it)."""

    @classmethod
    def now(cls, tz=None):
        return NEW_YEARS_EVE


@pytest.mark.parametrize("backend", ["azure"])
def test_an_ingest_crossing_new_year_reads_back_its_raw_file(workspace, container, tmp_path, monkeypatch, backend):
    monkeypatch.setattr("lmspace_core.ingest.pipeline.datetime", _IngestClock)
    monkeypatch.setattr("lmspace_core.stores.azure.cosmos_store._now", NEW_YEAR.isoformat)
    space = workspace.create_space("handbook")
    (tmp_path / "visitors.md").write_text("# Visitors\n\nVisitors sign in at the front desk.\n")
    workspace.ingest(space, [tmp_path / "visitors.md"])
    note = workspace.document(space, "visitors.md")
    assert note.created_at.year == 2026
    assert list(blobs_of(container)) == [f"default/docs/2025/{note.id}/visitors.md"]
    assert workspace.blobs.get(BlobPlacement.of(note)).startswith(b"# Visitors")


def test_an_offline_ingest_of_a_document_never_seen_here_reads_back_its_new_content(tmp_path: Path, monkeypatch,
                                                                                    azure_emulators):
    online = azure_environment(azure_emulators)
    offline = unreachable_environment(azure_emulators, online)
    note = tmp_path / "visitors.md"
    for machine in ("first", "second"):
        (tmp_path / machine).mkdir()
    first = Workspace(load_config(write_config(tmp_path / "first"), env=online))
    with monkeypatch.context() as last_year:  # the document was added last year, on another machine
        last_year.setattr("lmspace_core.ingest.pipeline.datetime", _IngestClock)
        last_year.setattr("lmspace_core.stores.azure.cosmos_store._now", NEW_YEARS_EVE.isoformat)
        space = first.create_space("handbook")
        note.write_text("# Visitors\n\nVisitors sign in at the front desk.\n")
        first.ingest(space, [note])
    first.close()
    config = write_config(tmp_path / "second")
    second = Workspace(load_config(config, env=online))
    second.space("handbook")  # known here, but none of its documents were read
    second.close()
    note.write_text("# Visitors\n\nVisitors sign in at reception and wear a badge.\n")
    second = Workspace(load_config(config, env=offline))
    second.ingest(second.space("handbook"), [note])  # queued, named by this year
    second.close()
    second = Workspace(load_config(config, env=online))
    try:
        assert second.store.outbox.replay().remaining == 0
        document = second.document(second.space("handbook"), "visitors.md")
        assert (document.created_at.year, document.version) == (2025, 2)
        assert b"reception" in second.blobs.get(BlobPlacement.of(document))
        # The replaced file under last year's name was not known to the offline ingest: the doctor removes it.
        report = examine(second.settings, grace_seconds=0)
        assert report.ok and report.fixed == (
            f"removed default/docs/2025/{document.id}/visitors.md, a blob no document refers to",)
    finally:
        second.close()
