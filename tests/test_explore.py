"""Explore research: `dspy.RLM` scripted by DummyLM, its code run for real in the Deno + Pyodide sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from dspy.utils import DummyLM
from dspy.utils.callback import BaseCallback

from lmspace_core.agents.research.explore import ExploreExecutor
from lmspace_core.domain import Finding
from lmspace_core.errors import LMSpaceError, SandboxLimitError
from lmspace_core.research.codebase import Codebase
from lmspace_core.research.sandbox import SandboxLimits, sandbox_factory
from tests.conftest import skip_unless_installed
from tests.test_sandbox import pyodide_installed

TREE = {
    "app/main.py": "import sys\n\n\ndef main():\n    print('hello')\n    return 0\n",
    "app/util.py": "def double(x):\n    return 2 * x\n",
    "docs/notes.md": "# Notes\nNothing is printed here.\n",
}
FIND_PRINTS = """```python
hits = []
for path, text in sorted(codebase.items()):
    for number, line in enumerate(text.splitlines(), 1):
        if "print(" in line:
            hits.append({"path": path, "line": number, "end_line": number, "text": line, "note": "print call"})
print("files:", sorted(codebase))
print("hits:", hits)
```"""
ASK_SUBMODEL = """```python
verdict = llm_query("Is this a debugging print? " + hits[0]["text"])
print("verdict:", verdict)
```"""
SUBMIT_HITS = """```python
SUBMIT(findings=hits, summary=f"{len(hits)} print call in app/main.py")
```"""


class RecordPrompts(BaseCallback):
    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        messages = inputs.get("messages") or [{"content": inputs.get("prompt")}]
        self.prompts.append(str(messages[-1]["content"]))


def scripted(*answers: dict[str, str]) -> tuple[DummyLM, RecordPrompts]:
    lm = DummyLM(list(answers))
    recorder = RecordPrompts()
    lm.callbacks.append(recorder)
    return lm, recorder


def step(code: str) -> dict[str, str]:
    return {"reasoning": "next step", "code": code}


@pytest.fixture(scope="module")
def factory():
    skip_unless_installed(pyodide_installed(), "Pyodide", "npm ci")
    return sandbox_factory()


def test_explore_runs_model_code_over_the_codebase_and_returns_what_it_submits(factory):
    codebase = Codebase.from_mapping(TREE)
    # DummyLM answers in call order: step 2's code makes the third call (llm_query) before step 3 is asked for.
    lm, recorder = scripted(step(FIND_PRINTS), step(ASK_SUBMODEL), {"answer": "yes, a greeting"}, step(SUBMIT_HITS))
    progress = []

    result = ExploreExecutor(lm, factory).run(
        "Find print statements", "where is print called?", codebase, codebase.files, progress.append
    )

    assert result.findings == (Finding("app/main.py", 5, 5, "    print('hello')", "print call"),)
    assert result.summary == "1 print call in app/main.py"
    assert result.lm_calls == 4 and result.iterations == 3
    assert "hits: [{'path': 'app/main.py', 'line': 5" in recorder.prompts[1]
    assert "Is this a debugging print?     print('hello')" in recorder.prompts[2]
    assert "verdict:" in recorder.prompts[3] and "yes, a greeting" in recorder.prompts[3]
    assert [p.done for p in progress] == [1, 2, 3, 4]


def test_only_the_selected_files_enter_the_sandbox(factory):
    codebase = Codebase.from_mapping(TREE)
    selected = [f for f in codebase.files if f.path.endswith(".py")]
    lm, recorder = scripted(step(FIND_PRINTS), step(SUBMIT_HITS))

    ExploreExecutor(lm, factory).run("Find print statements", "print calls", codebase, selected)

    assert "files: ['app/main.py', 'app/util.py']" in recorder.prompts[1]
    assert "docs/notes.md" not in recorder.prompts[1]


def test_code_refused_by_the_sandbox_is_shown_to_the_model_as_an_error(factory, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not leak")
    codebase = Codebase.from_mapping(TREE)
    read_secret = f"```python\nprint(open({str(secret)!r}).read())\n```"
    give_up = '```python\nSUBMIT(findings=[], summary="nothing found")\n```'
    lm, recorder = scripted(step(read_secret), step(give_up))

    result = ExploreExecutor(lm, factory).run("Read the secret", "secret", codebase, codebase.files)

    assert "[Error]" in recorder.prompts[1] and "No such file or directory" in recorder.prompts[1]
    assert "do not leak" not in recorder.prompts[1]
    assert result.findings == () and result.summary == "nothing found"


def test_files_over_the_size_limit_are_refused_before_any_model_call(factory):
    codebase = Codebase.from_mapping(TREE)
    lm, recorder = scripted(step(FIND_PRINTS))

    with pytest.raises(LMSpaceError, match="narrow the plan's file globs"):
        ExploreExecutor(lm, factory, max_bytes=10).run("Find prints", "prints", codebase, codebase.files)
    assert recorder.prompts == []


def test_an_explore_plan_runs_end_to_end_and_its_answer_cites_only_verified_findings(factory, workspace):
    from lmspace_core.agents.knowledge import KnowledgeAgent
    from lmspace_core.research.plan import ResearchPlan, Strategy

    invent = FIND_PRINTS.replace("hits = []", 'hits = [{"path": "app/util.py", "line": 1, "end_line": 1, '
                                              '"text": "os.system(cmd)", "note": "made up"}]')
    lm, _ = scripted(step(invent), step(SUBMIT_HITS),
                     {"reasoning": "one call", "answer": "main prints a greeting [1].", "cited": [1]})
    workspace.use_lm(lm)
    plan = ResearchPlan("Find print statements", Strategy.EXPLORE, question="where is print called?")
    result = KnowledgeAgent(workspace).research("Find print statements", TREE, plan=plan)
    assert [(f.path, f.line, f.verified) for f in result.findings] == [("app/main.py", 5, True)]
    assert [f.text for f in result.rejected] == ["os.system(cmd)"]
    assert result.summary == "main prints a greeting [1]." and result.stats.lm_calls == 3


def test_too_much_output_is_shown_to_the_model_as_an_error_naming_the_setting(factory):
    codebase = Codebase.from_mapping(TREE)
    print_everything = "```python\nprint(codebase['app/main.py'] * 500_000)\n```"
    give_up = '```python\nSUBMIT(findings=[], summary="printed less")\n```'
    lm, recorder = scripted(step(print_everything), step(give_up))

    result = ExploreExecutor(lm, factory).run("Show everything", "all", codebase, codebase.files)

    assert "[Error]" in recorder.prompts[1] and "research.sandbox_output_mb" in recorder.prompts[1]
    assert len(recorder.prompts[1]) < 100_000
    assert result.summary == "printed less"


def test_a_limit_that_ends_the_sandbox_ends_the_run_with_its_message():
    skip_unless_installed(pyodide_installed(), "Pyodide", "npm ci")
    codebase = Codebase.from_mapping(TREE)
    lm, _ = scripted(step("```python\nwhile True:\n    pass\n```"))
    executor = ExploreExecutor(lm, sandbox_factory(limits=SandboxLimits(timeout_s=3)))

    with pytest.raises(SandboxLimitError, match="longer than 3 s"):
        executor.run("Spin", "spin", codebase, codebase.files)
