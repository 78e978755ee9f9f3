"""Verification: a finding is returned only if its exact text is at its location in the file, re-read now.

Models misremember line numbers and sometimes invent code. A finding whose text is at its stated line verifies. One
whose text is a few lines away (within `WINDOW`) is moved there, but only when that text occurs exactly once in the
window: a line like `}` or `return None` is everywhere, and moving it to the nearest copy would "verify" anything.
Everything else is rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from lmspace_core.domain import Finding
from lmspace_core.research.codebase import Codebase, read_or_none

WINDOW = 5  # lines either side of the stated line where a finding may be moved to


@dataclass(frozen=True)
class Verification:
    verified: tuple[Finding, ...]
    rejected: tuple[Finding, ...]  # each with a note saying why


def _stripped(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines]


def _at(lines: list[str], wanted: list[str], start: int) -> bool:
    return lines[start - 1].strip() == wanted[0] and _stripped(lines[start - 1 : start - 1 + len(wanted)]) == wanted


def _locate(lines: list[str], wanted: list[str], hint: int, path: str) -> int | str:
    """The 1-based line where `wanted` starts as consecutive lines (indentation ignored): `hint`, or the one place
    within `WINDOW` lines of it; otherwise why not, as a rejection note."""
    if not any(wanted):
        return "rejected: the finding has no text"
    last = len(lines) - len(wanted) + 1
    if 1 <= hint <= last and _at(lines, wanted, hint):
        return hint
    window = range(max(1, hint - WINDOW), min(last, hint + WINDOW) + 1)
    nearby = [start for start in window if _at(lines, wanted, start)]
    if len(nearby) == 1:
        return nearby[0]
    if nearby:
        return (f"rejected: not at line {hint}, and it occurs {len(nearby)} times within {WINDOW} lines of it "
                f"(lines {', '.join(map(str, nearby))}), so which one is meant cannot be told")
    elsewhere = [start for start in range(1, last + 1) if _at(lines, wanted, start)]
    if elsewhere:
        shown = ", ".join(map(str, elsewhere[:5])) + (" ..." if len(elsewhere) > 5 else "")
        return f"rejected: not at line {hint} nor within {WINDOW} lines of it (this text is at line {shown})"
    return f"rejected: this text is not in {path}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def verify_findings(findings: Iterable[Finding], codebase: Codebase) -> Verification:
    """Re-read each finding's file and keep only findings whose text is really there, with the file's own lines."""
    known = {f.path for f in codebase.files}
    files: dict[str, list[str] | None] = {}
    verified, rejected = [], []
    for finding in findings:
        if finding.path not in files:
            text = read_or_none(codebase, finding.path) if finding.path in known else None
            files[finding.path] = text.splitlines() if text is not None else None
        lines = files[finding.path]
        if lines is None:
            rejected.append(replace(finding, note=f"rejected: no readable file {finding.path}"))
            continue
        stated = finding.text.strip("\n").splitlines() or [""]
        wanted = _stripped(stated)
        start = _locate(lines, wanted, finding.line, finding.path)
        if isinstance(start, str):
            rejected.append(replace(finding, note=start))
            continue
        end = start + len(wanted) - 1
        text = "\n".join(lines[start - 1 : end])
        column = None if finding.column is None else finding.column + _indent(lines[start - 1]) - _indent(stated[0])
        verified.append(replace(finding, line=start, end_line=end, text=text, column=column, verified=True))
    return Verification(tuple(verified), tuple(rejected))
