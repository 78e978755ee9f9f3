"""Consistency checks for the retrieval evaluation set in tests/data/retrieval/."""

import json
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data" / "retrieval"
QUESTIONS_FILE = DATA_DIR / "questions.json"


def _normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))


def test_exactly_50_questions(questions):
    assert isinstance(questions, list)
    assert len(questions) == 50


def test_entries_have_expected_fields(questions):
    for entry in questions:
        assert set(entry) == {"question", "source", "evidence"}, entry
        for key in ("question", "source", "evidence"):
            assert isinstance(entry[key], str) and entry[key].strip(), entry


def test_questions_are_unique(questions):
    normalised = [_normalise(q["question"]).lower() for q in questions]
    assert len(set(normalised)) == len(normalised)


def test_every_source_exists(questions):
    for entry in questions:
        source = DATA_DIR / entry["source"]
        assert source.is_file(), f"missing source document: {entry['source']}"
        assert source.parent == DATA_DIR


def test_evidence_occurs_verbatim_in_source(questions):
    for entry in questions:
        text = _normalise((DATA_DIR / entry["source"]).read_text(encoding="utf-8"))
        evidence = _normalise(entry["evidence"])
        assert evidence in text, f"evidence not found in {entry['source']}: {evidence!r}"


def test_evidence_occurs_in_exactly_one_document(questions):
    docs = {
        p.name: _normalise(p.read_text(encoding="utf-8"))
        for p in DATA_DIR.iterdir()
        if p.suffix in {".md", ".txt"}
    }
    for entry in questions:
        evidence = _normalise(entry["evidence"])
        found_in = [name for name, text in docs.items() if evidence in text]
        assert found_in == [entry["source"]], (entry["question"], found_in)


def test_every_document_is_used(questions):
    docs = {p.name for p in DATA_DIR.iterdir() if p.suffix in {".md", ".txt"}}
    used = {entry["source"] for entry in questions}
    assert used == docs
