"""The Spaces page's chart builders: their bars and points carry exactly the counts of the documents given."""

from __future__ import annotations

from datetime import UTC, date, datetime

from lmspace_core.domain import Document
from lmspace_ui.charts import chunks_over_time, documents_by_type, size_by_document


def document(source: str, doc_type: str = "markdown", size: int = 100, chunks: int = 1,
             created: datetime = datetime(2025, 3, 1, 9, tzinfo=UTC), updated: datetime | None = None) -> Document:
    return Document(
        id=source, enterprise_id="default", space_id="s", source=source, title=source, doc_type=doc_type, tags=(),
        content_hash=source, size_bytes=size, version=1, chunk_count=chunks, codebase=None,
        created_at=created, updated_at=updated or created,
    )


def test_documents_by_type_has_one_bar_per_type_with_its_count_most_common_first():
    documents = [
        document("a.md"), document("b.md"), document("c.pdf", "pdf"), document("d.md"), document("e.py", "code")
    ]

    bars = documents_by_type(documents).data[0]

    assert list(bars.x) == ["markdown", "pdf", "code"]
    assert list(bars.y) == [3, 1, 1]


def test_chunks_over_time_accumulates_chunks_per_day_of_the_current_version():
    documents = [
        document("a.md", chunks=4, created=datetime(2025, 3, 1, 9, tzinfo=UTC)),
        document("b.md", chunks=2, created=datetime(2025, 3, 1, 17, tzinfo=UTC)),
        document("c.md", chunks=5, created=datetime(2025, 3, 1, tzinfo=UTC), updated=datetime(2025, 3, 4, tzinfo=UTC)),
        document("d.md", chunks=3, created=datetime(2025, 3, 2, tzinfo=UTC)),
    ]

    points = chunks_over_time(documents).data[0]

    assert list(points.x) == [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 4)]
    assert list(points.y) == [6, 9, 14]


def test_size_by_document_keeps_the_twenty_largest_with_the_largest_on_top():
    documents = [document(f"doc{n:02}.md", size=n * 10) for n in range(1, 26)]

    bars = size_by_document(documents).data[0]

    assert len(bars.y) == 20
    assert bars.y[-1] == "doc25.md" and bars.x[-1] == 250  # the last bar is drawn at the top
    assert "doc05.md" not in bars.y and min(bars.x) == 60


def test_charts_of_an_empty_space_have_no_bars_or_points():
    assert len(documents_by_type([]).data[0].x or ()) == 0
    assert chunks_over_time([]) is None


def test_growth_on_a_single_day_is_no_chart():
    assert chunks_over_time([document("a.md"), document("b.md", created=datetime(2025, 3, 1, 23, tzinfo=UTC))]) is None
    assert len(size_by_document([]).data[0].x or ()) == 0
