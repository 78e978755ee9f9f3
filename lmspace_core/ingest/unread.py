"""Files of types LMSpace does not read, as an ingest report presents them to a person (CLI table, dashboard).

A folder or codebase archive often holds many (a project's images, headers, build files): listed one by one they
bury the files that were read or failed, so past `LISTED_UNREAD` they are counted by type in one line instead.
The report itself (and `--json`) keeps every one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

from lmspace_core.domain import FileOutcome, IngestReport
from lmspace_core.ingest.sources import UNSUPPORTED_REASON

LISTED_UNREAD = 10


def counted_unread(report: IngestReport) -> list[FileOutcome]:
    """The report's files of unread types when there are too many to list one by one, else none."""
    unread = [item for item in report.files if item.reason.startswith(UNSUPPORTED_REASON)]
    return unread if len(unread) > LISTED_UNREAD else []


def unread_summary(unread: Sequence[FileOutcome]) -> str:
    """One line for them, most frequent type first: `Left out 16 files of types LMSpace does not read: .pxd 12, ...`."""
    types = Counter(PurePosixPath(item.source).suffix or "(no extension)" for item in unread)
    counts = ", ".join(f"{kind} {count}" for kind, count in types.most_common())
    return f"Left out {len(unread)} files of types LMSpace does not read: {counts}"
