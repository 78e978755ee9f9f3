"""The map strategy: one subagent per file (or window of a file) in its own context, then a tree of reductions.

Each subagent's prompt holds only the task, the question and its one piece of code — never other files, never the
parent's history, never demos — so a codebase of any size is answered by calls that each fit the model's context.
Their summaries are combined in batches that fit, level by level, until one answer remains (the tree reduction of
Recursive Language Models): the number of levels grows with the logarithm of the number of files.

Sizes are counted in characters and converted at ~4 characters per token; a quarter of the context is left for the
reply. The fixed part of each prompt is measured by formatting it with DSPy's `ChatAdapter`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmspace_core.agents.signatures import CombineFindings, InspectFile
from lmspace_core.domain import Finding, Progress, ProgressCallback, ignore_progress
from lmspace_core.errors import LMSpaceError
from lmspace_core.lm import model_call_failed
from lmspace_core.research.codebase import Codebase, CodeFile, read_or_none

CHARS_PER_TOKEN = 4
TRUNCATED = " … [truncated]"
# Less room than this for the variable part of a prompt means the context is too small to research with.
MIN_ROOM_CHARS = 200

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class MapResult:
    """What a map run produced; `findings` are unverified (the caller re-reads the files)."""

    findings: tuple[Finding, ...]
    summary: str
    lm_calls: int
    tokens: int  # as the model reported them, else estimated at 4 characters per token of prompt and reply
    reduce_depth: int  # reduction levels; 0 when at most one unit had something to say
    units: int  # files or windows of files answered by a subagent


class SubAgent(dspy.Module):
    """Answers one question about one piece of one file, seeing nothing but its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.inspect = dspy.ChainOfThought(InspectFile)

    def forward(self, task: str, question: str, path: str, numbered_content: str) -> dspy.Prediction:
        return self.inspect(task=task, question=question, path=path, numbered_content=numbered_content)


@dataclass(frozen=True)
class _Unit:
    path: str
    label: str  # the path, with the line range when the file was split
    numbered_content: str


@dataclass(frozen=True)
class _Answer:
    """What a map run keeps of one unit (never its code, so the tree is not held in memory)."""

    findings: tuple[Finding, ...]
    summary: str  # prefixed with the unit's label; empty when the subagent found nothing relevant
    lm_calls: int
    tokens: int


@dataclass(frozen=True)
class CountedReply:
    prediction: dspy.Prediction | None  # None when the reply could not be parsed
    lm_calls: int
    tokens: int


class MapExecutor:
    """Runs a map plan: `parallelism` subagents at a time, each prompt within `context_tokens`."""

    def __init__(self, lm: dspy.BaseLM, context_tokens: int = 6000, parallelism: int = 4) -> None:
        self.lm = lm
        self.context_tokens = context_tokens
        self.parallelism = parallelism
        self.subagent = SubAgent()
        self.reducer = dspy.ChainOfThought(CombineFindings)

    def run(
        self,
        task: str,
        question: str,
        codebase: Codebase,
        files: Sequence[CodeFile],
        progress: ProgressCallback = ignore_progress,
    ) -> MapResult:
        """Ask `question` of every file in `files` (split where too long), then reduce the answers to one summary."""
        room = self._room(self.subagent.inspect.predict, task=task, question=question, path="", numbered_content="")
        units = _Units(codebase, files, room)

        def inspect(job: tuple[int, _Unit]) -> tuple[int, str, _Answer]:
            index, unit = job
            reply = counted_call(self.subagent, self.lm, task=task, question=question, path=unit.path,
                                 numbered_content=unit.numbered_content)
            return index, unit.path, _answer(unit, reply)

        answers: list[tuple[int, _Answer]] = []
        for index, path, answer in _bounded_map(inspect, enumerate(units), self.parallelism):
            answers.append((index, answer))
            progress(Progress("map", len(answers), units.total, item=path))
        answers.sort(key=lambda item: item[0])
        partials = [answer.summary for _, answer in answers if answer.summary]
        summary, depth, reduce_replies = self._reduce(task, partials, progress)
        return MapResult(
            findings=tuple(finding for _, answer in answers for finding in answer.findings),
            summary=summary,
            lm_calls=sum(answer.lm_calls for _, answer in answers) + sum(r.lm_calls for r in reduce_replies),
            tokens=sum(answer.tokens for _, answer in answers) + sum(r.tokens for r in reduce_replies),
            reduce_depth=depth,
            units=len(answers),
        )

    def _reduce(self, task: str, partials: list[str], progress: ProgressCallback) -> tuple[str, int, list[CountedReply]]:
        """Combine `partials` in batches that fit, level by level, until one remains: (summary, levels, calls)."""
        room = self._room(self.reducer.predict, task=task, partial_results=[])
        # Any two partial results must fit in one batch (inside the list's brackets), so each level shrinks the count.
        limit = (room - 2) // 2

        def combine(job: tuple[int, list[str]]) -> tuple[int, str, CountedReply | None]:
            index, batch = job
            return index, *self._combine(task, batch)

        replies: list[CountedReply] = []
        level = 0
        while len(partials) > 1:
            level += 1
            batches = _batches([_truncated(partial, limit) for partial in partials], room)
            progress(Progress("reduce", level, None,
                              message=f"level {level}: {len(partials)} partial results in {len(batches)} batches"))
            combined = sorted(_bounded_map(combine, enumerate(batches), self.parallelism), key=lambda item: item[0])
            replies.extend(reply for *_, reply in combined if reply is not None)
            partials = [summary for _, summary, _ in combined if summary]
        return (partials[0] if partials else ""), level, replies

    def _combine(self, task: str, batch: list[str]) -> tuple[str, CountedReply | None]:
        """One batch's combined summary; a lone partial result goes up a level as it is, without a model call."""
        if len(batch) == 1:
            return batch[0], None
        reply = counted_call(self.reducer, self.lm, task=task, partial_results=batch)
        # An unparsable combination keeps its inputs for the next level rather than losing them.
        summary = reply.prediction.summary.strip() if reply.prediction is not None else "\n".join(batch)
        return summary, reply

    def _room(self, predictor: dspy.Predict, **inputs: Any) -> int:
        """Characters left for a prompt's variable part once its fixed part and the reply's quarter are counted."""
        messages = dspy.ChatAdapter().format(predictor.signature, demos=[], inputs=inputs)
        fixed = sum(len(str(message["content"])) for message in messages)
        room = self.context_tokens * CHARS_PER_TOKEN * 3 // 4 - fixed
        if room < MIN_ROOM_CHARS:
            needed = -(-(fixed + MIN_ROOM_CHARS) * 4 // (3 * CHARS_PER_TOKEN))
            raise LMSpaceError(
                f"A context of {self.context_tokens} tokens leaves no room for code after the instructions; "
                f"use at least {needed} tokens."
            )
        return room


class _Units:
    """The units of a map run, reading each file only when the workers are ready for more of them."""

    def __init__(self, codebase: Codebase, files: Sequence[CodeFile], room: int) -> None:
        self.codebase = codebase
        self.files = files
        self.room = room
        self.produced = 0
        self.files_left = len(files)

    @property
    def total(self) -> int:
        """Units so far plus one per file not yet read: exact at the end, growing when a file is split."""
        return self.produced + self.files_left

    def __iter__(self) -> Iterator[_Unit]:
        for file in self.files:
            text = read_or_none(self.codebase, file.path)
            self.files_left -= 1
            for unit in _split(file.path, text or "", self.room - len(file.path)):
                self.produced += 1
                yield unit


def _split(path: str, text: str, room: int) -> list[_Unit]:
    """The file's numbered lines as one unit, or as windows of whole lines that each fit `room` characters."""
    windows: list[tuple[int, list[str]]] = []
    size = 0
    for number, line in enumerate(text.splitlines(), start=1):
        numbered = _truncated_line(f"{number}: {line}", room)
        if not windows or size + len(numbered) + 1 > room:
            windows.append((number, []))
            size = 0
        windows[-1][1].append(numbered)
        size += len(numbered) + 1
    if len(windows) == 1:
        return [_Unit(path, path, "\n".join(windows[0][1]))]
    return [_Unit(path, f"{path} (lines {first}-{first + len(lines) - 1})", "\n".join(lines))
            for first, lines in windows]


def _truncated_line(line: str, room: int) -> str:
    return line if len(line) < room else line[: room - len(TRUNCATED) - 1] + TRUNCATED


def _cost(partial: str) -> int:
    """Characters a partial result takes in the prompt: JSON-quoted in a list, with its separator."""
    return len(json.dumps(partial, ensure_ascii=False)) + 2


def _truncated(partial: str, limit: int) -> str:
    if _cost(partial) <= limit:
        return partial
    keep = limit - len(TRUNCATED) - 2
    while (excess := _cost(partial[:keep] + TRUNCATED) - limit) > 0:  # escaped characters take more than one
        keep = max(0, keep - excess)
    return partial[:keep] + TRUNCATED


def _batches(partials: list[str], room: int) -> list[list[str]]:
    """Consecutive partial results grouped greedily so each group's prompt cost fits `room`."""
    batches: list[list[str]] = []
    size = 0
    for partial in partials:
        if not batches or size + _cost(partial) > room:
            batches.append([])
            size = 2  # the list's brackets
        batches[-1].append(partial)
        size += _cost(partial)
    return batches


def _answer(unit: _Unit, reply: CountedReply) -> _Answer:
    if reply.prediction is None:
        return _Answer((), "", reply.lm_calls, reply.tokens)
    findings = tuple(Finding(unit.path, draft.line, max(draft.line, draft.end_line), draft.text, draft.note)
                     for draft in reply.prediction.findings)
    summary = reply.prediction.summary.strip()
    return _Answer(findings, f"{unit.label}: {summary}" if summary else "", reply.lm_calls, reply.tokens)


def counted_call(module: dspy.Module, lm: dspy.BaseLM, **inputs: Any) -> CountedReply:
    """One module call whose prompt holds only `inputs`, on a private copy of the LM.

    The copy's history holds exactly this call's requests, whatever the other threads do, so they can be counted.
    """
    own = lm.copy()
    with dspy.context(lm=own):
        try:
            prediction = module(**inputs)
        except AdapterParseError:
            prediction = None
        except Exception as error:
            raise model_call_failed(error) from error
    # With DSPy's history turned off, a call is still a call; its tokens are then unknown (0).
    return CountedReply(prediction, max(1, len(own.history)), sum(request_tokens(entry) for entry in own.history))


def request_tokens(entry: dict[str, Any]) -> int:
    """Tokens of one request: the provider's count when it reports one, else 4 characters per token."""
    reported = (entry.get("usage") or {}).get("total_tokens")
    if reported:
        return int(reported)
    prompt = sum(len(str(message.get("content", ""))) for message in entry.get("messages") or [])
    reply = sum(len(str(output)) for output in entry.get("outputs") or [])
    return -(-(prompt + reply) // CHARS_PER_TOKEN)


def _bounded_map(function: Callable[[T], R], items: Iterable[T], parallelism: int) -> Iterator[R]:
    """`function` over `items` in at most `parallelism` threads, results in completion order.

    Items are pulled lazily, at most two per thread ahead, so a huge codebase is never read into memory at once.
    On an error the items not yet started are cancelled.
    """
    pool = ThreadPoolExecutor(max_workers=parallelism)
    try:
        pending: set[Future[R]] = set()
        for item in items:
            pending.add(pool.submit(function, item))
            if len(pending) >= 2 * parallelism:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in finished)
        yield from (future.result() for future in as_completed(pending))
    finally:
        pool.shutdown(cancel_futures=True)
