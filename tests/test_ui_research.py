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
    at = AppTest.from_file(APP, default_timeout=30).run()
    return at.switch_page("pages/research.py").run(timeout=30)


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
    assert at.code[0].value == '1 │ def main():\n2 ▶     print("hello")\n3 │     return 0', "real lines, in context"


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


def test_a_finding_of_an_unknown_file_keeps_its_real_line_numbers():
    from lmspace_core.domain import Finding
    from lmspace_ui.research_view import excerpt, snippet

    finding = Finding("gone.py", 41, 42, '    """\n    Totals the invoice."""')
    assert excerpt(finding.text.splitlines(), finding) == '41 ▶     """\n42 ▶     Totals the invoice."""'
    assert snippet(finding.text) == 'Totals the invoice."""'
    lines = [f"line {n}" for n in range(1, 101)]
    shown = excerpt(lines, Finding("f.py", 50, 50, "line 50"), context=2).splitlines()
    assert shown == ["48 │ line 48", "49 │ line 49", "50 ▶ line 50", "51 │ line 51", "52 │ line 52"]


def test_older_research_jobs_are_folded_away(app_workspace):
    space = app_workspace.create_space("code")
    app_workspace.ingest(space, CODE, as_codebase=True)
    at = plan_and_run(open_research(), app_workspace, "Find print statements")
    next(b for b in at.button if b.label == "Run").click().run(timeout=60)
    for job in app_workspace.job_store.list_jobs(app_workspace.enterprise_id, kind="research"):
        app_workspace.jobs.wait(app_workspace.enterprise_id, job.id, timeout=60)
    at.run(timeout=60)
    assert not at.exception
    assert len(at.dataframe) == 2, "both results are drawn"
    [older] = at.expander
    assert "succeeded" in older.label and older.dataframe, "the older job is folded into an expander"


def test_the_zip_upload_limit_is_the_configured_zip_limit(app_workspace):
    at = open_research()
    at.radio[0].set_value("Upload a .zip").run(timeout=30)
    assert at.file_uploader[0].proto.max_upload_size_mb == app_workspace.settings.ingest.max_zip_total_mb


def test_a_zipped_folder_has_the_same_file_names_on_upload_and_in_research(app_workspace):
    archive = zipped({"requests/__init__.py": "from .models import Request\n",
                      "requests/models.py": 'class Request:\n    def send(self):\n        print("sent")\n'})
    app_workspace.create_space("lib")
    at = AppTest.from_file(APP, default_timeout=30).run()
    at = at.switch_page("pages/upload.py").run()
    at.file_uploader[0].set_value(("requests.zip", archive, "application/zip"))
    next(button for button in at.button if button.label == "Ingest").click().run()
    [job] = app_workspace.job_store.list_jobs(app_workspace.enterprise_id, kind="ingest")
    app_workspace.jobs.wait(app_workspace.enterprise_id, job.id, timeout=120)
    at = at.run()
    reported = {row["File"] for row in at.dataframe[0].value.to_dict("records")}

    research = open_research()
    research.radio[0].set_value("Upload a .zip").run(timeout=30)
    research.file_uploader[0].set_value(("requests.zip", archive, "application/zip")).run(timeout=30)
    research = plan_and_run(research, app_workspace, "Find print statements")

    assert reported == {"requests/__init__.py", "requests/models.py"}
    assert list(research.dataframe[0].value["path"]) == ["requests/models.py"]


def test_offline_a_space_researched_here_before_is_researched_from_the_cache(tmp_path, monkeypatch, azure_emulators):
    from lmspace_core.agents.research.researcher import CodebaseResearcher
    from lmspace_core.config import load_config
    from lmspace_core.workspace import Workspace
    from tests.conftest import azure_environment, offline_dashboard, write_config

    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    earlier = Workspace(load_config(config, env=online))  # this machine, while Azure answered
    earlier.ingest(earlier.create_space("code"), CODE, as_codebase=True)
    researcher = CodebaseResearcher(earlier)
    codebase, space = researcher.codebase("code")
    researcher.run(researcher.plan("Find print statements", codebase, space), codebase, space)
    earlier.close()
    with offline_dashboard(monkeypatch, config, azure_emulators, online) as workspace:
        at = plan_and_run(open_research(), workspace, "Find print statements")
        assert not at.exception
        frame = at.dataframe[0].value
        assert list(zip(frame["path"], frame["line"], strict=True)) == [("codebase/app/main.py", 2),
                                                                        ("codebase/app/util.py", 2)]
        assert [c.value for c in at.caption if c.value.startswith(":material/cloud_off: Offline: answered from the "
                                                                  "local cache of")]
