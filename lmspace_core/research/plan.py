"""The research plan: an explicit, serialisable description of what a research run will do.

A plan is shown to the user before it runs and can be edited (as JSON) and run again, so every field is plain data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from lmspace_core.errors import LMSpaceError
from lmspace_core.research.regex import plan_regex


class Strategy(StrEnum):
    PATTERN = "pattern"  # a regex or syntax-tree query executed by code: exact, no model needed
    MAP = "map"  # one subagent question per file or chunk, results reduced recursively
    EXPLORE = "explore"  # dspy.RLM with the codebase as a variable, code run in a sandbox
    SEARCH = "search"  # semantic search over the code chunks; top locations reported as such


class PatternKind(StrEnum):
    CALL = "call"  # calls to a function or method named `name` (e.g. print, eval, requests.get)
    RAISE = "raise"  # functions that raise the exception named `name`
    IMPORT = "import"  # imports of the module named `name`
    TODO = "todo"  # TODO / FIXME / HACK / XXX comments
    DEFINITION = "definition"  # where the class or function named `name` is defined
    UNDOCUMENTED = "undocumented"  # Python functions (or, with `name` "class", classes) without a docstring
    REGEX = "regex"  # lines matching `regex` (outside strings and comments when `code_only`)


_NAMED = (PatternKind.CALL, PatternKind.RAISE, PatternKind.IMPORT, PatternKind.DEFINITION)


@dataclass(frozen=True)
class FileSelection:
    """Which files a plan looks at: glob patterns, languages, an optional content prefilter."""

    include: tuple[str, ...] = ("**/*",)
    exclude: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    contains: str | None = None  # a regex a file must match somewhere to be looked at


@dataclass(frozen=True)
class PatternQuery:
    kind: PatternKind
    name: str | None = None
    regex: str | None = None
    code_only: bool = True
    note: str | None = None  # what a regex finding is noted as (default: the regex it matches)


@dataclass(frozen=True)
class ResearchPlan:
    """What to look at, how, and why; `planner` says whether rules or a model wrote it."""

    task: str
    strategy: Strategy | str  # a built-in strategy, or the name of one a plugin registered
    files: FileSelection = field(default_factory=FileSelection)
    pattern: PatternQuery | None = None
    question: str | None = None  # for map/explore: what each subagent is asked about its file
    rationale: str = ""
    planner: str = "rules"

    def __post_init__(self) -> None:
        if self.strategy is Strategy.PATTERN and self.pattern is None:
            raise LMSpaceError("A pattern plan needs a `pattern` (kind and name or regex).")
        if self.strategy in (Strategy.MAP, Strategy.EXPLORE) and not self.question:
            raise LMSpaceError(f"A {self.strategy} plan needs a `question` for its subagents.")
        if self.pattern is not None:
            if self.pattern.kind is PatternKind.REGEX and not self.pattern.regex:
                raise LMSpaceError("A regex pattern needs `regex`.")
            if self.pattern.kind in _NAMED and not self.pattern.name:
                raise LMSpaceError(f"A {self.pattern.kind.value} pattern needs `name`.")
        for field_name, regex in (("pattern.regex", self.pattern and self.pattern.regex),
                                  ("files.contains", self.files.contains)):
            if regex:
                plan_regex(regex, field_name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ResearchPlan:
        """Parse a plan a user edited; any mistake is one error naming the field."""
        try:
            data: dict[str, Any] = json.loads(text)
            pattern = data.get("pattern")
            return cls(
                task=str(data["task"]),
                strategy=_strategy(str(data["strategy"])),
                files=FileSelection(**{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in data.get("files", {}).items()}),
                pattern=PatternQuery(**{**pattern, "kind": PatternKind(pattern["kind"])}) if pattern else None,
                question=data.get("question"),
                rationale=str(data.get("rationale", "")),
                planner=str(data.get("planner", "user")),
            )
        except json.JSONDecodeError as error:
            raise LMSpaceError(f"The plan is not valid JSON (line {error.lineno}, column {error.colno}).") from None
        except KeyError as error:
            raise LMSpaceError(f"The plan is missing the field {error}.") from None
        except (TypeError, ValueError) as error:
            raise LMSpaceError(f"The plan has an invalid value: {error}.") from None


def _strategy(name: str) -> Strategy | str:
    """A built-in strategy, or the name of a research strategy a plugin registered."""
    from lmspace_core.plugins import registry

    if name in Strategy.__members__.values():
        return Strategy(name)
    plugins = registry().names("research_strategy")
    if name not in plugins:
        known = ", ".join(sorted({*Strategy, *plugins}))
        raise LMSpaceError(f"The plan has an invalid value: strategy '{name}' is not known; known: {known} "
                           "(`lmspace plugins` lists what plugins add).")
    return name
