"""What a research run returns: the plan it ran, verified findings, rejected ones, a summary and its costs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from lmspace_core.domain import Finding
from lmspace_core.research.plan import ResearchPlan


@dataclass(frozen=True)
class ResearchStats:
    files: int
    bytes: int
    lm_calls: int
    tokens: int
    seconds: float


@dataclass(frozen=True)
class ResearchResult:
    plan: ResearchPlan
    findings: tuple[Finding, ...]
    rejected: tuple[Finding, ...]
    summary: str
    stats: ResearchStats

    def __str__(self) -> str:
        """The result as a person reads it: the summary, then each verified finding at `path:line:column`."""
        lines = [self.summary, ""] if self.summary else []
        lines += [f"{f.location}  {f.text.strip().splitlines()[0] if f.text.strip() else ''}" for f in self.findings]
        if self.rejected:
            lines.append(f"({len(self.rejected)} unverifiable findings were dropped)")
        return "\n".join(lines)

    @classmethod
    def from_json_data(cls, data: dict) -> ResearchResult:
        """Rebuild a result stored as a job result (the `to_json_data` shape)."""
        return cls(
            plan=ResearchPlan.from_json(json.dumps(data["plan"])),
            findings=tuple(Finding(**f, verified=True) for f in data["findings"]),
            rejected=tuple(Finding(f["path"], f["line"], f["line"], f["text"], f["note"], column=f.get("column"))
                           for f in data["rejected"]),
            summary=data["summary"],
            stats=ResearchStats(**data["stats"]),
        )

    def to_json_data(self) -> dict:
        """The CLI's `--json` shape: plan, findings (path, line, column, end_line, text, note), summary, stats.

        `column` is null for findings about whole lines (search results, subagents' findings)."""
        return {
            "plan": asdict(self.plan),
            "findings": [
                {"path": f.path, "line": f.line, "column": f.column, "end_line": f.end_line, "text": f.text,
                 "note": f.note}
                for f in self.findings
            ],
            "rejected": [{"path": f.path, "line": f.line, "column": f.column, "text": f.text, "note": f.note}
                         for f in self.rejected],
            "summary": self.summary,
            "stats": asdict(self.stats),
        }
