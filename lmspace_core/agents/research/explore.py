"""The explore strategy: `dspy.RLM` writes and runs Python over the codebase, inside the sandbox, until it SUBMITs.

The selected files enter the sandbox once, as the REPL variable `codebase` (`{path: text}`); the model looks at them
with code (regular expressions, `ast`, slicing) and asks sub-questions with `llm_query`, so no prompt ever holds the
tree. Everything the model writes runs in `lmspace_core.research.sandbox`: no host files, network or processes. The
findings it submits are unverified; the researcher re-reads each one at its location before anyone sees it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dspy
import pydantic
from dspy.primitives.code_interpreter import CodeInterpreter, CodeInterpreterError
from dspy.primitives.sandbox_serializable import SandboxSerializable
from dspy.utils.callback import BaseCallback

from lmspace_core.agents.research.subagents import request_tokens
from lmspace_core.domain import Finding, Progress, ProgressCallback, ignore_progress
from lmspace_core.errors import LMSpaceError
from lmspace_core.lm import model_call_failed
from lmspace_core.research.codebase import Codebase, CodeFile, read_or_none
from lmspace_core.research.sandbox import sandbox_factory as default_sandbox_factory

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class ExploreFindingDraft(pydantic.BaseModel):
    """A location the explorer reports; verified against the file before anyone sees it."""

    path: str = pydantic.Field(description="the file's key in `codebase`")
    line: int = pydantic.Field(description="first line, 1-based")
    end_line: int = pydantic.Field(description="last line, 1-based and inclusive (same as line for one line)")
    text: str = pydantic.Field(description="exactly those lines of the file, taken from `codebase` by code")
    note: str = pydantic.Field(description="why this location answers the question, in a few words")


class CodebaseFiles(SandboxSerializable):
    """The selected files as the sandbox variable `codebase`: sent once as JSON, previewed as paths and sizes."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def sandbox_setup(self) -> str:
        return "import json"

    def to_sandbox(self) -> bytes:
        return json.dumps(self.files).encode()

    def sandbox_assignment(self, var_name: str, data_expr: str) -> str:
        # The raw JSON text is dropped once parsed, so the tree is held once in the sandbox.
        return f"{var_name} = json.loads({data_expr})\ndel {data_expr}"

    def rlm_preview(self, max_chars: int = 500) -> str:
        total = sum(len(text) for text in self.files.values())
        lines = [f"dict of {len(self.files)} files ({total:,} characters), path -> full text:"]
        for path, text in self.files.items():
            entry = f"  {path!r}: {len(text.splitlines())} lines"
            if sum(len(line) + 1 for line in lines) + len(entry) > max_chars - 20:
                lines.append(f"  ... {len(self.files) - len(lines) + 1} more")
                break
            lines.append(entry)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.rlm_preview()


class ExploreCodebase(dspy.Signature):
    """Answer a research task about a codebase by writing Python that reads its files.

    `codebase` maps each file's path to its full text. Find the locations that answer the question with code
    (`re`, `ast` for Python, string methods), not from memory. Report each location as a finding: its path, first and
    last line (1-based, inclusive), the exact text of those lines sliced from `codebase` by code (never retyped), and
    a short note. Report nothing you did not find in `codebase`. Then summarise the answer, naming the files.
    """

    task: str = dspy.InputField(desc="the research task")
    question: str = dspy.InputField(desc="what to look for in the files")
    codebase: CodebaseFiles = dspy.InputField(desc="dict: path -> full text of every file selected for the task")
    findings: list[ExploreFindingDraft] = dspy.OutputField(desc="every location that answers the question")
    summary: str = dspy.OutputField(desc="the answer to the task in a few sentences, naming the files it relies on")


@dataclass(frozen=True)
class ExploreResult:
    """What an explore run produced; `findings` are unverified (the caller re-reads the files)."""

    findings: tuple[Finding, ...]
    summary: str
    lm_calls: int
    tokens: int  # as the model reported them, else estimated at 4 characters per token of prompt and reply
    iterations: int  # REPL steps the model took


class _CountCalls(BaseCallback):
    """Reports every model call (REPL steps and `llm_query` alike) as explore progress."""

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.calls = 0
        self.lock = threading.Lock()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        with self.lock:
            self.calls += 1
            calls = self.calls
        self.progress(Progress("explore", calls, None, message=f"model call {calls}"))


class ExploreExecutor:
    """Runs an explore plan with `dspy.RLM`; model-written code runs only in sandboxes made by `sandbox_factory`.

    Args:
        lm: the model that writes the code and answers `llm_query`.
        sandbox_factory: makes one fresh sandbox per run (default: Deno + Pyodide, `lmspace_core.research.sandbox`).
        max_iters: REPL steps before the model must answer from what it has seen.
        max_llm_calls: `llm_query` calls allowed per run.
        max_bytes: the most text the selected files may hold; explore keeps them all in the sandbox's memory.
    """

    def __init__(
        self,
        lm: dspy.BaseLM,
        sandbox_factory: Callable[[], CodeInterpreter] | None = None,
        *,
        max_iters: int = 12,
        max_llm_calls: int = 30,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.lm = lm
        self.sandbox_factory = sandbox_factory or default_sandbox_factory()
        self.max_bytes = max_bytes
        self.rlm = dspy.RLM(
            ExploreCodebase,
            max_iters=max_iters,
            max_llm_calls=max_llm_calls,
            interpreter_factory=self.sandbox_factory,
        )

    def run(
        self,
        task: str,
        question: str,
        codebase: Codebase,
        files: Sequence[CodeFile],
        progress: ProgressCallback = ignore_progress,
    ) -> ExploreResult:
        """Let the model explore `files` of `codebase` with code until it submits findings and a summary."""
        selected = self._read(codebase, files)
        own = self.lm.copy()
        counter = _CountCalls(progress)
        own.callbacks.append(counter)
        with dspy.context(lm=own):
            try:
                prediction = self.rlm(task=task, question=question, codebase=CodebaseFiles(selected))
            except CodeInterpreterError as error:
                raise LMSpaceError(f"The explore sandbox failed: {error}") from error
            except LMSpaceError:
                raise
            except Exception as error:
                raise model_call_failed(error, " during explore") from error
        findings = tuple(
            Finding(draft.path, draft.line, draft.end_line, draft.text, draft.note) for draft in prediction.findings
        )
        return ExploreResult(
            findings=findings,
            summary=prediction.summary.strip(),
            lm_calls=counter.calls,
            tokens=sum(request_tokens(entry) for entry in own.history),
            iterations=len(prediction.trajectory),
        )

    def _read(self, codebase: Codebase, files: Sequence[CodeFile]) -> dict[str, str]:
        size = sum(f.size for f in files)
        if size > self.max_bytes:
            raise LMSpaceError(
                f"Explore keeps the selected files in its sandbox and they hold {size:,} bytes (limit "
                f"{self.max_bytes:,}); narrow the plan's file globs, or use a map plan for the whole tree."
            )
        texts = {f.path: read_or_none(codebase, f.path) for f in files}
        return {path: text for path, text in texts.items() if text is not None}
