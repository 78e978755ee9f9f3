"""A small set of fictional Acme Corp policies shipped with LMSpace, for a sample space created in one click."""

from __future__ import annotations

from importlib import resources

SAMPLE_SPACE = "acme-sample"
SAMPLE_DESCRIPTION = "Fictional Acme Corp policies shipped with LMSpace, to try questions and citations."
SAMPLE_INSTRUCTIONS = "Answer as Acme's policy assistant. Quote the rule and name the policy it comes from."


def sample_documents() -> list[tuple[str, bytes]]:
    """(file name, content) of every shipped sample document."""
    folder = resources.files(__name__)
    return sorted(
        (item.name, item.read_bytes()) for item in folder.iterdir() if item.name.endswith((".md", ".txt"))
    )
