"""Dataclasses that cross layer boundaries.

They are frozen so that a value handed to a store, an agent or a page cannot be changed behind the caller's back.
Every record that lives in a store carries `enterprise_id` and `space_id`: the embedded store and the Azure store
(Cosmos DB partitions by enterprise) both scope every read and write by them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Scope:
    """Which enterprise and which space a call is about; every store method takes one."""

    enterprise_id: str
    space_id: str


@dataclass(frozen=True)
class Space:
    """A named collection of knowledge owned by an enterprise, with the instructions its agent always follows."""

    id: str
    enterprise_id: str
    name: str
    description: str
    instructions: str
    embedder_id: str
    created_at: datetime
    updated_at: datetime

    @property
    def scope(self) -> Scope:
        return Scope(self.enterprise_id, self.id)


@dataclass(frozen=True)
class SpaceStats:
    """Counts for a space, computed by the store (documents, chunks, bytes of raw content)."""

    documents: int
    chunks: int
    bytes: int
    last_update: datetime | None


@dataclass(frozen=True)
class SearchPlan:
    """Which ranking answers a space's unfiltered searches now (exact, or an approximate index), and why."""

    approximate: bool
    reason: str
    due: bool = False  # the space is big enough for an approximate index but has none for its current state

    def describe(self) -> str:
        return f"{'approximate (HNSW)' if self.approximate else 'exact'}: {self.reason}"


@dataclass(frozen=True)
class Document:
    """One ingested source (a file, a pasted text or one file of a codebase) at its current version.

    `source` is the name a user recognises (a relative path, or `codebase/path` for codebase files); `version` grows
    by one each time different content is ingested under the same source, which is what sync turns into deltas.
    """

    id: str
    enterprise_id: str
    space_id: str
    source: str
    title: str
    doc_type: str
    tags: tuple[str, ...]
    content_hash: str
    size_bytes: int
    version: int
    chunk_count: int
    codebase: str | None
    created_at: datetime
    updated_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)  # a knowledge entity's metadata, any JSON object
    # The year in its raw file's Azure name, recorded by the write that named it (the embedded store does not name
    # files by year and leaves it None, as do documents written before it was recorded): see `BlobPlacement.of`.
    raw_year: int | None = None
    # Set when Azure was unreachable: listed from the local copy of the space made at this time (see `Hit`). Not part
    # of what the document is, so a listed copy equals the stored document.
    cached_at: datetime | None = field(default=None, compare=False)


def document_id(space_id: str, source: str) -> str:
    """The id a new document gets: fixed per (space, source), so that an ingest knows it before the document is
    written (its raw file is named by it) and a retried write lands on the same item."""
    return hashlib.sha256(f"{space_id}\0{source}".encode()).hexdigest()[:16]


class ChangeKind(StrEnum):
    ADDED = "added"
    REPLACED = "replaced"
    DELETED = "deleted"


@dataclass(frozen=True)
class DocumentChange:
    """One entry of a space's append-only change log: the raw material of sync deltas."""

    sequence: int
    enterprise_id: str
    space_id: str
    document_id: str
    source: str
    version: int
    kind: ChangeKind
    content_hash: str
    changed_at: datetime


@dataclass(frozen=True)
class Location:
    """Where a passage sits in its source: a page (PDF), a heading path (markdown), lines (code and text)."""

    page: int | None = None
    heading: str | None = None
    start_line: int | None = None
    end_line: int | None = None

    def describe(self) -> str:
        parts = []
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.heading:
            parts.append(f"§ {self.heading}")
        if self.start_line is not None:
            end = self.end_line if self.end_line is not None else self.start_line
            parts.append(f"line {self.start_line}" if end == self.start_line else f"lines {self.start_line}-{end}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk as a chunker produces it, before it belongs to a stored document."""

    text: str
    location: Location


@dataclass(frozen=True)
class Chunk:
    """A stored passage of a document, the unit that is embedded, searched and cited."""

    id: str
    enterprise_id: str
    space_id: str
    document_id: str
    ordinal: int
    text: str
    location: Location


@dataclass(frozen=True)
class SearchFilter:
    """Restrictions applied before ranking: document types, tags (a chunk must carry every tag) and metadata.

    `metadata` holds `(key, value)` pairs that must all equal the document's metadata, e.g. `(("type", "policy"),)`
    for `metadata.type == "policy"`; `SearchFilter.where(type="policy")` builds it.
    """

    doc_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str | int | float | bool], ...] = ()

    @classmethod
    def where(cls, **metadata: str | int | float | bool) -> SearchFilter:
        return cls(metadata=tuple(metadata.items()))

    @property
    def is_empty(self) -> bool:
        return not self.doc_types and not self.tags and not self.metadata

    def admits(self, document: Document) -> bool:
        """Whether the document's chunks pass, decided in Python (the stores decide it in their queries)."""
        return ((not self.doc_types or document.doc_type in self.doc_types)
                and all(tag in document.tags for tag in self.tags)
                and all(key in document.metadata and document.metadata[key] == value for key, value in self.metadata))


@dataclass(frozen=True)
class Hit:
    """A chunk found by search, with its cosine similarity to the query and the document it came from."""

    chunk: Chunk
    document: Document
    score: float
    cached_at: datetime | None = None  # set when Azure was unreachable: found in the local copy made at this time


@dataclass(frozen=True)
class Citation:
    """A numbered reference in an answer: which document, where in it, what is quoted and how well it matched.

    `quote` is what the answer relies on (a sentence of the passage for an extracted answer, the whole passage for a
    generated one); `passage` is the whole chunk it comes from and `ordinal` that chunk's position in its document,
    so the quote can be shown in its context and the chunk opened. Citations stored before they carried a passage
    have `passage` empty and `ordinal` None.
    """

    number: int
    document_id: str
    source: str
    location: Location
    quote: str
    score: float
    ordinal: int | None = None
    passage: str = ""


class AnswerMode(StrEnum):
    GENERATED = "generated"
    EXTRACTED = "extracted"
    NOT_FOUND = "not_found"


def offline_notice(cached_at: datetime | None) -> str:
    """What a reader must know about an answer (or research) from the local cache: it may miss what changed since
    `cached_at`, the last time the copy matched Azure. Empty when Azure answered."""
    if cached_at is None:
        return ""
    return f"offline: answered from the local cache of {cached_at.astimezone():%Y-%m-%d %H:%M %Z}"


@dataclass(frozen=True)
class Answer:
    """What `ask` returns: the text, how it was produced, and the citations it relies on."""

    question: str
    text: str
    mode: AnswerMode
    citations: tuple[Citation, ...]
    space_id: str
    cached_at: datetime | None = None  # answered offline from the local copy of the space made at this time

    @property
    def found(self) -> bool:
        return self.mode is not AnswerMode.NOT_FOUND

    @property
    def offline_notice(self) -> str:
        return offline_notice(self.cached_at)

    def __str__(self) -> str:
        """The answer as a person reads it: the text, then a model answer's numbered sources.

        An extracted answer's text already lists its quoted passages with their sources.
        """
        notice = f"\n\n({self.offline_notice})" if self.cached_at is not None else ""
        if self.mode is not AnswerMode.GENERATED or not self.citations:
            return self.text + notice
        sources = "\n".join(
            f"[{cited.number}] {cited.source}" + (f" ({where})" if (where := cited.location.describe()) else "")
            for cited in self.citations
        )
        return f"{self.text}\n\nSources:\n{sources}{notice}"


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation, handed back to the agent as history."""

    question: str
    answer: str


class Outcome(StrEnum):
    ADDED = "added"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    FAILED = "failed"
    SKIPPED = "skipped"  # left out by a safety rule (a link, a special file); `reason` says which


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input of an ingest; `reason` says why when it failed."""

    source: str
    outcome: Outcome
    chunks: int = 0
    reason: str = ""
    document_id: str | None = None


@dataclass(frozen=True)
class IngestReport:
    """The end report of an ingest: one outcome per input, in input order; `sync_queued` says why the ingest queued
    an automatic sync of the space (`sync.auto_sync`), `warnings` what went wrong after the files were stored."""

    space_id: str
    files: tuple[FileOutcome, ...] = field(default_factory=tuple)
    sync_queued: str = ""
    warnings: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.files if f.outcome is outcome)

    @property
    def failed(self) -> tuple[FileOutcome, ...]:
        return tuple(f for f in self.files if f.outcome is Outcome.FAILED)

    @classmethod
    def from_json_data(cls, data: dict) -> IngestReport:
        """Rebuild a report stored as a job result (see `to_json_data`)."""
        files = tuple(FileOutcome(**{**f, "outcome": Outcome(f["outcome"])}) for f in data["files"])
        return cls(space_id=data["space_id"], files=files, sync_queued=data.get("sync_queued", ""),
                   warnings=tuple(data.get("warnings", ())))


@dataclass(frozen=True)
class Progress:
    """One step of long work, rendered by the CLI as a progress bar and by the dashboard as `st.progress`.

    `done`/`total` count items (files, chunks); `total` is None while unknown. `item` names what is being worked on.
    """

    stage: str
    done: int
    total: int | None
    item: str = ""
    message: str = ""


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The progress callback used when nobody is watching."""


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, but some of its inputs failed
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped on request; what it finished before is kept (an ingest's report says what)
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED, JobStatus.CANCELLED,
                        JobStatus.INTERRUPTED)


@dataclass(frozen=True)
class Job:
    """Long work (an ingest, later research and sync) that outlives the page or command that started it.

    `result` is the finished work as plain JSON data (an ingest report, findings); `error` says why it failed.
    """

    id: str
    enterprise_id: str
    space_id: str
    kind: str
    title: str
    status: JobStatus
    done: int
    total: int | None
    message: str
    result: dict | None
    error: str
    created_at: datetime
    updated_at: datetime

    @property
    def fraction(self) -> float | None:
        return min(self.done / self.total, 1.0) if self.total else None


@dataclass(frozen=True)
class JobEvent:
    """One progress step of a job, kept so a monitor can replay what happened (files done, failures)."""

    job_id: str
    sequence: int
    at: datetime
    stage: str
    done: int
    total: int | None
    item: str
    message: str


@dataclass(frozen=True)
class Finding:
    """One research result: a location in a codebase, the exact source text there, and what it means.

    `line`/`end_line` are 1-based and inclusive; `text` is exactly those lines of the file. `column` (1-based, in
    characters) is where on `line` a code search found it, so two calls on one line are two findings
    (`path:line:column`); None for findings about whole lines (search results, subagents' findings). `verified` is
    True once the file has been re-read and the text found at that location.
    """

    path: str
    line: int
    end_line: int
    text: str
    note: str = ""
    verified: bool = False
    column: int | None = None

    @property
    def location(self) -> str:
        """`path:line:column`, or `path:line` without a column: the form editors and terminals link to."""
        return f"{self.path}:{self.line}" + (f":{self.column}" if self.column is not None else "")


def to_json_data(value: Any) -> Any:
    """Plain JSON data for a dataclass (nested), enum, datetime or path: CLI `--json` output and job results."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_json_data(asdict(value))
    if isinstance(value, dict):
        return {key: to_json_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_data(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value
