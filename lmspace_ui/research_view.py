"""Rendering research: the result of a research job as a summary, a findings table, a chart, code and exports."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from lmspace_core.domain import Finding, Job
from lmspace_core.ingest.sources import language_for
from lmspace_core.research.result import ResearchResult
from lmspace_ui import charts
from lmspace_ui.text import plain

INSPECTABLE = 500  # findings offered for a closer look with highlighted source; the table and exports hold all


def findings_frame(findings: tuple[Finding, ...]) -> pd.DataFrame:
    """One row per finding: where it is (path, line, column), its first line of source, and the note."""
    return pd.DataFrame(
        [{"path": f.path, "line": f.line, "column": f.column, "end line": f.end_line,
          "snippet": f.text.strip().splitlines()[0] if f.text.strip() else "", "note": f.note} for f in findings],
        columns=["path", "line", "column", "end line", "snippet", "note"],
    )


def render_research_result(job: Job) -> None:
    """A finished research job: summary, costs, findings table, per-directory chart, highlighted code, exports."""
    result = ResearchResult.from_json_data(job.result)
    st.markdown(plain(result.summary))
    stats = result.stats
    st.caption(f"verified findings: {len(result.findings)} · files: {stats.files} · bytes: {stats.bytes:,} · "
               f"model calls: {stats.lm_calls} · tokens: {stats.tokens:,} · {stats.seconds:.1f} s")
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
    st.code(finding.text, language=language_for(finding.path) or "text", line_numbers=True)
    left, right = st.columns(2)
    left.download_button("Export CSV", frame.to_csv(index=False), file_name="findings.csv", mime="text/csv",
                         key=f"csv_{job.id}", icon=":material/download:")
    right.download_button("Export JSON", json.dumps(result.to_json_data(), indent=2), file_name="research.json",
                          mime="application/json", key=f"json_{job.id}", icon=":material/download:")
