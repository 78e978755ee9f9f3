"""Every dashboard page renders without an exception, on an empty data directory and on a populated one."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP

PAGES = ("home", "spaces", "upload", "chat", "research", "sync_jobs", "settings")


@pytest.fixture
def populated(app_workspace):
    space = app_workspace.create_space("policies", "HR policies", "Answer briefly.")
    app_workspace.ingest(space, {"leave.md": "# Leave\n\nEmployees get 25 days of paid leave a year.",
                                 "app/main.py": "def main():\n    print('hi')\n"})
    return app_workspace


def render(page: str) -> AppTest:
    at = AppTest.from_file(APP).run(timeout=30)
    return at.switch_page(f"pages/{page}.py").run(timeout=30)


@pytest.mark.parametrize("page", PAGES)
def test_a_page_renders_on_an_empty_data_directory(app_workspace, page):
    at = render(page)
    assert not at.exception and not at.error
    assert at.title


@pytest.mark.parametrize("page", PAGES)
def test_a_page_renders_on_a_populated_data_directory(populated, page):
    at = render(page)
    assert not at.exception and not at.error
    assert at.title

