"""Verification: a finding is returned only if its exact text is at its location in the file, re-read now.

Models misremember line numbers and sometimes invent code. A finding whose text sits elsewhere in the same file is
moved to where it really is (the text is what matters); one whose text is nowhere in the file is rejected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from lmspace_core.domain import Finding
from lmspace_core.research.codebase import Codebase, read_or_none


@dataclass(frozen=True)
class Verification:
    verified: tuple[Finding, ...]
    rejected: tuple[Finding, ...]  # each with a note saying why


def _stripped(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines]


def _locate(lines: list[str], wanted: list[str], hint: int) -> int | None:
    """The 1-based line where `wanted` starts as consecutive lines (indentation ignored): at `hint` if it is there,
    else its first occurrence; None when it is nowhere."""
    if not wanted or not any(wanted):
        return None
    size = len(wanted)
    if hint >= 1 and _stripped(lines[hint - 1 : hint - 1 + size]) == wanted:
        return hint
    for start in range(len(lines) - size + 1):
        if lines[start].strip() == wanted[0] and _stripped(lines[start : start + size]) == wanted:
            return start + 1
    return None


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
        wanted = _stripped(finding.text.strip("\n").splitlines())
        start = _locate(lines, wanted, finding.line)
        if start is None:
            rejected.append(replace(finding, note=f"rejected: this text is not in {finding.path}"))
            continue
        end = start + len(wanted) - 1
        text = "\n".join(lines[start - 1 : end])
        verified.append(replace(finding, line=start, end_line=end, text=text, verified=True))
    return Verification(tuple(verified), tuple(rejected))
