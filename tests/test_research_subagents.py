"""Map strategy: isolated-context subagents, files split to fit, recursive reduction, counted and bounded calls."""

from __future__ import annotations

import json
import math
import re
import threading
import time

import dspy
import pytest
from dspy.lm15 import Message, Response, TextPart, Usage
from dspy.utils import DummyLM

from lmspace_core.agents.research.subagents import CHARS_PER_TOKEN, MapExecutor
from lmspace_core.domain import Finding, Progress
from lmspace_core.errors import LMSpaceError, ModelError
from lmspace_core.research.codebase import Codebase

TASK = "Find print statements"
QUESTION = "Which lines print to standard output?"


class ScriptedEngine:
    """A model that answers by reading its prompt: a subagent reports every line with `print(` in its content, a
    reducer joins its partial results. It records every prompt and the most calls it ever served at once."""

    def __init__(self, summary: str = "prints found", combined: str = "combined", delay: float = 0.0,
                 failure: Exception | None = None, usage: int = 0) -> None:
        self.summary, self.combined, self.delay, self.failure, self.usage = summary, combined, delay, failure, usage
        self.prompts: list[str] = []
        self.active = self.peak = 0
        self._lock = threading.Lock()

    def complete(self, request) -> Response:
        prompt = "\n".join([str(request.system or ""), *(message.text or "" for message in request.messages)])
        with self._lock:
            self.prompts.append(prompt)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
            if self.failure is not None:
                raise self.failure
            return self._response(self._answer(prompt))
        finally:
            with self._lock:
                self.active -= 1

    def _answer(self, prompt: str) -> str:
        if "[[ ## partial_results ## ]]" in prompt:
            return reply(reasoning="Joined.", summary=self.combined)
        findings = [
            {"line": int(number), "end_line": int(number), "text": text, "note": "prints"}
            for number, text in re.findall(r"^(\d+): (.*)$", user_content(prompt), re.MULTILINE) if "print(" in text
        ]
        return reply(reasoning="Looked at each line.", findings=json.dumps(findings),
                     summary=self.summary if findings else "")

    def _response(self, text: str) -> Response:
        usage = Usage(input_tokens=self.usage, output_tokens=0, total_tokens=self.usage)
        return Response(id=None, model="scripted", message=Message.assistant([TextPart(text)]), finish_reason="stop",
                        usage=usage)

    @property
    def subagent_prompts(self) -> list[str]:
        return [prompt for prompt in self.prompts if "[[ ## numbered_content ## ]]" in prompt]

    @property
    def reducer_prompts(self) -> list[str]:
        return [prompt for prompt in self.prompts if "[[ ## partial_results ## ]]" in prompt]


def reply(**fields: str) -> str:
    return "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in fields.items()) + "[[ ## completed ## ]]"


def field_value(prompt: str, name: str) -> str:
    """An input field's value in a prompt's last message (the system message only describes the fields)."""
    return prompt.rsplit(f"[[ ## {name} ## ]]\n", 1)[1].split("\n\nRespond with")[0]


def user_content(prompt: str) -> str:
    return field_value(prompt, "numbered_content")


def partial_results(prompt: str) -> list[str]:
    return json.loads(field_value(prompt, "partial_results"))


def scripted_lm(engine: ScriptedEngine) -> dspy.LM:
    return dspy.LM("local/scripted", engine=engine, cache=False, num_retries=0)


def python_file(marker: str, prints: int = 1) -> str:
    return f"# {marker}\n" + "".join(f"print('{marker} {n}')\nx = {n}\n" for n in range(prints))


def run(engine: ScriptedEngine, files: dict[str, str], **options) -> tuple:
    codebase = Codebase.from_mapping(files)
    events: list[Progress] = []
    result = MapExecutor(scripted_lm(engine), **options).run(TASK, QUESTION, codebase, codebase.files, events.append)
    return result, events


def test_each_subagent_prompt_holds_only_its_own_file():
    files = {f"pkg/mod_{n}.py": python_file(f"MARKER_{n}_") for n in range(6)}
    engine = ScriptedEngine()
    run(engine, files)
    assert len(engine.subagent_prompts) == 6
    for prompt in engine.subagent_prompts:
        own = [n for n in range(6) if f"MARKER_{n}_" in prompt]
        assert len(own) == 1
        assert f"pkg/mod_{own[0]}.py" in prompt
        assert TASK in prompt and QUESTION in prompt


def test_subagent_findings_carry_the_files_true_locations():
    engine = ScriptedEngine()
    result, _ = run(engine, {"a.py": "x = 1\nprint('a')\n", "b.py": "y = 2\n"})
    assert result.findings == (Finding("a.py", 2, 2, "print('a')", "prints"),)
    assert result.units == 2


def test_a_file_larger_than_the_context_is_split_into_windows_with_true_line_numbers():
    lines = [f"print('line {n}')" for n in range(1, 301)]
    engine = ScriptedEngine()
    result, events = run(engine, {"big.py": "\n".join(lines)}, context_tokens=1000)
    # Subagents run in parallel: put their windows back in file order by the first line number.
    windows = sorted((user_content(prompt) for prompt in engine.subagent_prompts), key=lambda w: int(w.split(":")[0]))
    assert len(windows) > 1 and result.units == len(windows)
    numbered = [line for window in windows for line in window.splitlines()]
    assert numbered == [f"{n}: {line}" for n, line in enumerate(lines, start=1)]
    assert all(len(prompt) <= 1000 * CHARS_PER_TOKEN * 3 // 4 for prompt in engine.subagent_prompts)
    assert sorted(f.line for f in result.findings) == list(range(1, 301))
    assert all(f.text == lines[f.line - 1] for f in result.findings)
    map_events = [event for event in events if event.stage == "map"]
    assert [event.done for event in map_events] == list(range(1, len(windows) + 1))
    assert map_events[-1].total == len(windows)


def test_results_over_the_budget_are_reduced_in_levels_logarithmic_in_the_file_count():
    # Equal-sized partial results (labels of one length, reducer answers as long) make every batch hold `b` results.
    files = {f"f{n:02}.py": python_file(f"M{n}") for n in range(40)}
    engine = ScriptedEngine(summary="s" * 400, combined="c" * 408)
    result, events = run(engine, files, context_tokens=1000)
    per_batch = len(partial_results(engine.reducer_prompts[0]))
    assert 2 <= per_batch < 40
    assert result.reduce_depth == math.ceil(math.log(40) / math.log(per_batch) - 1e-9) > 1
    assert [e.done for e in events if e.stage == "reduce"] == list(range(1, result.reduce_depth + 1))
    assert result.summary == "c" * 408
    assert all(len(prompt) <= 1000 * CHARS_PER_TOKEN * 3 // 4 for prompt in engine.reducer_prompts)


def test_every_model_call_is_counted():
    files = {f"f{n:02}.py": python_file(f"M{n}") for n in range(40)}
    engine = ScriptedEngine(summary="s" * 400, combined="c" * 408, usage=7)
    result, _ = run(engine, files, context_tokens=1000)
    assert result.lm_calls == len(engine.prompts) == result.units + len(engine.reducer_prompts)
    assert result.tokens == 7 * result.lm_calls


def test_a_single_result_needs_no_reduction():
    engine = ScriptedEngine(summary="one print")
    result, _ = run(engine, {"a.py": python_file("A"), "b.py": "x = 1\n"})
    assert (result.summary, result.reduce_depth, engine.reducer_prompts) == ("a.py: one print", 0, [])


def test_a_partial_result_larger_than_the_budget_is_truncated_with_a_marker():
    engine = ScriptedEngine(summary="long " * 2000)
    run(engine, {"a.py": python_file("A"), "b.py": python_file("B")}, context_tokens=1000)
    [prompt] = engine.reducer_prompts
    partials = partial_results(prompt)
    assert all(partial.endswith("[truncated]") for partial in partials)
    assert len(prompt) <= 1000 * CHARS_PER_TOKEN * 3 // 4


def test_parallel_subagents_never_exceed_the_bound():
    engine = ScriptedEngine(delay=0.02)
    run(engine, {f"f{n}.py": python_file(f"M{n}") for n in range(24)}, parallelism=3)
    assert 1 < engine.peak <= 3


def test_a_failing_model_call_is_a_model_error():
    engine = ScriptedEngine(failure=RuntimeError("quota exceeded"))
    with pytest.raises(ModelError, match="quota exceeded"):
        run(engine, {"a.py": python_file("A")})


def test_an_unparsable_reply_is_a_counted_call_with_no_findings():
    lm = DummyLM({"numbered_content": {"reasoning": "?"}})  # no findings or summary fields: unparsable
    codebase = Codebase.from_mapping({"a.py": python_file("A")})
    result = MapExecutor(lm).run(TASK, QUESTION, codebase, codebase.files)
    assert (result.findings, result.summary, result.units) == ((), "", 1)
    assert result.lm_calls >= 1 and result.tokens > 0


def test_dummy_lm_replies_are_read_and_their_tokens_estimated():
    answer = {"reasoning": "r", "findings": [{"line": 2, "end_line": 2, "text": "print('A 0')", "note": "n"}],
              "summary": "prints once"}
    lm = DummyLM({"[[ ## numbered_content ## ]]": answer, "[[ ## partial_results ## ]]": {"reasoning": "r",
                                                                                          "summary": "both print"}})
    codebase = Codebase.from_mapping({"a.py": python_file("A"), "b.py": python_file("B")})
    result = MapExecutor(lm).run(TASK, QUESTION, codebase, codebase.files)
    assert [f.path for f in result.findings] == ["a.py", "b.py"]
    assert (result.summary, result.reduce_depth, result.lm_calls) == ("both print", 1, 3)
    assert result.tokens > 3 * 500  # every prompt carries a few hundred tokens of instructions


def test_a_context_too_small_for_any_code_is_refused():
    codebase = Codebase.from_mapping({"a.py": "x = 1\n"})
    with pytest.raises(LMSpaceError, match="use at least"):
        MapExecutor(scripted_lm(ScriptedEngine()), context_tokens=100).run(TASK, QUESTION, codebase, codebase.files)
