"""The built-in planner used without a language model: it recognises common task families from plain English.

Recognised families and phrasings (case-insensitive; `X` is a name such as `print`, `requests.get`, `ValueError`):
- TODO comments: any task mentioning "TODO", "FIXME", "HACK" or "XXX" ("list the TODOs", "find FIXME comments").
- print statements: "find print statements", "print calls", "where do we print".
- calls: "calls to X", "uses of X()", "where is X called", "who calls X", "invocations of X".
- raises: "functions that raise X", "where is X raised", "which methods throw X", "raise X".
- imports: "imports of X", "who imports X", "where is X imported", "files that import X".
- definitions: "where is class X defined", "definition of X", "where is X defined", "find class X".
A language may be named ("in Python files", "in the Go code") to restrict the files.
Anything else becomes a semantic search over the code chunks, reported as such.
"""

from __future__ import annotations

import re

from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy

_NAME = r"`?([A-Za-z_*][\w.*]*)`?(?:\(\))?"
_FAMILIES: tuple[tuple[PatternKind, tuple[str, ...]], ...] = (
    (PatternKind.TODO, (r"\b(?:todo|fixme|hack|xxx)s?\b",)),
    (PatternKind.CALL, (r"\bprint(?:\s+|-)?(?:statements?|calls?)\b", r"\bwhere (?:do|does|did) (?:we|it|they) print\b")),
    (PatternKind.RAISE, (
        rf"\b(?:raise|raises|raising|throw|throws|throwing)\s+(?:an?\s+)?{_NAME}",
        rf"\bwhere (?:is|are) {_NAME} (?:raised|thrown)",
    )),
    (PatternKind.IMPORT, (
        rf"\bimports? of (?:the )?(?:module )?{_NAME}",
        rf"\b(?:who|which files?|what) imports? {_NAME}",
        rf"\bfiles? (?:that|which) imports? {_NAME}",
        rf"\bwhere (?:is|are) {_NAME} imported",
        rf"\bimport(?:s|ing)? {_NAME}",
    )),
    (PatternKind.DEFINITION, (
        rf"\bwhere (?:is|are) (?:the )?(?:class |function |method |type |struct |interface )?{_NAME} defined",
        rf"\bdefinitions? of (?:the )?(?:class |function |method )?{_NAME}",
        rf"\bfind (?:the )?(?:class|function|method|struct|interface) {_NAME}",
    )),
    (PatternKind.CALL, (
        rf"\b(?:calls?|invocations?|usages?|uses) (?:to|of) {_NAME}",
        rf"\bwhere (?:is|are) {_NAME} called",
        rf"\bwho calls {_NAME}",
    )),
)
_LANGUAGES = {
    "python": "python", "javascript": "javascript", "typescript": "typescript", "java": "java", "go": "go",
    "golang": "go", "rust": "rust", "c#": "csharp", "csharp": "csharp", "ruby": "ruby", "shell": "shell",
    "bash": "shell", "sql": "sql", "c\\+\\+": "cpp", "kotlin": "kotlin", "php": "php",
}


def _languages(task: str) -> tuple[str, ...]:
    return tuple(sorted({
        language for word, language in _LANGUAGES.items()
        if re.search(rf"\bin (?:the |all )?{word}\b", task, re.IGNORECASE)
    }))


def plan_with_rules(task: str) -> ResearchPlan:
    """A plan for `task` from the built-in rules; a semantic search plan when no family matches."""
    files = FileSelection(languages=_languages(task))
    for kind, phrasings in _FAMILIES:
        for phrasing in phrasings:
            match = re.search(phrasing, task, re.IGNORECASE)
            if match is None:
                continue
            name = "print" if kind is PatternKind.CALL and match.lastindex is None else (
                match.group(1) if match.lastindex else None
            )
            pattern = PatternQuery(kind=kind, name=name)
            rationale = f"Recognised a '{kind.value}' task from the phrase \"{match.group(0)}\"; searched by code."
            return ResearchPlan(task, Strategy.PATTERN, files, pattern, rationale=rationale, planner="rules")
    rationale = ("No built-in task family matched and no language model is configured, so this is a semantic "
                 "search over the code: the top locations are reported as search results, not as answers.")
    return ResearchPlan(task, Strategy.SEARCH, files, question=task, rationale=rationale, planner="rules")
