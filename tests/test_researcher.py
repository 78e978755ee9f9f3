"""CodebaseResearcher end to end: plans, pattern runs, search fallback, map runs whose fabrications are dropped."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import dspy
import pytest
from dspy.lm15 import Message, Response, TextPart, Usage

from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.agents.research.researcher import CodebaseResearcher, start_research
from lmspace_core.errors import LMSpaceError, NotFoundError
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy
from lmspace_core.research.result import ResearchResult

TREE = {
    "app/main.py": 'import sys\n\n\ndef main():\n    print("hello")\n    # print("not me")\n    return 0\n',
    "app/util.py": 'def shout(text):\n    print(\n        text.upper(),\n    )\n',
    "README.md": "# App\n\nRun `print` to see output.\n",
}


class FabricatingEngine:
    """A model whose subagents report the real print line of a file plus one line of code that is not there."""

    def __init__(self) -> None:
        self.summary_prompts: list[str] = []

    def complete(self, request) -> Response:
        prompt = "\n".join(message.text or "" for message in request.messages)
        if "[[ ## subagent_notes ## ]]" in prompt:
            self.summary_prompts.append(prompt)
            text = ("[[ ## reasoning ## ]]\nOne print.\n\n[[ ## answer ## ]]\nmain prints hello [1].\n\n"
                    "[[ ## cited ## ]]\n[1]\n\n")
        else:
            findings = [{"line": 5, "end_line": 5, "text": '    print("hello")', "note": "greets"},
                        {"line": 6, "end_line": 6, "text": "    eval(user_input)", "note": "made up"}]
            text = (f"[[ ## reasoning ## ]]\nRead it.\n\n[[ ## findings ## ]]\n{json.dumps(findings)}\n\n"
                    "[[ ## summary ## ]]\nprints hello\n\n")
        return Response(id=None, model="fabricating", message=Message.assistant([TextPart(text + "[[ ## completed ## ]]")]),
                        finish_reason="stop", usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0))


def test_without_a_model_print_statements_are_found_exactly(workspace):
    result = KnowledgeAgent(workspace).research("Find print statements", TREE)
    assert result.plan.strategy is Strategy.PATTERN and result.plan.planner == "rules"
    assert [(f.path, f.line, f.end_line) for f in result.findings] == [("app/main.py", 5, 5), ("app/util.py", 2, 4)]
    assert all(f.verified for f in result.findings)
    assert result.stats.files == 3 and result.stats.lm_calls == 0


def test_a_codebase_ingested_into_a_space_can_be_researched(workspace, tmp_path: Path):
    archive = tmp_path / "shop.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path, content in TREE.items():
            zipped.writestr(path, content)
    space = workspace.create_space("code")
    workspace.ingest(space, archive, as_codebase=True)
    result = KnowledgeAgent(workspace).research("Find print statements", space="code")
    assert [(f.path, f.line) for f in result.findings] == [("shop/app/main.py", 5), ("shop/app/util.py", 2)]


def test_a_zipped_folder_names_its_files_alike_in_the_space_and_in_research(workspace, tmp_path: Path):
    archive = tmp_path / "requests.zip"  # what zipping the folder `requests/` makes: every entry under `requests/`
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("requests/__init__.py", "from .models import Request\n")
        zipped.writestr("requests/models.py", 'class Request:\n    def send(self):\n        print("sent")\n')
    space = workspace.create_space("lib")
    workspace.ingest(space, archive, as_codebase=True)
    researcher = KnowledgeAgent(workspace)

    in_space = {document.source for document in workspace.documents(space)}
    from_zip = researcher.research("Find print statements", archive).findings
    from_space = researcher.research("Find print statements", space="lib").findings

    assert in_space == {"requests/__init__.py", "requests/models.py"}
    assert [(f.path, f.line) for f in from_zip] == [(f.path, f.line) for f in from_space] == [("requests/models.py", 3)]


def test_a_folder_names_its_files_alike_in_the_space_and_in_research(workspace, tmp_path: Path):
    """Research on a copy of click said `utils.py:381`; the same folder ingested is `click/utils.py`."""
    folder = tmp_path / "click"
    (folder / "core").mkdir(parents=True)
    (folder / "__init__.py").write_text("from .core.main import run\n")
    (folder / "core" / "main.py").write_text('def run():\n    print("ran")\n')
    space = workspace.create_space("lib")
    workspace.ingest(space, folder)
    researcher = KnowledgeAgent(workspace)

    from_folder = researcher.research("Find print statements", folder).findings
    from_space = researcher.research("Find print statements", space="lib").findings

    assert [(f.path, f.line) for f in from_folder] == [(f.path, f.line) for f in from_space] == [
        ("click/core/main.py", 2)]


def test_a_bare_name_is_the_space_even_beside_a_folder_of_that_name_and_a_path_is_the_folder(workspace, tmp_path: Path,
                                                                                           monkeypatch):
    """`lmspace research docs "find prints"` in the LMSpace checkout searched its docs/ folder, not the space docs."""
    workspace.ingest(workspace.create_space("docs"), {"app.py": 'def run():\n    print("space")\n'}, as_codebase=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tool.py").write_text('print("folder")\n')
    monkeypatch.chdir(tmp_path)
    researcher = KnowledgeAgent(workspace)
    assert [f.text.strip() for f in researcher.research("Find print statements", "docs").findings] == [
        'print("space")']
    assert [f.text.strip() for f in researcher.research("Find print statements", "./docs").findings] == [
        'print("folder")']


@pytest.mark.parametrize(("files", "said"), [
    (FileSelection(include=("lib/**/*.{ts,tsx}",)), "matches the include globs ['lib/**/*.{ts,tsx}']"),
    (FileSelection(exclude=("app/**",), languages=("python",)), "none is in the languages ['python']"),
    (FileSelection(include=("app/*.py",), exclude=("**/*.py",)), "the exclude globs ['**/*.py'] remove all of them"),
])
def test_a_plan_that_selects_no_file_says_why(workspace, files, said):
    plan = ResearchPlan("Find print statements", Strategy.PATTERN, files, PatternQuery(PatternKind.CALL, "print"))
    result = KnowledgeAgent(workspace).research("Find print statements", TREE, plan=plan)
    assert result.findings == () and result.summary.startswith("Nothing was searched.") and said in result.summary


def test_a_space_without_code_says_so(workspace):
    workspace.ingest(workspace.create_space("prose"), {"notes.md": "# Notes\n\nNothing to run here at all."})
    with pytest.raises(NotFoundError, match="holds no code"):
        CodebaseResearcher(workspace).codebase("prose")


def test_an_unrecognised_task_without_a_model_is_a_labelled_search(workspace):
    result = KnowledgeAgent(workspace).research("how are greetings produced?", TREE)
    assert result.plan.strategy is Strategy.SEARCH
    assert result.findings and all("semantic search result" in f.note for f in result.findings)
    assert "not answers" in result.summary


def test_search_results_come_best_match_first_not_by_path(workspace):
    tree = {"a/zebra.py": "def stripes():\n    return 'black and white'\n",
            "b/invoice.py": "def invoice_total(lines):\n    return sum(line.amount for line in lines)\n",
            "c/weather.py": "def forecast():\n    return 'rain'\n"}
    result = KnowledgeAgent(workspace).research("where are invoice totals summed?", tree)
    assert result.plan.strategy is Strategy.SEARCH
    similarities = [float(f.note.split("similarity ")[1].split(")")[0]) for f in result.findings]
    assert similarities == sorted(similarities, reverse=True)
    assert result.findings[0].path == "b/invoice.py"


def test_a_map_run_drops_the_finding_a_subagent_made_up(workspace):
    engine = FabricatingEngine()
    workspace.use_lm(dspy.LM("local/fabricating", engine=engine))
    plan = ResearchPlan("Explain what prints", Strategy.MAP, question="Which lines print?")
    result = KnowledgeAgent(workspace).research("Explain what prints", {"app/main.py": TREE["app/main.py"]}, plan=plan)
    assert [(f.line, f.text) for f in result.findings] == [(5, '    print("hello")')]
    assert [f.text for f in result.rejected] == ["    eval(user_input)"]
    assert result.summary == "main prints hello [1]." and result.stats.lm_calls == 2
    [summary_prompt] = engine.summary_prompts
    verified_part = summary_prompt.split("[[ ## findings ## ]]")[-1]
    assert "app/main.py:5: print(" in verified_part and "eval(user_input)" not in verified_part


def test_a_map_plan_without_a_model_is_refused_with_the_way_out(workspace):
    plan = ResearchPlan("x", Strategy.MAP, question="what?")
    with pytest.raises(LMSpaceError, match="needs a language model"):
        KnowledgeAgent(workspace).research("x", TREE, plan=plan)


def test_two_calls_on_one_line_stay_two_verified_findings_through_a_stored_job_result(workspace):
    tree = {"app/check.py": "def ok(a, b):\n    return isinstance(a, int) and isinstance(b, str)\n"}
    result = KnowledgeAgent(workspace).research("calls to isinstance", tree)
    assert [(f.location, f.verified) for f in result.findings] == [("app/check.py:2:12", True),
                                                                 ("app/check.py:2:35", True)]
    assert ResearchResult.from_json_data(result.to_json_data()).findings == result.findings


def test_the_json_shape_of_a_result(workspace):
    data = KnowledgeAgent(workspace).research("Find print statements", TREE).to_json_data()
    assert set(data) == {"plan", "findings", "rejected", "summary", "stats", "cached_at"}
    assert data["cached_at"] is None  # set only when a space was researched offline, from the local cache
    assert set(data["findings"][0]) == {"path", "line", "column", "end_line", "text", "note"}
    assert set(data["stats"]) == {"files", "bytes", "lm_calls", "tokens", "seconds"}


def test_research_runs_as_a_job_over_an_uploaded_zip(workspace, tmp_path: Path):
    archive = tmp_path / "tool.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path, content in TREE.items():
            zipped.writestr(path, content)
    researcher = CodebaseResearcher(workspace)
    codebase, _ = researcher.codebase(archive)
    job = start_research(workspace, researcher.plan("Find print statements", codebase),
                         archive=("tool.zip", archive.read_bytes()))
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=60)
    result = ResearchResult.from_json_data(finished.result)
    # The archive has no single top folder, so its files are named as ingesting it would: under the zip's name.
    assert [(f.path, f.line) for f in result.findings] == [("tool/app/main.py", 5), ("tool/app/util.py", 2)]
    assert finished.space_id == "" and list((workspace.settings.data_dir / "uploads").iterdir()) == []
