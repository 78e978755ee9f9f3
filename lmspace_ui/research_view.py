"""Rendering research: the result of a research job as a summary, a findings table, a chart, code and exports."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import streamlit as st

from lmspace_core.domain import Finding, Job, Scope
from lmspace_core.errors import LMSpaceError
from lmspace_core.ingest.sources import language_for
from lmspace_core.research.result import ResearchResult
from lmspace_core.stores.base import BlobPlacement
from lmspace_core.workspace import Workspace
from lmspace_ui import charts
from lmspace_ui.components import offline_notice
from lmspace_ui.text import plain

SourceLines = Callable[[Job, str], list[str] | None]  # a finished job and a path: that file's lines, if it is known

INSPECTABLE = 500  # findings offered for a closer look with highlighted source; the table and exports hold all
CONTEXT_LINES = 5  # lines of the file shown before and after a finding


def snippet(text: str) -> str:
    """The first line of a finding that says something: a line of only `\"\"\"` or a bracket tells nobody anything."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if any(character.isalnum() for character in line)), lines[0] if lines else "")


def excerpt(lines: list[str], finding: Finding, context: int = CONTEXT_LINES) -> str:
    """The lines around a finding with their real numbers in a gutter; the finding's own lines marked with `▶`.

    `lines` is the whole file when it can be read, else the finding's own text (its lines, numbered from `line`).
    """
    first_number = 1 if len(lines) >= finding.end_line else finding.line
    start = max(finding.line - context, first_number)
    end = min(finding.end_line + context, first_number + len(lines) - 1)
    width = len(str(end))
    return "\n".join(
        f"{number:>{width}} {'▶' if finding.line <= number <= finding.end_line else '│'} "
        f"{lines[number - first_number]}"
        for number in range(start, end + 1)
    )


def findings_frame(findings: tuple[Finding, ...]) -> pd.DataFrame:
    """One row per finding: where it is (path, line, column), its first line of source, and the note."""
    return pd.DataFrame(
        [{"path": f.path, "line": f.line, "column": f.column, "end line": f.end_line,
          "snippet": snippet(f.text), "note": f.note} for f in findings],
        columns=["path", "line", "column", "end line", "snippet", "note"],
    )


def render_research_result(job: Job, source_lines: SourceLines | None = None) -> None:
    """A finished research job: summary, costs, findings table, per-directory chart, highlighted code, exports."""
    result = ResearchResult.from_json_data(job.result)
    st.markdown(plain(result.summary))
    stats = result.stats
    st.caption(f"verified findings: {len(result.findings)} · files: {stats.files} · bytes: {stats.bytes:,} · "
               f"model calls: {stats.lm_calls} · tokens: {stats.tokens:,} · {stats.seconds:.1f} s")
    offline_notice(result.offline_notice)
    if result.rejected:
        st.warning(f"{len(result.rejected)} findings were dropped: their text is not at the place they name.",
                   icon=":material/report:")
    if not result.findings:
        return
    frame = findings_frame(result.findings)
    st.dataframe(frame, hide_index=True, width="stretch")
    st.plotly_chart(charts.findings_by_directory(result.findings), key=f"chart_{job.id}")
    shown = result.findings[:INSPECTABLE]
    labels = [f.location for f in shown]
    chosen = st.selectbox("Look at a finding", labels, key=f"inspect_{job.id}")
    finding = shown[labels.index(chosen)]
    lines = (source_lines(job, finding.path) if source_lines else None) or []
    if finding.text.splitlines() != lines[finding.line - 1:finding.end_line]:
        lines = finding.text.splitlines()  # the file is unknown or changed since the run
    st.code(excerpt(lines, finding), language=language_for(finding.path) or "text")
    st.caption(f"{plain(finding.location)} · ▶ marks the finding, numbers are the file's own lines")
    left, right = st.columns(2)
    left.download_button("Export CSV", frame.to_csv(index=False), file_name="findings.csv", mime="text/csv",
                         key=f"csv_{job.id}", icon=":material/download:")
    right.download_button("Export JSON", json.dumps(result.to_json_data(), indent=2), file_name="research.json",
                          mime="application/json", key=f"json_{job.id}", icon=":material/download:")


def space_file_lines(workspace: Workspace) -> SourceLines:
    """Lines of a researched space's file, from its original in the blob store; None when the job ran over an
    uploaded .zip (gone after the run) or the file changed since (its lines would not match the finding)."""

    def lines(job: Job, path: str) -> list[str] | None:
        if not job.space_id:
            return None
        scope = Scope(job.enterprise_id, job.space_id)
        try:
            document = workspace.store.find_document(scope, path)
            data = workspace.blobs.get(BlobPlacement.of(document)) if document else None
        except LMSpaceError:
            return None
        return data.decode("utf-8", errors="replace").splitlines() if data is not None else None

    return lines
