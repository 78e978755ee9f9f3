"""Bytes to text per file type, and a specific, actionable error for every kind of unusable input."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import docx
import pypdf
import pytest
from fpdf import FPDF

from lmspace_core.errors import IngestError
from lmspace_core.ingest.loaders import Section, decode_text, load, load_text
from lmspace_core.ingest.sources import IngestLimits, SourceFile, file_source

MIB = 1024 * 1024


def source(path: str, content: bytes | str) -> SourceFile:
    data = content.encode() if isinstance(content, str) else content
    return SourceFile(path, len(data), lambda: data)


def pdf_bytes(*pages: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def docx_bytes(build) -> bytes:
    document = docx.Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---- plain text, markdown and code


def test_text_file_is_one_section_starting_at_line_one_titled_by_file_name() -> None:
    doc = load(source("notes/meeting.txt", "Line one.\nLine two.\n"))
    assert (doc.doc_type, doc.language, doc.title) == ("text", None, "meeting.txt")
    assert doc.sections == (Section("Line one.\nLine two.\n", start_line=1),)


def test_markdown_is_titled_by_its_first_heading_outside_code_fences() -> None:
    doc = load(source("guide.md", "```sh\n# not a heading\n```\n\n## Setup guide ##\n\nInstall it."))
    assert (doc.doc_type, doc.title) == ("markdown", "Setup guide")


def test_markdown_title_keeps_a_hash_that_belongs_to_the_text() -> None:
    assert load(source("c.md", "# Learn C#\n\nBody.")).title == "Learn C#"


def test_code_file_carries_its_language() -> None:
    doc = load(source("src/app.ts", "export function f() {}\n"))
    assert (doc.doc_type, doc.language) == ("code", "typescript")
    assert doc.sections[0].start_line == 1


@pytest.mark.parametrize("content", [b"", b"   \n\t\n  "])
def test_empty_or_whitespace_only_file_is_reported_empty(content: bytes) -> None:
    with pytest.raises(IngestError, match=r"notes.txt is empty"):
        load(source("notes.txt", content))


def test_nul_bytes_under_a_text_extension_look_binary() -> None:
    with pytest.raises(IngestError, match=r"report.txt looks binary"):
        load(source("report.txt", b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(2000)))


def test_many_control_characters_under_a_code_extension_look_binary() -> None:
    with pytest.raises(IngestError, match=r"main.py looks binary"):
        load(source("main.py", bytes(range(1, 32)) * 50))


def test_coloured_log_with_escape_codes_is_still_text() -> None:
    log = "\x1b[32mINFO\x1b[0m started\n\x1b[31mERROR\x1b[0m failed\n" * 20
    assert "failed" in load(source("run.log", log)).text


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_legacy_single_byte_text_decodes_with_its_accents(encoding: str) -> None:
    text = "Le café crème est servi à la façade, naïve idée. Où est le garçon? Très bien, déjà vu.\n" * 5
    assert decode_text(text.encode(encoding), "menu.txt") == text


def test_cp1252_curly_quotes_decode() -> None:
    text = "“Smart quotes” and an en dash – in a résumé file written by Word on Windows.\n" * 5
    assert decode_text(text.encode("cp1252"), "resume.txt") == text


def test_cyrillic_legacy_text_is_not_mistaken_for_western_european() -> None:
    text = "Привет, это документ о политике возврата товаров. Срок возврата тридцать дней.\n" * 3
    assert decode_text(text.encode("cp1251"), "policy.txt") == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_byte_order_mark_selects_the_encoding_and_is_dropped(encoding: str) -> None:
    text = "Grüße aus Köln — 東京\n"
    assert decode_text(text.encode(encoding), "hello.txt") == text


def test_windows_and_old_mac_newlines_become_line_feeds() -> None:
    assert decode_text(b"a\r\nb\rc\n", "x.txt") == "a\nb\nc\n"


def test_oversized_file_is_refused_naming_the_limit_and_its_size_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    with path.open("wb") as f:
        f.truncate(200 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(IngestError, match=r"dump.txt is 200.0 MB, over the 50 MB limit"):
            load(file_source(path, IngestLimits()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MIB


def test_unsupported_file_type_is_reported() -> None:
    with pytest.raises(IngestError, match=r"photo.png is not a supported file type"):
        load(source("photo.png", b"\x89PNG"))


# ---- PDF


def test_pdf_has_one_section_per_page_with_its_page_number() -> None:
    doc = load(source("policy.pdf", pdf_bytes("Refunds take 30 days.", "Shipping is free.")))
    assert [(s.page, s.text) for s in doc.sections] == [(1, "Refunds take 30 days."), (2, "Shipping is free.")]
    assert (doc.doc_type, doc.title) == ("pdf", "policy.pdf")


def test_pdf_pages_without_text_are_left_out_but_numbering_is_kept() -> None:
    doc = load(source("a.pdf", pdf_bytes("First.", "", "Third.")))
    assert [s.page for s in doc.sections] == [1, 3]


@pytest.mark.parametrize("content", [b"%PDF-1.4\n" + os.urandom(3000), os.urandom(3000), pdf_bytes("Hello.")[:600]])
def test_corrupt_or_truncated_pdf_is_reported_as_unreadable(content: bytes) -> None:
    with pytest.raises(IngestError, match=r"broken.pdf is not a readable PDF \(corrupt or truncated"):
        load(source("broken.pdf", content))


def test_password_protected_pdf_is_reported_as_such() -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_bytes("Secret salaries."))))
    writer.encrypt("s3cret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(IngestError, match=r"salaries.pdf is password-protected"):
        load(source("salaries.pdf", buffer.getvalue()))


def test_pdf_restricted_only_by_an_owner_password_is_read() -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_bytes("Open to read."))))
    writer.encrypt(user_password="", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert load(source("open.pdf", buffer.getvalue())).text == "Open to read."


def test_scanned_pdf_without_text_asks_for_ocr() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 100, 150, style="F")
    with pytest.raises(IngestError, match=r"scan.pdf has no extractable text \(scanned\? OCR it first\)"):
        load(source("scan.pdf", bytes(pdf.output())))


# ---- Word


def test_docx_headings_become_markdown_lines_and_tables_become_rows() -> None:
    def build(d):
        d.add_heading("Travel policy", level=0)
        d.add_heading("Flights", level=1)
        d.add_paragraph("Economy class for flights under six hours.")
        table = d.add_table(rows=2, cols=2)
        for r, row in enumerate([("Grade", "Class"), ("Director", "Business")]):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        d.add_heading("Hotels", level=2)
        d.add_paragraph("")
        d.add_paragraph("Up to 150 EUR per night.")

    doc = load(source("travel.docx", docx_bytes(build)))
    assert doc.text == (
        "# Travel policy\n\n# Flights\n\nEconomy class for flights under six hours.\n\n"
        "Grade | Class\nDirector | Business\n\n## Hotels\n\nUp to 150 EUR per night."
    )
    assert (doc.doc_type, doc.title, doc.sections[0].start_line) == ("docx", "Travel policy", None)


def test_docx_title_comes_from_document_properties_first() -> None:
    def build(d):
        d.core_properties.title = "Official title"
        d.add_heading("Body heading", level=1)
        d.add_paragraph("Text.")

    assert load(source("x.docx", docx_bytes(build))).title == "Official title"


def test_file_that_is_not_a_zip_package_is_not_a_docx() -> None:
    with pytest.raises(IngestError, match=r"old.docx is not a .docx file .*save it as .docx"):
        load(source("old.docx", b"\xd0\xcf\x11\xe0" + os.urandom(1000)))


def test_zip_package_without_a_word_document_is_a_damaged_docx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not word")
    with pytest.raises(IngestError, match=r"fake.docx is a damaged Word document"):
        load(source("fake.docx", buffer.getvalue()))


def test_word_document_that_is_a_zip_bomb_is_refused_before_decompression() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b" " * (8 * MIB))
    with pytest.raises(IngestError, match=r"bomb.docx looks like a zip bomb"):
        load(source("bomb.docx", buffer.getvalue()))


# ---- HTML


def test_html_drops_scripts_and_styles_and_keeps_headings_as_markdown_lines() -> None:
    html = """<html><head><title> Help  centre </title><style>p {color: red}</style></head>
    <body><script>var secret = 1;</script><h1>Returns</h1><p>Send items back within <b>30&nbsp;days</b>.</p>
    <h2>Exceptions</h2><ul><li>Food</li><li>Gift cards</li></ul>
    <table><tr><th>Item</th><th>Window</th></tr><tr><td>Shoes</td><td>60 days</td></tr></table></body></html>"""
    doc = load(source("help.html", html))
    assert doc.title == "Help centre"
    assert doc.text == (
        "# Returns\n\nSend items back within 30 days.\n\n## Exceptions\n\nFood\n\nGift cards\n\n"
        "Item | Window\n\nShoes | 60 days"
    )


def test_html_without_title_is_titled_by_its_first_h1() -> None:
    assert load(source("a.htm", "<h2>Minor</h2><h1>Main topic</h1><p>x</p>")).title == "Main topic"


def test_html_with_only_markup_is_empty() -> None:
    with pytest.raises(IngestError, match=r"blank.html is empty"):
        load(source("blank.html", "<html><script>x()</script><div> </div></html>"))


# ---- JSON and CSV


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(IngestError, match=r"config.json is not valid JSON: .* at line 3, column 3"):
        load(source("config.json", '{\n  "a": 1,\n  oops\n}'))


def test_minified_json_is_pretty_printed_without_line_numbers() -> None:
    doc = load(source("data.json", '{"name":"Zoë","tags":["a","b"]}'))
    assert doc.sections == (Section(json.dumps({"name": "Zoë", "tags": ["a", "b"]}, indent=2, ensure_ascii=False)),)


def test_formatted_json_is_kept_verbatim_so_line_numbers_match_the_file() -> None:
    text = '{\n    "name": "x",\n    "port": 8080\n}\n'
    assert load(source("data.json", text)).sections == (Section(text, start_line=1),)


def test_csv_rows_are_rendered_with_column_names_and_source_lines() -> None:
    csv_text = "name,role,city\nAda,engineer,London\n\nGrace,admiral,\n"
    doc = load(source("staff.csv", csv_text))
    assert doc.sections == (
        Section("name: Ada; role: engineer; city: London", start_line=2),
        Section("name: Grace; role: admiral", start_line=4),
    )


def test_csv_cells_without_a_column_name_are_numbered() -> None:
    doc = load(source("t.csv", "id,,\n7,x,y\n"))
    assert doc.text == "id: 7; column 2: x; column 3: y"


def test_csv_record_spanning_lines_gets_its_own_block_and_following_lines_stay_exact() -> None:
    csv_text = 'id;note\n1;"first\nsecond"\n2;plain\n3;more\n'
    doc = load(source("notes.csv", csv_text))
    assert doc.sections == (
        Section("id: 1; note: first second", start_line=2),
        Section("id: 2; note: plain\nid: 3; note: more", start_line=4),
    )


def test_csv_with_only_a_header_is_empty() -> None:
    with pytest.raises(IngestError, match=r"cols.csv is empty \(a header row but no data rows\)"):
        load(source("cols.csv", "a,b,c\n"))


# ---- pasted text


def test_pasted_text_with_headings_is_markdown() -> None:
    doc = load_text("Onboarding", "# Day one\n\nMeet the team.")
    assert (doc.path, doc.title, doc.doc_type, doc.sections[0].start_line) == (
        "Onboarding", "Onboarding", "markdown", 1)


def test_pasted_text_without_headings_is_text() -> None:
    assert load_text("Rule", "#hashtag is not a heading.\r\nSecond line.").doc_type == "text"


def test_empty_pasted_text_is_reported() -> None:
    with pytest.raises(IngestError, match=r"Rule is empty"):
        load_text("Rule", " \n ")


SPHINX_PAGE = b"""<html><head><title>logging - Python docs</title></head><body>
<div class="related" role="navigation"><ul><li><a href="index.html">index</a></li><li>next</li></ul></div>
<nav class="sidebar"><p>Table of contents: Logging HOWTO, Basic tutorial</p></nav>
<div class="body"><h1>Logging HOWTO<a class="headerlink" href="#logging-howto" title="Permalink">\xc2\xb6</a></h1>
<h2>When to use logging<a class="headerlink" href="#when">\xc2\xb6</a></h2>
<p>Use <code>warning()</code> for events the user should know about.</p></div>
<div class="sphinxsidebar"><h3>Navigation</h3><p>Quick search</p></div></body></html>"""


def test_sphinx_headings_lose_their_permalink_marks_and_navigation_is_not_text():
    from lmspace_core.ingest.chunking import chunk_document

    loaded = load(source("logging.html", SPHINX_PAGE))
    text = loaded.sections[0].text
    assert "# Logging HOWTO\n" in text + "\n" and "## When to use logging" in text and "\u00b6" not in text
    assert "Quick search" not in text and "Table of contents" not in text and "index" not in text.split("\n")[0]
    [chunk] = chunk_document(loaded, 250, 40)
    assert chunk.location.heading == "Logging HOWTO > When to use logging"


DATA = Path(__file__).parent / "data" / "html"


def test_docbook_authors_stay_text_but_never_become_section_headings():
    from lmspace_core.ingest.chunking import chunk_document

    page = DATA / "users-and-groups.html"
    loaded = load(source(page.name, page.read_bytes()))
    chunks = chunk_document(loaded, 250, 40)
    headings = {chunk.location.heading for chunk in chunks}
    assert headings == {
        "Users and Groups in the Debian System", "Chapter 1. Introduction", "Chapter 2. Users and Groups"
    }
    title_page = next(chunk.text for chunk in chunks if chunk.location.heading == loaded.title)
    assert "Joey Hess" in title_page and "Copyright © 2001-2022 Colin Watson" in title_page
    assert "Table of Contents" not in loaded.sections[0].text  # DocBook's TOC is navigation


def test_address_and_byline_headings_are_paragraphs():
    page = b"""<html><body><h1>Release notes</h1><div class="byline"><h2>By Ana Lima</h2></div>
    <address><h4>Ana Lima, Lisbon</h4></address><h2>Upgrading</h2><p>Stop the service first.</p></body></html>"""
    text = load(source("notes.html", page)).sections[0].text
    assert text.split("\n\n") == [
        "# Release notes", "By Ana Lima", "Ana Lima, Lisbon", "## Upgrading", "Stop the service first."
    ]


def test_sphinx_toctree_of_links_is_dropped_but_a_single_page_build_keeps_its_text():
    links = b"""<html><body><h1>Guide</h1><div class="toctree-wrapper compound"><ul><li><a href="a.html">Install</a>
    </li><li><a href="b.html">Use</a></li></ul></div><p>Read the chapters in order.</p></body></html>"""
    single = b"""<html><body><h1>Guide</h1><div class="toctree-wrapper compound"><section><h2>1. Install</h2>
    <p>Run the installer.</p><div><p>Then reboot.</p></div></section></div></body></html>"""
    assert load(source("index.html", links)).sections[0].text == "# Guide\n\nRead the chapters in order."
    assert load(source("guide.html", single)).sections[0].text == (
        "# Guide\n\n## 1. Install\n\nRun the installer.\n\nThen reboot."
    )
