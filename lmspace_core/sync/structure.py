"""Training examples from a document's own structure, for spaces without a language model.

Each pattern turns something the author already wrote as a question/answer pair into one: a markdown section
answers "what does section X say", a bold rule title answers "what is the rule on X", a function's signature is
answered by its docstring. Every answer is text of the passage itself, so it is grounded by construction.
"""

from __future__ import annotations

import re

from lmspace_core.domain import Chunk, ChunkDraft, Document
from lmspace_core.ingest.pipeline import embedding_text
from lmspace_core.sync.model import Example

_RULE = re.compile(r"^\s*(?:[-*]\s+)?\*\*(?P<title>[^*\n]{3,80}?)[:.]?\*\*[:.]?\s+(?P<body>\S.{15,})$", re.MULTILINE)
_PY_FUNCTION = re.compile(
    r"^\s*(?:async\s+)?def\s+(?P<name>\w+)\s*(?P<params>\([^)]*\))[^:]*:\s*\n"
    r"\s+(?P<quote>\"\"\"|''')(?P<doc>.+?)(?P=quote)",
    re.MULTILINE | re.DOTALL,
)
_HEADING_LINE = re.compile(r"^#{1,6}\s+.*$", re.MULTILINE)
# YAML front matter (Jekyll, MyST, Hugo) is page metadata: as an answer it would teach the model layout keys.
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n.*?\n---[ \t]*(?:\n|\Z)", re.DOTALL)
MIN_ANSWER_CHARS = 20


def passage_text(document: Document, chunk: Chunk) -> str:
    """The passage as the embedder sees it (title led), so local fine-tuning trains on what search compares."""
    return embedding_text(document.title, ChunkDraft(chunk.text, chunk.location))


def structure_examples(document: Document, chunk: Chunk) -> list[Example]:
    """Every question the chunk's structure answers; the section question when nothing more specific is found."""
    passage = passage_text(document, chunk)

    def example(question: str, answer: str, origin: str) -> Example:
        return Example(question, answer.strip(), passage, document.id, document.source, origin)

    found = [
        example(f"What does `{m['name']}{_squash(m['params'])}` in {document.source} do?", _squash(m["doc"]),
                "signature")
        for m in _PY_FUNCTION.finditer(chunk.text)
    ]
    found += [
        example(f"What is the rule on {m['title'].strip()} in {document.title}?", m["body"], "rule")
        for m in _RULE.finditer(chunk.text)
    ]
    if not found and document.doc_type != "code":
        body = _HEADING_LINE.sub("", _FRONT_MATTER.sub("", chunk.text)).strip()
        heading = chunk.location.heading
        if heading:
            section = heading.split(" > ")[-1]
            found.append(example(f"What does the section \"{section}\" of {document.title} say?", body, "heading"))
        elif body:
            found.append(example(f"What does {document.title} say ({chunk.location.describe() or 'start'})?", body,
                                 "passage"))
    return [e for e in found if len(e.answer) >= MIN_ANSWER_CHARS]


def _squash(text: str) -> str:
    return " ".join(text.split())
