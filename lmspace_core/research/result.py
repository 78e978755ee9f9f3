"""What a research run returns: the plan it ran, verified findings, rejected ones, a summary and its costs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from lmspace_core.domain import Finding, offline_notice
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
    cached_at: datetime | None = None  # researched offline, in the local copy of the space made at this time

    @property
    def offline_notice(self) -> str:
        return offline_notice(self.cached_at)

    def __str__(self) -> str:
        """The result as a person reads it: the summary, then each verified finding at `path:line:column`."""
        lines = [self.summary, ""] if self.summary else []
        lines += [f"{f.location}  {f.text.strip().splitlines()[0] if f.text.strip() else ''}" for f in self.findings]
        if self.rejected:
            lines.append(f"({len(self.rejected)} unverifiable findings were dropped)")
        if self.cached_at is not None:
            lines.append(f"({self.offline_notice})")
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
            cached_at=datetime.fromisoformat(data["cached_at"]) if data.get("cached_at") else None,
        )

    def to_json_data(self) -> dict:
        """The CLI's `--json` shape: plan, findings (path, line, column, end_line, text, note), summary, stats and
        `cached_at`.

        `column` is null for findings about whole lines (search results, subagents' findings); `cached_at` is null
        unless the space was researched offline, in its local copy last current at that time (ISO 8601)."""
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
            "cached_at": self.cached_at.isoformat() if self.cached_at is not None else None,
        }
