"""Running a pattern plan or a semantic-search plan over a codebase, one file at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmspace_core.domain import Finding, Hit, Progress, ProgressCallback, ignore_progress
from lmspace_core.embeddings.base import Embedder
from lmspace_core.errors import LMSpaceError
from lmspace_core.ingest.chunking import chunk_document
from lmspace_core.ingest.inputs import memory_source
from lmspace_core.ingest.loaders import load
from lmspace_core.research.codebase import CodeFile, Codebase, read_or_none
from lmspace_core.research.patterns import called_names, find_in_file
from lmspace_core.research.plan import PatternKind, PatternQuery
from lmspace_core.research.regex import plan_regex

# An ad-hoc codebase (not ingested) is embedded on the fly for a search plan; past this many chunks it is too slow
# to be worth it on a laptop, and the user is told to ingest the codebase into a space instead.
MAX_AD_HOC_SEARCH_CHUNKS = 3000


@dataclass(frozen=True)
class Scan:
    findings: tuple[Finding, ...]
    files: int
    bytes: int


def _cheap_prefilter(query: PatternQuery) -> tuple[str, ...]:
    """Literals a matching file must contain one of, so most files are skipped before parsing (none: no filter)."""
    if query.kind is PatternKind.TODO or not query.name:
        return ()
    return tuple(name.rsplit(".", 1)[-1] for name in called_names(query))


def scan_pattern(
    codebase: Codebase,
    files: Sequence[CodeFile],
    query: PatternQuery,
    contains: str | None = None,
    progress: ProgressCallback = ignore_progress,
) -> Scan:
    """Stream `files`, keeping only one file's text in memory at a time."""
    literals, content_filter = _cheap_prefilter(query), plan_regex(contains, "files.contains") if contains else None
    findings: list[Finding] = []
    scanned = size = 0
    for done, file in enumerate(files):
        if done % 50 == 0:
            progress(Progress("scan", done, len(files), item=file.path, message=f"{len(findings)} findings so far"))
        text = read_or_none(codebase, file.path)
        if text is None:
            continue
        scanned += 1
        size += len(text)
        if literals and not any(literal in text for literal in literals):
            continue
        if content_filter and not content_filter.search(text):
            continue
        findings.extend(find_in_file(file.path, text, file.language, query))
    progress(Progress("scan", len(files), len(files), message=f"{len(findings)} findings"))
    return Scan(tuple(findings), scanned, size)


def findings_from_hits(hits: Sequence[Hit]) -> tuple[Finding, ...]:
    """Search hits as findings, noted as search results (not answers), with their line ranges."""
    return tuple(
        Finding(
            path=hit.document.source,
            line=hit.chunk.location.start_line or 1,
            end_line=hit.chunk.location.end_line or hit.chunk.location.start_line or 1,
            text=hit.chunk.text,
            note=f"semantic search result (similarity {hit.score:.2f}), not a reasoned answer",
        )
        for hit in hits
    )


def search_ad_hoc(
    codebase: Codebase, files: Sequence[CodeFile], task: str, embedder: Embedder, k: int = 10,
    progress: ProgressCallback = ignore_progress,
) -> Scan:
    """Chunk and embed the selected files on the fly and return the `k` chunks closest to the task."""
    pieces: list[tuple[str, int, int, str]] = []
    size = 0
    for done, file in enumerate(files):
        progress(Progress("index", done, len(files), item=file.path))
        text = read_or_none(codebase, file.path)
        if not text or not text.strip():
            continue
        size += len(text)
        for chunk in chunk_document(load(memory_source(file.path, text))):
            start = chunk.location.start_line or 1
            pieces.append((file.path, start, chunk.location.end_line or start, chunk.text))
        if len(pieces) > MAX_AD_HOC_SEARCH_CHUNKS:
            raise LMSpaceError(
                f"This codebase is too large to search without an index (over {MAX_AD_HOC_SEARCH_CHUNKS} chunks); "
                "ingest it into a space and research the space instead."
            )
    if not pieces:
        return Scan((), 0, size)
    vectors = embedder.embed([text for *_, text in pieces])
    scores = vectors @ embedder.embed_query(task)
    best = np.argsort(-scores, kind="stable")[:k]
    findings = tuple(
        Finding(path, start, end, text, note=f"semantic search result (similarity {scores[i]:.2f}), "
                                             "not a reasoned answer")
        for i in best
        for path, start, end, text in [pieces[i]]
    )
    return Scan(findings, len(files), size)
