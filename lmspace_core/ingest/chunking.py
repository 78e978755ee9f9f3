"""Text to chunks: passages small enough to embed well, cut where a reader would cut, each knowing where it sits.

Three strategies, picked by document type:
- prose (text, pdf, csv, json): paragraphs, then sentences for long paragraphs, packed up to a target size with
  some overlap; csv and json are packed line by line instead, since their lines are their records;
- headed documents (markdown, and Word/HTML whose headings the loader rendered as `#` lines): one heading's section
  at a time, packed like prose, every chunk starting with its heading line and carrying the heading path;
- code: whole top-level definitions (exact spans from `ast` for Python, a column-0 pattern for other languages),
  small neighbours merged, long ones cut into overlapping line windows; configuration and scripts by line windows.

Prose chunks are verbatim slices of their section (plus the heading line in front for headed documents), which is
what keeps their line numbers exact. The hard maximum is 1.5x the target: a sentence may overshoot the target but
never the maximum; anything that would (a huge line, a run of characters without spaces) is cut by lines, then
words, then characters.

Sizes are counted by a `TokenCounter`, the embedder's own tokenizer where LMSpace has it. Then the hard maximum is
also capped by the model's window, less the document title the pipeline puts in front of each chunk
(`embedding_title`). Cuts at whitespace keep the counts exact; when a run had to be cut inside a word (minified
code, long tokens), a last pass re-counts the document's chunks as they will be embedded and halves any that does not
fit (a word cut in two can tokenize longer than it did whole): no chunk has a tail the model never reads.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass, replace
from itertools import accumulate

from lmspace_core.domain import ChunkDraft, Location
from lmspace_core.ingest.loaders import LoadedDocument, Section
from lmspace_core.ingest.tokens import CHARS_PER_TOKEN, CharacterEstimate, TokenCounter, TokenSpans

_HARD_MAX_FACTOR = 1.5
_MAX_TITLE_CHARS = 64
_MIN_BODY_TOKENS = 32
_CONFIG_WINDOW_LINES = 50
_CONFIG_OVERLAP_LINES = 5
_DEFINITION_OVERLAP_LINES = 3

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+")
_LINE_BREAK = re.compile(r"\n")
_WHITESPACE = re.compile(r"\s+")
_HEADING_LINE = re.compile(r"^(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = ("```", "~~~")

_DEFINITION = re.compile(
    r"^(?:(?:export|default|public|private|protected|internal|static|abstract|final|sealed|partial|async|unsafe"
    r"|extern|inline|virtual|override|open|data|case|local|pub(?:\([^)]*\))?)\s+)*"
    r"(?:function\*?|class|interface|struct|enum|trait|impl|fn|func|def|module|namespace|type|record|object"
    r"|protocol|extension|sub|fun|const|let|var|union|typedef|template|macro_rules!)(?=[\s<({:]|$)"
    r"|^[\w.]+\s*(?:<-|=)\s*function\b"  # R
)
# C and C++ functions start at column 0 with a return type and have no `;` on their signature line.
_C_FUNCTION = re.compile(r"^(?!(?:return|else|if|for|while|switch|case|do)\b)[A-Za-z_][\w\s*&:<>,~]*\([^;]*$")
# Comments, decorators and attributes directly above a definition belong to it.
_LEADING_LINE = re.compile(r"^\s*(?://|/\*|\*|#|@|--|\[)")
_DEFINITION_LANGUAGES = frozenset(
    {"python", "javascript", "typescript", "java", "go", "rust", "c", "cpp", "csharp", "ruby", "kotlin", "swift",
     "php", "scala", "r", "lua", "perl"}
)
_HEADED_TYPES = frozenset({"markdown", "docx", "html"})
_LINE_RECORD_TYPES = frozenset({"csv", "json"})

_Span = tuple[int, int]


def estimate_tokens(text: str) -> int:
    """Roughly how many model tokens `text` is: one per 4 characters, rounded up (see `CharacterEstimate`)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def embedding_title(title: str) -> str:
    """The part of a document's title that is embedded in front of each of its chunks: a label, not a passage."""
    return title[:_MAX_TITLE_CHARS]


@dataclass(frozen=True)
class _Budget:
    """Token sizes for one section, and its tokens to measure slices of its text with."""

    target: int
    hard: int
    overlap: int
    tokens: TokenSpans

    def size(self, start: int, end: int) -> int:
        return self.tokens.count(start, end)


@dataclass(frozen=True)
class _Unit:
    """A span of a section's text that is never cut, and whether it starts a paragraph (a preferred cut)."""

    start: int
    end: int
    opens_paragraph: bool = False


def chunk_document(
    doc: LoadedDocument,
    target_tokens: int = 250,
    overlap_tokens: int = 40,
    counter: TokenCounter = CharacterEstimate(),
) -> list[ChunkDraft]:
    """Split a loaded document into chunks of about `target_tokens`, never more than 1.5x that, and never more than
    the `counter`'s window once the document's `embedding_title` is put in front."""
    if target_tokens < 1 or not 0 <= overlap_tokens < target_tokens:
        raise ValueError("target_tokens must be positive and overlap_tokens between 0 and target_tokens")
    hard = int(target_tokens * _HARD_MAX_FACTOR)
    prefix = f"{embedding_title(doc.title)}\n" if doc.title else ""
    if counter.window is not None:
        hard = min(hard, max(counter.window - counter.counts([prefix])[0], _MIN_BODY_TOKENS))
    target = min(target_tokens, hard)
    overlap = min(overlap_tokens, target - 1)
    chunks: list[ChunkDraft] = []
    section_tokens = counter.spans([section.text for section in doc.sections])
    for section, tokens in zip(doc.sections, section_tokens, strict=True):
        budget = _Budget(target, hard, overlap, tokens)
        if doc.doc_type == "code":
            chunks += _code_chunks(section, doc.language, budget)
        elif doc.doc_type in _HEADED_TYPES:
            chunks += _headed_chunks(section, budget)
        else:
            chunks += _prose_chunks(section, budget, by_lines=doc.doc_type in _LINE_RECORD_TYPES)
    if any(tokens.was_cut for tokens in section_tokens):
        return _within_window(chunks, prefix, counter)
    return chunks


def _within_window(chunks: list[ChunkDraft], prefix: str, counter: TokenCounter) -> list[ChunkDraft]:
    """Every chunk, re-counted as it will be embedded (title in front), halved until it fits the window."""
    if counter.window is None or not chunks:
        return chunks
    counts = counter.counts([prefix + chunk.text for chunk in chunks])
    fitted: list[ChunkDraft] = []
    for chunk, count in zip(chunks, counts, strict=True):
        if count <= counter.window or len(chunk.text) < 2:
            fitted.append(chunk)
        else:
            fitted += _within_window(_halves(chunk), prefix, counter)
    return fitted


def _halves(chunk: ChunkDraft) -> list[ChunkDraft]:
    """A chunk cut in two at the line break (else the space, else the character) nearest its middle; both halves
    keep its location, which still contains them."""
    text, middle = chunk.text, len(chunk.text) // 2
    cut = next((at for separator in ("\n", " ") if 0 < (at := _nearest(text, separator, middle)) < len(text)), middle)
    return [ChunkDraft(part, chunk.location) for part in (text[:cut].rstrip(), text[cut:].lstrip()) if part.strip()]


def _nearest(text: str, separator: str, middle: int) -> int:
    before, after = text.rfind(separator, 0, middle), text.find(separator, middle)
    candidates = [at for at in (before, after) if at > 0]
    return min(candidates, key=lambda at: abs(at - middle)) if candidates else -1


class _Lines:
    """Maps character offsets of a section's text to 1-based source lines (None when the source has no lines)."""

    def __init__(self, section: Section) -> None:
        self._first = section.start_line
        self._breaks = [m.start() for m in _LINE_BREAK.finditer(section.text)] if self._first else []

    def location(self, start: int, end: int, page: int | None, heading: str | None) -> Location:
        if self._first is None:
            return Location(page=page, heading=heading)
        first = self._first + bisect.bisect_left(self._breaks, start)
        last = self._first + bisect.bisect_left(self._breaks, end - 1)
        return Location(page=page, heading=heading, start_line=first, end_line=last)


def _split(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[_Span]:
    """The non-blank pieces of text[start:end] between separators, stripped of surrounding whitespace."""
    pieces, position = [], start
    for match in separator.finditer(text, start, end):
        pieces.append((position, match.start()))
        position = match.end()
    pieces.append((position, end))
    return [span for span in (_strip(text, *piece) for piece in pieces) if span]


def _strip(text: str, start: int, end: int) -> _Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _fit(text: str, start: int, end: int, budget: _Budget) -> list[_Span]:
    """Cut a span that exceeds the hard maximum: by lines, then into word windows, then into token windows."""
    if budget.size(start, end) <= budget.hard:
        return [(start, end)]
    lines = _split(text, start, end, _LINE_BREAK)
    if len(lines) > 1:
        return [piece for line in lines for piece in _fit(text, *line, budget)]
    words = _split(text, start, end, _WHITESPACE)
    if len(words) > 1:
        pieces = [_Unit(*piece) for word in words for piece in _fit(text, *word, budget)]
        return _pack(pieces, replace(budget, overlap=0))
    return _token_windows(start, end, budget)


def _token_windows(start: int, end: int, budget: _Budget) -> list[_Span]:
    """Consecutive windows of `target` tokens over a run with nowhere better to cut."""
    windows = []
    while start < end:
        stop = budget.tokens.cut(start, end, budget.target)
        windows.append((start, stop))
        start = stop
    return windows


def _units(text: str, start: int, end: int, budget: _Budget, by_lines: bool) -> list[_Unit]:
    units = []
    for paragraph in _split(text, start, end, _LINE_BREAK if by_lines else _PARAGRAPH_BREAK):
        pieces = [paragraph] if budget.size(*paragraph) <= budget.target else _split(text, *paragraph, _SENTENCE_BREAK)
        spans = [span for piece in pieces for span in _fit(text, *piece, budget)]
        units += [_Unit(s, e, opens_paragraph=index == 0) for index, (s, e) in enumerate(spans)]
    return units


def _pack(units: list[_Unit], budget: _Budget) -> list[_Span]:
    """Greedily pack consecutive units up to the target, preferring to end at a paragraph, with overlap.

    Each unit is at most the hard maximum, so a chunk is too. The overlap repeats the last units of a chunk at the
    start of the next (never its first unit, so packing always moves forward).
    """

    def size(first: int, last: int) -> int:
        return budget.size(units[first].start, units[last].end)

    spans: list[_Span] = []
    first = 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and size(first, last + 1) <= budget.target:
            last += 1
        if last + 1 < len(units):
            # End at the last paragraph end that still leaves the chunk at least half full.
            paragraph_ends = (m for m in range(last, first - 1, -1) if units[m + 1].opens_paragraph)
            last = next((m for m in paragraph_ends if size(first, m) >= budget.target // 2), last)
        spans.append((units[first].start, units[last].end))
        following = last + 1
        while (following - 1 > first and following < len(units) and size(following - 1, last) <= budget.overlap
               and size(following - 1, last + 1) <= budget.target):
            following -= 1
        first = following
    return spans


def _prose_chunks(section: Section, budget: _Budget, by_lines: bool) -> list[ChunkDraft]:
    text, lines = section.text, _Lines(section)
    units = _units(text, 0, len(text), budget, by_lines)
    return [ChunkDraft(text[s:e], lines.location(s, e, section.page, None)) for s, e in _pack(units, budget)]


@dataclass(frozen=True)
class _Heading:
    start: int
    end: int
    level: int
    title: str


def _headings(text: str) -> list[_Heading]:
    """Markdown ATX headings, ignoring `#` lines inside fenced code blocks (shell comments, for one)."""
    headings, offset, in_fence = [], 0, False
    for line in text.split("\n"):
        if line.lstrip().startswith(_FENCE):
            in_fence = not in_fence
        elif not in_fence and (match := _HEADING_LINE.match(line)):
            headings.append(_Heading(offset, offset + len(line), len(match.group(1)), match.group(2).strip()))
        offset += len(line) + 1
    return headings


def _headed_chunks(section: Section, budget: _Budget) -> list[ChunkDraft]:
    text, lines = section.text, _Lines(section)
    headings = _headings(text)
    chunks = []
    preamble_end = headings[0].start if headings else len(text)
    for s, e in _pack(_units(text, 0, preamble_end, budget, by_lines=False), budget):
        chunks.append(ChunkDraft(text[s:e], lines.location(s, e, section.page, None)))
    path: list[_Heading] = []
    for index, heading in enumerate(headings):
        path = [h for h in path if h.level < heading.level] + [heading]
        trail = " > ".join(h.title for h in path)
        end = headings[index + 1].start if index + 1 < len(headings) else len(text)
        for chunk_text, s, e in _heading_section(text, heading, end, budget):
            chunks.append(ChunkDraft(chunk_text, lines.location(s, e, section.page, trail)))
    return chunks


def _heading_section(text: str, heading: _Heading, end: int, budget: _Budget) -> list[tuple[str, int, int]]:
    """(chunk text, start, end) under one heading: the first is a slice from the heading line, the rest repeat it."""
    heading_line = text[heading.start:heading.end].strip()
    prefix_tokens = budget.size(heading.start, heading.end) + 1
    if prefix_tokens > budget.target // 2:
        # An absurdly long heading would crowd out the text; treat it as text.
        return [(text[s:e], s, e) for s, e in _pack(_units(text, heading.start, end, budget, False), budget)]
    body_budget = replace(budget, target=budget.target - prefix_tokens, hard=budget.hard - prefix_tokens)
    pieces = []
    for index, (s, e) in enumerate(_pack(_units(text, heading.end, end, body_budget, False), body_budget)):
        if index == 0 and budget.size(heading.start, e) <= budget.hard:
            pieces.append((text[heading.start:e], heading.start, e))
        else:
            pieces.append((f"{heading_line}\n{text[s:e]}", s, e))
    return pieces


class _SourceLines:
    """A code section's lines with their offsets in the section, to size any line range with its tokens."""

    def __init__(self, text: str, tokens: TokenSpans) -> None:
        self.lines = text.split("\n")
        self._text = text
        self._tokens = tokens
        self._starts = [0, *accumulate(len(line) + 1 for line in self.lines)]  # line n starts at _starts[n - 1]

    def __len__(self) -> int:
        return len(self.lines)

    def size(self, first: int, last: int) -> int:
        """Tokens in lines first..last (1-based, inclusive) joined by newlines."""
        return self._tokens.count(self._starts[first - 1], self._starts[last] - 1)

    def windows(self, number: int, budget: _Budget) -> list[str]:
        """Line `number` cut into windows of `target` tokens (minified code: one line over the hard maximum)."""
        start = self._starts[number - 1]
        spans = _token_windows(start, self._starts[number] - 1, budget)
        return [self._text[s:e] for s, e in spans]

    def text(self, first: int, last: int) -> str:
        return "\n".join(self.lines[first - 1:last])

    def blank(self, number: int) -> bool:
        return not self.lines[number - 1].strip()

    def trim(self, first: int, last: int) -> tuple[int, int] | None:
        """The range without blank lines at either end, or None when only blank lines are left."""
        while first <= last and self.blank(first):
            first += 1
        while last >= first and self.blank(last):
            last -= 1
        return (first, last) if first <= last else None


@dataclass(frozen=True)
class _Piece:
    first: int
    last: int
    text: str


def _code_chunks(section: Section, language: str | None, budget: _Budget) -> list[ChunkDraft]:
    source = _SourceLines(section.text, budget.tokens)
    if language in _DEFINITION_LANGUAGES:
        if language == "python":
            segments = _python_segments(source, section.text)
        else:
            segments = _pattern_segments(source, language)
        pieces = _merge_segments(source, segments, budget)
    else:
        pieces = _line_windows(source, 1, len(source), budget, _CONFIG_WINDOW_LINES, _CONFIG_OVERLAP_LINES)
    offset = (section.start_line or 1) - 1
    return [ChunkDraft(p.text, Location(start_line=p.first + offset, end_line=p.last + offset)) for p in pieces]


def _with_leading_lines(source: _SourceLines, first: int, floor: int) -> int:
    while first - 1 > floor and _LEADING_LINE.match(source.lines[first - 2]):
        first -= 1
    return first


def _python_segments(source: _SourceLines, text: str) -> list[tuple[int, int]]:
    """Top-level functions and classes (with decorators and comments above) and the module code between them."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return _pattern_segments(source, "python")
    segments, previous_end = [], 0
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.end_lineno:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            first = _with_leading_lines(source, first, previous_end)
            segments += [(previous_end + 1, first - 1), (first, node.end_lineno)]
            previous_end = node.end_lineno
    segments.append((previous_end + 1, len(source)))
    return [trimmed for s in segments if (trimmed := source.trim(*s))]


def _pattern_segments(source: _SourceLines, language: str) -> list[tuple[int, int]]:
    """Segments starting at each column-0 line that opens a definition, with its leading comments."""
    patterns = (_DEFINITION, _C_FUNCTION) if language in ("c", "cpp") else (_DEFINITION,)
    starts: list[int] = []
    for number, line in enumerate(source.lines, start=1):
        if any(p.match(line) for p in patterns):
            first = _with_leading_lines(source, number, starts[-1] if starts else 0)
            if first > 1:
                starts.append(first)
    bounds = [1, *starts, len(source) + 1]
    return [trimmed for s, e in zip(bounds, bounds[1:]) if (trimmed := source.trim(s, e - 1))]


def _merge_segments(source: _SourceLines, segments: list[tuple[int, int]], budget: _Budget) -> list[_Piece]:
    """Merge consecutive small segments up to the target; cut segments over the hard maximum into windows."""
    pieces: list[_Piece] = []
    index = 0
    while index < len(segments):
        first, last = segments[index]
        if source.size(first, last) > budget.hard:
            pieces += _line_windows(source, first, last, budget, None, _DEFINITION_OVERLAP_LINES)
            index += 1
            continue
        while index + 1 < len(segments) and _worth_merging(source, first, last, segments[index + 1][1], budget):
            index += 1
            last = segments[index][1]
        pieces.append(_Piece(first, last, source.text(first, last)))
        index += 1
    return pieces


def _worth_merging(source: _SourceLines, first: int, last: int, next_last: int, budget: _Budget) -> bool:
    """Merge the next segment up to the target, or up to the hard maximum when what we have is a tiny fragment."""
    merged = source.size(first, next_last)
    return merged <= budget.target or (source.size(first, last) < budget.target // 4 and merged <= budget.hard)


def _line_windows(
    source: _SourceLines, first: int, last: int, budget: _Budget, max_lines: int | None, overlap: int
) -> list[_Piece]:
    """Consecutive windows of whole lines up to the target (and `max_lines`), overlapping by a few lines.

    A single line over the hard maximum (minified code) becomes its own character windows: the only chunks whose
    text is part of a line rather than whole lines.
    """
    pieces: list[_Piece] = []
    start = first
    while (trimmed := source.trim(start, last)) is not None:
        start = trimmed[0]
        if source.size(start, start) > budget.hard:
            pieces += [_Piece(start, start, window) for window in source.windows(start, budget) if window.strip()]
            start += 1
            continue
        end = start
        while (end < last and (max_lines is None or end + 1 - start < max_lines)
               and source.size(start, end + 1) <= budget.target):
            end += 1
        window = source.trim(start, end) or (start, end)
        pieces.append(_Piece(*window, source.text(*window)))
        if end >= last:
            break
        back = min(overlap, (end - start + 1) // 3)
        while back and source.size(end + 1 - back, end + 1) > budget.target:
            back -= 1
        start = max(end + 1 - back, start + 1)
    return pieces
