"""Plotly figures about a space's documents and research findings: pure functions from core dataclasses to figures.

They take plain `Document` lists and import no Streamlit, so their numbers can be unit-tested without a page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from itertools import accumulate

import plotly.graph_objects as go

from lmspace_core.domain import Document, Finding
from lmspace_core.sync.model import Metric

TOP_DOCUMENTS = 20


def _titled(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    """One look for every chart: a title, named axes and margins small enough for a dashboard column."""
    figure.update_layout(
        title=title, xaxis_title=x_title, yaxis_title=y_title, margin={"l": 10, "r": 10, "t": 40, "b": 10}
    )
    return figure


def documents_by_type(documents: Sequence[Document]) -> go.Figure:
    """A bar per document type with how many documents have it, most common first."""
    counts = Counter(document.doc_type for document in documents).most_common()
    bars = go.Bar(x=[doc_type for doc_type, _ in counts], y=[count for _, count in counts], name="documents")
    return _titled(go.Figure(bars), "Documents by type", "type", "documents")


def chunks_over_time(documents: Sequence[Document]) -> go.Figure | None:
    """The space's chunk count as it grew, one point per day on which documents were added or replaced; None when
    that is fewer than two days (one point is no growth, and plotly labels its lone axis in fractions of a second).

    A document's chunks belong to its current version, written at `updated_at` (its `created_at` when it was never
    replaced), so each document counts on that day; the last point equals the space's chunk total.
    """
    per_day: Counter[date] = Counter()
    for document in documents:
        per_day[document.updated_at.date()] += document.chunk_count
    days = sorted(per_day)
    if len(days) < 2:
        return None
    totals = list(accumulate(per_day[day] for day in days))
    line = go.Scatter(x=days, y=totals, mode="lines+markers", name="chunks", line_shape="hv")
    return _titled(go.Figure(line), "Chunks over time", "date", "chunks (cumulative)")


def size_by_document(documents: Sequence[Document], top: int = TOP_DOCUMENTS) -> go.Figure:
    """Horizontal bars of the `top` largest documents by bytes, largest at the top, to spot what dominates."""
    largest = sorted(documents, key=lambda document: document.size_bytes, reverse=True)[:top]
    shown = list(reversed(largest))  # plotly draws the first bar at the bottom
    bars = go.Bar(
        x=[document.size_bytes for document in shown],
        y=[document.source for document in shown],
        orientation="h",
        name="bytes",
    )
    figure = _titled(go.Figure(bars), f"Size by document (top {top})", "bytes", "document")
    figure.update_layout(height=max(240, 28 * len(shown) + 80))
    return figure


def findings_by_directory(findings: Sequence[Finding], top: int = 20) -> go.Figure:
    """A bar per directory with how many findings are in it (the `top` busiest), busiest first."""
    counts = Counter(finding.path.rsplit("/", 1)[0] if "/" in finding.path else "." for finding in findings)
    ranked = counts.most_common(top)
    bars = go.Bar(x=[directory for directory, _ in ranked], y=[count for _, count in ranked], name="findings")
    return _titled(go.Figure(bars), "Findings by directory", "directory", "findings")


def training_curves(metrics: Sequence[Metric]) -> go.Figure:
    """Train and validation loss per step (left axis) and accuracy (right axis) of a sync job, as reported so far."""
    figure = go.Figure()
    for name, values in (("train loss", [m.train_loss for m in metrics]),
                         ("validation loss", [m.validation_loss for m in metrics])):
        points = [(m.step, value) for m, value in zip(metrics, values, strict=True) if value is not None]
        if points:
            figure.add_trace(go.Scatter(x=[s for s, _ in points], y=[v for _, v in points], name=name,
                                        mode="lines+markers"))
    accuracy = [(m.step, m.accuracy) for m in metrics if m.accuracy is not None]
    if accuracy:
        figure.add_trace(go.Scatter(x=[s for s, _ in accuracy], y=[v for _, v in accuracy], name="accuracy",
                                    mode="lines+markers", yaxis="y2", line={"dash": "dot"}))
        figure.update_layout(yaxis2={"title": "accuracy", "overlaying": "y", "side": "right", "range": [0, 1]})
    return _titled(figure, "Training curves", "step", "loss")

