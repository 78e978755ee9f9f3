"""Recall@5 of the real pipeline (chunking + all-MiniLM-L6-v2 + exact search) on 50 questions over 12 documents."""

from __future__ import annotations

import json

from tests.conftest import DATA

RETRIEVAL = DATA / "retrieval"


def test_recall_at_5_is_at_least_0_9(workspace):
    space = workspace.create_space("acme-handbook")
    documents = sorted(p for p in RETRIEVAL.iterdir() if p.suffix in {".md", ".txt"})
    report = workspace.ingest(space, documents)
    assert not report.failed
    questions = json.loads((RETRIEVAL / "questions.json").read_text())
    misses = [
        q["question"]
        for q in questions
        if q["source"] not in {hit.document.source for hit in workspace.search(space, q["question"], k=5)}
    ]
    recall = 1 - len(misses) / len(questions)
    print(f"recall@5 = {recall:.2f} over {len(questions)} questions; misses: {misses}")
    assert recall >= 0.9, misses
