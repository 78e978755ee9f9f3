"""The Research page: plan a task over a space's code or an uploaded zip, edit the plan, run it, read findings."""

from __future__ import annotations

import io
import zipfile

from streamlit.testing.v1 import AppTest

from tests.conftest import APP

CODE = {
    "app/main.py": 'def main():\n    print("hello")\n    return 0\n',
    "app/util.py": 'def shout(text):\n    print(\n        text.upper(),\n    )\n',
}


def open_research() -> AppTest:
    at = AppTest.from_file(APP).run()
    return at.switch_page("views/research.py").run(timeout=30)


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def plan_and_run(at: AppTest, app_workspace, task: str) -> AppTest:
    at.text_input[0].input(task).run(timeout=30)
    next(b for b in at.button if b.label == "Plan").click().run(timeout=60)
    assert '"strategy": "pattern"' in at.text_area[0].value
    next(b for b in at.button if b.label == "Run").click().run(timeout=60)
    [job] = app_workspace.job_store.list_jobs(app_workspace.enterprise_id, kind="research")
    app_workspace.jobs.wait(app_workspace.enterprise_id, job.id, timeout=60)
    return at.run(timeout=60)


def test_research_renders_on_an_empty_data_directory(app_workspace):
    at = open_research()
    assert not at.exception
    assert at.title[0].value == "Research"


def test_a_pattern_task_over_a_space_shows_verified_findings(app_workspace):
    space = app_workspace.create_space("code")
    app_workspace.ingest(space, CODE, as_codebase=True)
    at = plan_and_run(open_research(), app_workspace, "Find print statements")
    assert not at.exception
    frame = at.dataframe[0].value
    assert list(zip(frame["path"], frame["line"], strict=True)) == [("codebase/app/main.py", 2),
                                                                    ("codebase/app/util.py", 2)]
    assert any("2 findings in 2 of 2 files" in m.value for m in at.markdown)
    assert 'print("hello")' in at.code[0].value


def test_a_pattern_task_over_an_uploaded_zip_shows_findings(app_workspace):
    at = open_research()
    at.radio[0].set_value("Upload a .zip").run(timeout=30)
    at.file_uploader[0].set_value(("tool.zip", zipped(CODE), "application/zip")).run(timeout=30)
    at = plan_and_run(at, app_workspace, "Find print statements")
    assert not at.exception
    assert len(at.dataframe[0].value) == 2


def test_an_edited_plan_that_is_not_valid_shows_the_error(app_workspace):
    space = app_workspace.create_space("code")
    app_workspace.ingest(space, CODE, as_codebase=True)
    at = open_research()
    at.text_input[0].input("Find print statements").run(timeout=30)
    next(b for b in at.button if b.label == "Plan").click().run(timeout=60)
    at.text_area[0].input('{"task": "x", "strategy": "teleport"}').run(timeout=30)
    next(b for b in at.button if b.label == "Run").click().run(timeout=30)
    assert not at.exception
    assert any("invalid value" in e.value for e in at.error)
