"""Text to chunks: sized for embedding, cut where a reader would cut, each with an exact location."""

from __future__ import annotations

import re
import textwrap

import pytest

from lmspace_core.domain import ChunkDraft, Location
from lmspace_core.ingest.chunking import chunk_document, estimate_tokens
from lmspace_core.ingest.loaders import LoadedDocument, Section, load, load_text
from lmspace_core.ingest.sources import SourceFile

TARGET = 60
HARD_MAX = 90


def loaded(path: str, text: str) -> LoadedDocument:
    data = text.encode()
    return load(SourceFile(path, len(data), lambda: data))


def chunks_of(path: str, text: str, target: int = TARGET, overlap: int = 10) -> list[ChunkDraft]:
    return chunk_document(loaded(path, text), target_tokens=target, overlap_tokens=overlap)


def sentences(count: int, start: int = 0) -> str:
    return " ".join(f"Sentence number {n} explains one rule about refunds." for n in range(start, start + count))


def assert_well_formed(chunks: list[ChunkDraft], hard_max: int = HARD_MAX) -> None:
    assert chunks
    for chunk in chunks:
        assert chunk.text.strip()
        assert estimate_tokens(chunk.text) <= hard_max


def assert_exact_lines(chunks: list[ChunkDraft], text: str) -> None:
    lines = text.split("\n")
    for chunk in chunks:
        start, end = chunk.location.start_line, chunk.location.end_line
        assert "\n".join(lines[start - 1:end]) == chunk.text


def assert_slices_of_lines(chunks: list[ChunkDraft], text: str) -> None:
    """Prose chunks are stripped slices: they start inside their first line and end inside their last."""
    lines = text.split("\n")
    for chunk in chunks:
        passage = "\n".join(lines[chunk.location.start_line - 1:chunk.location.end_line])
        first, *_, last = chunk.text.split("\n")
        assert chunk.text in passage
        assert lines[chunk.location.start_line - 1].endswith(first)
        assert lines[chunk.location.end_line - 1].startswith(last)


def test_tokens_are_estimated_as_one_per_four_characters_rounded_up() -> None:
    assert [estimate_tokens(t) for t in ["", "abc", "abcd", "abcde", "x" * 1000]] == [0, 1, 1, 2, 250]


def test_invalid_sizes_are_rejected() -> None:
    doc = load_text("t", "x")
    with pytest.raises(ValueError):
        chunk_document(doc, target_tokens=0)
    with pytest.raises(ValueError):
        chunk_document(doc, target_tokens=50, overlap_tokens=50)


# ---- prose


def test_short_text_is_one_chunk_with_its_lines() -> None:
    text = "\n\nFirst line of a note.\nSecond line.\n\n"
    assert chunks_of("note.txt", text) == [
        ChunkDraft("First line of a note.\nSecond line.", Location(start_line=3, end_line=4))
    ]


def test_long_prose_is_packed_into_chunks_within_the_hard_maximum() -> None:
    chunks = chunks_of("rules.txt", "\n\n".join(sentences(6, n * 6) for n in range(10)))
    assert len(chunks) > 5
    assert_well_formed(chunks)


def test_prose_is_never_cut_inside_a_sentence() -> None:
    text = "\n\n".join(sentences(7, n * 7) for n in range(6))
    for chunk in chunks_of("rules.txt", text):
        assert chunk.text.startswith("Sentence number ")
        assert chunk.text.endswith("refunds.")


def test_consecutive_prose_chunks_overlap_by_a_sentence() -> None:
    chunks = chunks_of("rules.txt", sentences(30), overlap=15)
    for previous, following in zip(chunks, chunks[1:]):
        last_sentence = re.findall(r"Sentence number \d+ [^.]*\.", previous.text)[-1]
        assert following.text.startswith(last_sentence)


def test_chunks_prefer_to_end_at_a_paragraph() -> None:
    paragraphs = [sentences(2, n * 2) for n in range(8)]
    for chunk in chunks_of("rules.txt", "\n\n".join(paragraphs), overlap=0):
        assert chunk.text.split("\n\n")[-1] in paragraphs


def test_prose_chunk_lines_point_at_the_passage_in_the_file() -> None:
    text = "\n".join(textwrap.wrap(sentences(40), 70))
    chunks = chunks_of("wrapped.txt", text)
    assert len(chunks) > 3
    assert_slices_of_lines(chunks, text)


def test_sentence_over_the_hard_maximum_is_cut_into_word_windows() -> None:
    run_on = " ".join(f"clause{n} and" for n in range(200))
    chunks = chunks_of("long.txt", run_on)
    assert_well_formed(chunks)
    assert " ".join(c.text for c in chunks).split() == run_on.split()


def test_unbroken_run_of_characters_is_cut_by_characters() -> None:
    chunks = chunks_of("blob.txt", "Data: " + "A" * 2000)
    assert_well_formed(chunks)
    assert "".join(c.text for c in chunks) == "Data:" + "A" * 2000


def test_pdf_chunks_never_cross_a_page_and_carry_their_page() -> None:
    doc = LoadedDocument("p.pdf", "pdf", None, "p.pdf", (Section(sentences(12), page=1), Section("Short.", page=2)))
    chunks = chunk_document(doc, target_tokens=TARGET, overlap_tokens=10)
    assert_well_formed(chunks)
    assert chunks[-1] == ChunkDraft("Short.", Location(page=2))
    assert all(c.location.page == 1 for c in chunks[:-1])
    assert all(c.location.start_line is None for c in chunks)


def test_csv_rows_are_packed_whole_with_their_source_lines() -> None:
    rows = "\n".join(f"{n},Customer {n},Paid invoice {n} on time." for n in range(40))
    text = "id,name,note\n" + rows + "\n"
    chunks = chunks_of("customers.csv", text)
    assert_well_formed(chunks)
    for chunk in chunks:
        first_id = int(re.match(r"id: (\d+);", chunk.text).group(1))
        assert chunk.location.start_line == first_id + 2
        assert chunk.location.end_line == chunk.location.start_line + chunk.text.count("\n")
        assert all(line.startswith("id: ") for line in chunk.text.split("\n"))


def test_json_is_packed_line_by_line() -> None:
    text = "{\n" + ",\n".join(f'  "key{n}": "value number {n}"' for n in range(60)) + "\n}\n"
    chunks = chunks_of("settings.json", text)
    assert len(chunks) > 3
    assert_well_formed(chunks)
    assert_slices_of_lines(chunks, text)
    assert all(line.strip().startswith(('"key', "{", "}")) for c in chunks for line in c.text.split("\n"))


# ---- headed documents


MARKDOWN = """Intro paragraph before any heading.

# Handbook

## Leave

Everyone gets 25 days.

### Sick leave

```sh
# not a heading
```

Tell your manager.

## Expenses ##

{expenses}
"""


def test_markdown_chunks_carry_their_heading_path_and_lines() -> None:
    text = MARKDOWN.format(expenses="Keep receipts.")
    chunks = chunks_of("handbook.md", text)
    assert [(c.location.heading, c.location.start_line, c.location.end_line) for c in chunks] == [
        (None, 1, 1), ("Handbook > Leave", 5, 7), ("Handbook > Leave > Sick leave", 9, 15),
        ("Handbook > Expenses", 17, 19),
    ]
    assert chunks[2].text.startswith("### Sick leave\n")
    assert_exact_lines(chunks, text)


def test_long_markdown_section_repeats_its_heading_line_in_every_chunk() -> None:
    text = MARKDOWN.format(expenses="\n\n".join(sentences(3, n * 3) for n in range(6)))
    expenses = [c for c in chunks_of("handbook.md", text) if c.location.heading == "Handbook > Expenses"]
    assert len(expenses) > 2
    assert all(c.text.startswith("## Expenses ##\n") for c in expenses)
    assert_well_formed(expenses)
    lines = text.split("\n")
    for chunk in expenses[1:]:
        body = chunk.text.removeprefix("## Expenses ##\n")
        assert "\n".join(lines[chunk.location.start_line - 1:chunk.location.end_line]) == body


def test_word_and_html_headings_give_heading_paths_without_lines() -> None:
    doc = LoadedDocument("a.docx", "docx", None, "A", (Section("# Policy\n\n## Travel\n\nBook early."),))
    assert chunk_document(doc) == [ChunkDraft("## Travel\n\nBook early.", Location(heading="Policy > Travel"))]


# ---- code


PYTHON = '''"""Billing helpers."""

import math

RATE = 0.2


# Rounds like the tax office does.
@cache
@trace(level=2)
def tax(amount):
    return math.floor(amount * RATE)


class Invoice:
    """An invoice."""

    def total(self):
        return sum(self.lines)
{padding}

async def send(invoice):
    await mail(invoice)


if __name__ == "__main__":
    send(None)
'''


def test_python_is_split_at_top_level_definitions_with_their_decorators_and_comments() -> None:
    text = PYTHON.format(padding="")
    chunks = chunks_of("billing.py", text, target=20, overlap=0)
    assert_exact_lines(chunks, text)
    starts = [c.text.split("\n")[0] for c in chunks]
    assert "# Rounds like the tax office does." in starts
    assert "class Invoice:" in starts
    assert any(c.text.startswith("async def send(invoice):") for c in chunks)


def test_small_python_definitions_are_merged_up_to_the_target() -> None:
    text = PYTHON.format(padding="")
    chunks = chunks_of("billing.py", text, target=250)
    assert chunks == [ChunkDraft(text.strip(), Location(start_line=1, end_line=len(text.strip().split("\n"))))]


def test_definition_over_the_hard_maximum_is_cut_into_overlapping_line_windows() -> None:
    padding = "\n".join(f"    def method_{n}(self):\n        return {n}\n" for n in range(30))
    text = PYTHON.format(padding=padding)
    chunks = chunks_of("billing.py", text)
    assert_well_formed(chunks)
    assert_exact_lines(chunks, text)
    invoice = [c for c in chunks if "method_" in c.text]
    assert len(invoice) > 2
    for previous, following in zip(invoice, invoice[1:]):
        assert previous.location.end_line >= following.location.start_line


# Pads every segment of the samples below to about 100 characters, so that with a 25-token target each segment is
# one chunk: too big to merge with a neighbour, too small to be cut.
PAD = "x" * 70


def test_python_that_does_not_parse_is_split_by_pattern() -> None:
    text = f"def broken(:\n    # {PAD}\n    pass\n\n\n# helper\n@wrap\ndef fine():\n    # {PAD}\n    return 1\n"
    chunks = chunks_of("broken.py", text, target=25, overlap=0)
    assert_exact_lines(chunks, text)
    assert [c.location.start_line for c in chunks] == [1, 6]


@pytest.mark.parametrize(
    ("path", "text", "starts"),
    [
        ("app.ts", f"import x from 'x'; // {PAD}\n\n/** Adds. */\nexport function add(a: number) {{\n  // {PAD}\n}}\n\n"
                   f"export default class Cart {{\n  // {PAD}\n}}\n", [1, 3, 8]),
        ("main.go", f"package main // {PAD}\n\n// Run runs.\nfunc Run() {{\n  // {PAD}\n}}\n\n"
                    f"type Server struct {{\n  // {PAD}\n}}\n", [1, 3, 8]),
        ("lib.rs", f"use std::io; // {PAD}\n\n#[derive(Debug)]\npub struct Point {{\n    x: i32, // {PAD}\n}}\n\n"
                   f"impl Point {{\n    fn new() -> Self {{ Point {{ x: 0 }} }} // {PAD}\n}}\n", [1, 3, 8]),
        ("util.c", f"#include <stdio.h> // {PAD}\n\nstatic int counter = 0;\n\nint add(int a, int b)\n{{\n"
                   f"    return a + b; // {PAD}\n}}\n", [1, 5]),
        ("model.rb", f"require 'json' # {PAD}\n\nclass User\n  def name # {PAD}\n  end\nend\n\n"
                     f"module Admin # {PAD}\nend\n", [1, 3, 8]),
    ],
)
def test_other_languages_are_split_at_column_zero_definitions(path: str, text: str, starts: list[int]) -> None:
    chunks = chunks_of(path, text, target=25, overlap=0)
    assert_exact_lines(chunks, text)
    assert [c.location.start_line for c in chunks] == starts


def test_configuration_is_cut_into_line_windows_of_at_most_fifty_lines_overlapping_by_five() -> None:
    text = "\n".join(f"k{n}: {n}" for n in range(1, 131)) + "\n"
    chunks = chunks_of("values.yaml", text, target=1000, overlap=0)
    assert [(c.location.start_line, c.location.end_line) for c in chunks] == [(1, 50), (46, 95), (91, 130)]
    assert_exact_lines(chunks, text)


def test_line_windows_stay_within_the_token_budget() -> None:
    text = "\n".join(f"INSERT INTO t VALUES ({n}, 'row number {n} of the seed data');" for n in range(200))
    chunks = chunks_of("seed.sql", text)
    assert_well_formed(chunks)
    assert_exact_lines(chunks, text)
    covered = {n for c in chunks for n in range(c.location.start_line, c.location.end_line + 1)}
    assert covered == set(range(1, 201))


def test_minified_line_is_cut_into_character_windows_on_its_own_line() -> None:
    text = "// bundle\n" + "var a=1;" * 500 + "\nexport function after() {}\n"
    chunks = chunks_of("bundle.js", text)
    assert_well_formed(chunks)
    minified = [c for c in chunks if c.location.start_line == c.location.end_line == 2]
    assert "".join(c.text for c in minified) == "var a=1;" * 500


def test_blank_stretches_of_code_never_become_chunks() -> None:
    text = "\n\n\n   \n\nx = 1\n\n\n\n\ny = 2\n\n   \n"
    chunks = chunks_of("gaps.py", text, target=2, overlap=0)
    assert [c.text for c in chunks] == ["x = 1", "y = 2"]
    assert_exact_lines(chunks, text)


@pytest.mark.parametrize("path", ["billing.py", "values.yaml", "app.ts"])
def test_every_code_chunk_is_exactly_the_source_lines_it_names(path: str) -> None:
    body = PYTHON.format(padding="\n".join(f"    # note {n}\n    x{n} = {n}" for n in range(80)))
    chunks = chunks_of(path, body, target=40, overlap=10)
    assert_well_formed(chunks, hard_max=60)
    assert_exact_lines(chunks, body)
