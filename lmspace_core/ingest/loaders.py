"""Bytes to text, per file type, keeping where each piece of text came from (a PDF page, a source line).

Every way an input can be unusable (empty, binary, corrupt, encrypted, scanned, invalid) ends in an `IngestError`
whose message says what is wrong with which file and, where there is one, what to do about it. Headings found in
Word and HTML documents are rendered as markdown `#` lines so that the chunker can treat them like markdown.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from typing import TYPE_CHECKING

import charset_normalizer

from lmspace_core.errors import IngestError
from lmspace_core.ingest.sources import (
    GZIP_SUFFIX,
    DocumentLoader,
    IngestLimits,
    SourceFile,
    built_in_extensions,
    check_zip_sizes,
    doc_type_for,
    gunzipped,
    language_for,
    loader_for,
)
from lmspace_core.plugins import hookimpl

if TYPE_CHECKING:
    from docx.document import Document as WordDocument

_BINARY_SNIFF_BYTES = 8192
# Control characters other than whitespace and ESC (coloured logs are full of ESC) are rare in real text.
_MAX_CONTROL_SHARE = 0.10
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")
_CHAOS_TOLERANCE = 0.1
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True)
class Section:
    """A run of extracted text and where it starts in its source."""

    text: str
    page: int | None = None
    start_line: int | None = None


@dataclass(frozen=True)
class LoadedDocument:
    """A source turned into text: its type, its title and its sections in source order."""

    path: str
    doc_type: str
    language: str | None
    title: str
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 32 and byte not in _TEXT_CONTROLS)
    return controls > _MAX_CONTROL_SHARE * len(sample)


def decode_text(data: bytes, path: str) -> str:
    """Decode text: a byte-order mark wins, then UTF-8, then charset detection; newlines become `\\n`."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _normalise_newlines(data.decode(encoding).removeprefix("\ufeff"))
            except UnicodeDecodeError:
                raise IngestError(f"{path} starts with a {encoding} byte-order mark but is not {encoding}") from None
    if _looks_binary(data[:_BINARY_SNIFF_BYTES]):
        raise IngestError(f"{path} looks binary, not text; check that its extension matches its content")
    try:
        return _normalise_newlines(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise IngestError(f"{path} is not in any text encoding LMSpace recognises; save it as UTF-8 and try again")
    # On short samples the detector cannot tell the Latin code pages apart and may pick a Baltic or Central European
    # one for French or German text. Windows-1252 is by far the most common legacy encoding of what users upload, so
    # it wins whenever it reads the bytes about as cleanly as the detector's favourite.
    western = next((m for m in matches if m.encoding == "cp1252" and m.chaos <= best.chaos + _CHAOS_TOLERANCE), None)
    return _normalise_newlines(str(western or best))


def _file_name(path: str) -> str:
    return PurePosixPath(path).name


def _require_text(text: str, path: str) -> str:
    if not text.strip():
        raise IngestError(f"{path} is empty")
    return text


def _first_markdown_heading(text: str) -> str | None:
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and (match := _MARKDOWN_HEADING.match(line)):
            return match.group(1).strip()
    return None


def _load_plain(data: bytes, path: str, doc_type: str) -> LoadedDocument:
    text = _require_text(decode_text(data, path), path)
    title = (_first_markdown_heading(text) if doc_type == "markdown" else None) or _file_name(path)
    return LoadedDocument(path, doc_type, language_for(path), title, (Section(text, start_line=1),))


def _load_pdf(data: bytes, path: str) -> LoadedDocument:
    import pypdf  # imported on first use: it (and python-docx) would double the import time of the library

    # pypdf raises many exception types on malformed input (its own, ValueError, KeyError, struct errors...); all
    # of them mean the same thing to the user, so parsing and decryption catch broadly.
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
            raise IngestError(f"{path} is password-protected; remove the password (print to PDF) and upload it again")
        pages = list(reader.pages)
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(f"{path} is not a readable PDF (corrupt or truncated: {exc})") from None
    if not pages:
        raise IngestError(f"{path} is not a readable PDF (corrupt or truncated: it has no pages)")
    sections = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            raise IngestError(f"{path}: page {number} cannot be read ({exc}); the PDF may be damaged") from None
        text = _normalise_newlines(text).strip()
        if text:
            sections.append(Section(text, page=number))
    if not sections:
        raise IngestError(f"{path} has no extractable text (scanned? OCR it first)")
    return LoadedDocument(path, "pdf", None, _file_name(path), tuple(sections))


def _docx_blocks(document: WordDocument) -> Iterator[tuple[str, str | None]]:
    """(text, heading level marker or None) for each paragraph and table row, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            style = item.style.name if item.style is not None else ""
            level = _heading_level(style)
            yield item.text.strip(), ("#" * level if level else None)
        elif isinstance(item, Table):
            rows = (" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
            yield "\n".join(row for row in rows if row.strip(" |")), None


def _heading_level(style_name: str) -> int:
    if style_name == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style_name)
    return min(int(match.group(1)), 6) if match else 0


def _load_docx(data: bytes, path: str, limits: IngestLimits) -> LoadedDocument:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise IngestError(
            f"{path} is not a .docx file (it is not a ZIP package); if it is an old .doc, save it as .docx"
        )
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        # python-docx decompresses every part into memory: refuse a zip bomb dressed up as a Word document first.
        check_zip_sizes(package, path, limits, len(data))
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [(text, marker) for text, marker in _docx_blocks(document) if text]
    except Exception as exc:  # python-docx surfaces damaged packages as KeyError, ValueError, lxml errors...
        raise IngestError(f"{path} is a damaged Word document ({exc}); open and re-save it in Word") from None
    text = _require_text("\n\n".join(f"{m} {t}" if m else t for t, m in blocks), path)
    headings = (t for t, m in blocks if m)
    title = document.core_properties.title.strip() or next(headings, None) or _file_name(path)
    return LoadedDocument(path, "docx", None, title, (Section(text),))


class _HtmlText(HTMLParser):
    """Collects visible text as blocks, headings as markdown `#` lines, and the <title>."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})
    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "table", "ul", "ol", "section", "article", "header", "footer", "nav",
         "aside", "main", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption", "form", "hr", "address"}
    )
    _HEADINGS = {f"h{n}": n for n in range(1, 7)}
    # Page furniture that is not the document: navigation, sidebars, tables of contents (DocBook's "toc", Texinfo's
    # "nav-panel") and Sphinx's "¶" permalinks after headings.
    _FURNITURE_CLASSES = frozenset(
        {"headerlink", "sphinxsidebar", "related", "navigation", "toc", "nav-panel"}
    )
    # A Sphinx toctree is a list of links on most pages, but holds the whole text in a single-page build: it is
    # dropped only when it closes without a heading in it.
    _LINK_LIST_CLASSES = frozenset({"toctree-wrapper"})
    # Who wrote the document, not a section of it: DocBook puts each author in an <h3 class="author"> of its title
    # page, which made a person's name the heading of the chapters that followed. Their text stays as a paragraph.
    _BYLINE_CLASSES = frozenset(
        {"author", "authorgroup", "byline", "editor", "othercredit", "corpauthor", "collab", "affiliation"}
    )
    _PERMALINK_MARKS = "¶#🔗"

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.title = ""
        self.first_h1 = ""
        self._hidden_depth = 0
        self._in_title = False
        self._heading_level = 0
        self._buffer: list[str] = []
        self._furniture: tuple[str, int] | None = None  # the tag that opened skipped furniture, and its nesting
        self._byline: tuple[str, int] | None = None  # the same for a byline, inside which headings are paragraphs
        self._link_lists: list[tuple[str, int, int]] = []  # open toctrees: tag, nesting, index of their first block

    @staticmethod
    def _classes(attrs: list[tuple[str, str | None]]) -> set[str]:
        return set((dict(attrs).get("class") or "").lower().split())

    def _is_furniture(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        role = dict(attrs).get("role")
        return tag == "nav" or role == "navigation" or bool(self._classes(attrs) & self._FURNITURE_CLASSES)

    @staticmethod
    def _nested(region: tuple[str, int] | None, tag: str, change: int) -> tuple[str, int] | None:
        """`region` (opening tag, nesting) after a start (`change` 1) or end (-1) tag; None once it is closed."""
        if region is None or tag != region[0]:
            return region
        depth = region[1] + change
        return (tag, depth) if depth else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._furniture is not None:
            self._furniture = self._nested(self._furniture, tag, 1)
            return
        if self._is_furniture(tag, attrs):
            self._furniture = (tag, 1)
            return
        self._byline = self._nested(self._byline, tag, 1)
        if self._byline is None and (tag == "address" or self._classes(attrs) & self._BYLINE_CLASSES):
            self._byline = (tag, 1)
        self._link_lists = [(opened, depth + (tag == opened), first) for opened, depth, first in self._link_lists]
        if self._classes(attrs) & self._LINK_LIST_CLASSES:
            self._flush()
            self._link_lists.append((tag, 1, len(self.blocks)))
        if tag == "title" and not self._hidden_depth:
            self._in_title = True
        elif tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._HEADINGS:
            self._flush()
            self._heading_level = 0 if self._byline else self._HEADINGS[tag]
        elif tag in self._BLOCKS:
            self._flush()
        elif tag in ("td", "th") and self._buffer:
            self._buffer.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if self._furniture is not None:
            self._furniture = self._nested(self._furniture, tag, -1)
            return
        if tag == "title":
            self._in_title = False
        elif tag in self._HIDDEN:
            self._hidden_depth = max(self._hidden_depth - 1, 0)
        elif tag in self._HEADINGS or tag in self._BLOCKS:
            self._flush()
        self._byline = self._nested(self._byline, tag, -1)
        self._close_link_list(tag)

    def _close_link_list(self, tag: str) -> None:
        if not self._link_lists or self._link_lists[-1][0] != tag:
            return
        opened, depth, first = self._link_lists.pop()
        if depth > 1:
            self._link_lists.append((opened, depth - 1, first))
            return
        self._flush()
        if not any(block.startswith("#") for block in self.blocks[first:]):
            del self.blocks[first:]

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden_depth and self._furniture is None:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        if self._heading_level:
            text = text.rstrip(self._PERMALINK_MARKS + " ")
        if text and self._heading_level:
            self.blocks.append(f"{'#' * self._heading_level} {text}")
            if self._heading_level == 1 and not self.first_h1:
                self.first_h1 = text
        elif text:
            self.blocks.append(text)
        self._heading_level = 0


def _load_html(data: bytes, path: str) -> LoadedDocument:
    parser = _HtmlText()
    parser.feed(decode_text(data, path))
    parser.close()
    if not parser.blocks:
        raise IngestError(f"{path} is empty (no visible text)")
    title = " ".join(parser.title.split()) or parser.first_h1 or _file_name(path)
    return LoadedDocument(path, "html", None, title, (Section("\n\n".join(parser.blocks)),))


def _load_json(data: bytes, path: str) -> LoadedDocument:
    text = _require_text(decode_text(data, path), path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise IngestError(f"{path} is nested too deeply to read as JSON") from None
    if "\n" in text.strip():
        # Already laid out by a person or a tool: keep it verbatim so that cited line numbers match the file.
        section = Section(text, start_line=1)
    else:
        # Minified: pretty-print so that it splits into readable chunks; lines no longer match the file.
        section = Section(json.dumps(value, indent=2, ensure_ascii=False))
    return LoadedDocument(path, "json", None, _file_name(path), (section,))


def _csv_rows(text: str, path: str) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, cells) of each non-blank record; a quoted field may span several lines."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    previous_end = 0
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield previous_end + 1, reader.line_num, cells
            previous_end = reader.line_num
    except csv.Error as exc:
        raise IngestError(f"{path} is not a readable CSV: {exc} (line {reader.line_num})") from None


def _render_row(header: list[str], cells: list[str]) -> str:
    names = [name.strip() or f"column {n}" for n, name in enumerate(header, start=1)]
    names += [f"column {n}" for n in range(len(names) + 1, len(cells) + 1)]
    pairs = (f"{name}: {' '.join(value.split())}" for name, value in zip(names, cells) if value.strip())
    return "; ".join(pairs)


def _load_csv(data: bytes, path: str) -> LoadedDocument:
    rows = _csv_rows(_require_text(decode_text(data, path), path), path)
    first = next(rows, None)
    header = first[2] if first else []
    sections: list[Section] = []
    block: list[str] = []
    block_start = block_end = 0
    for start, end, cells in rows:
        # A block keeps one rendered row per source line, so that chunk line numbers stay exact: a record that spans
        # lines stands alone, and a gap (blank lines) starts a new block.
        one_line_per_row = block_end - block_start + 1 == len(block)
        if block and not (one_line_per_row and start == end == block_end + 1):
            sections.append(Section("\n".join(block), start_line=block_start))
            block = []
        if not block:
            block_start = start
        block.append(_render_row(header, cells))
        block_end = end
    if block:
        sections.append(Section("\n".join(block), start_line=block_start))
    if not sections:
        raise IngestError(f"{path} is empty (a header row but no data rows)")
    return LoadedDocument(path, "csv", None, _file_name(path), tuple(sections))


def load(source: SourceFile, limits: IngestLimits = IngestLimits()) -> LoadedDocument:
    """Read a source and extract its text with the loader registered for its extension, raising `IngestError`
    with an actionable message when it cannot.

    `limits` bound what a zip-based format (.docx) may expand to.
    """
    loader = loader_for(source.path)
    data = source.read()
    if source.path.lower().endswith(GZIP_SUFFIX):
        data = gunzipped(data, source.path, limits.max_file_bytes)
    if not data.strip():
        raise IngestError(f"{source.path} is empty")
    return loader(data, source.path, limits)


def _plain(doc_type: str) -> DocumentLoader:
    return lambda data, path, limits: _load_plain(data, path, doc_type)


def _without_limits(loader: Callable[[bytes, str], LoadedDocument]) -> DocumentLoader:
    return lambda data, path, limits: loader(data, path)


_BUILT_IN_LOADERS: dict[str, DocumentLoader] = {
    "pdf": _without_limits(_load_pdf),
    "docx": _load_docx,
    "html": _without_limits(_load_html),
    "json": _without_limits(_load_json),
    "csv": _without_limits(_load_csv),
}


@hookimpl
def register_loaders(register) -> None:
    """The built-in file types: documents by their own loaders, code and plain text as text."""
    for extension in built_in_extensions():
        doc_type = doc_type_for(f"file{extension}")
        register(extension, _BUILT_IN_LOADERS.get(doc_type) or _plain(doc_type))


def load_text(title: str, text: str) -> LoadedDocument:
    """Pasted text: markdown when it has `#` headings, plain text otherwise."""
    text = _require_text(_normalise_newlines(text), title)
    doc_type = "markdown" if _first_markdown_heading(text) else "text"
    return LoadedDocument(title, doc_type, None, title, (Section(text, start_line=1),))
