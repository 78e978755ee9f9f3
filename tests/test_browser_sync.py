"""The Sync Jobs page in a real browser: start a local sync and watch its loss curve until it has succeeded.

Runs Debian's Chromium through Playwright against `streamlit run Home.py`; the job fine-tunes the embedding model
inside the dashboard's process. Skipped when Chromium is not installed, except in CI.
"""

from __future__ import annotations

import pytest

from lmspace_core.config import load_config
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.sync_data import ROUTES
from tests.test_browser import browser, dashboard_server  # noqa: F401  (browser: the module-scoped Chromium fixture)

# 8 training pairs in batches of 2 for 10 epochs: 40 steps, about 20 s of training on an idle machine, so the page
# (refreshed every second) sees the job running and its curve growing; 2 epochs of 4 pairs (4 steps) could end
# between two refreshes, and then the test waited for a curve that never grows.
SETTINGS = """sync:
  min_examples: 4
  local:
    epochs: 10
    batch_size: 2
    learning_rate: 0.00005
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The dashboard on a data directory holding one help-desk space, one markdown section per desk."""
    directory = tmp_path_factory.mktemp("sync-dashboard")
    config = write_config(directory, SETTINGS)
    workspace = Workspace(load_config(config, env={}))
    space = workspace.create_space("helpdesk", instructions="Route the request to the right desk.")
    sections = "\n\n".join(f"## {passage.split(' handles ')[1].rstrip('.')}\n\n{passage}" for passage, _ in ROUTES)
    workspace.ingest(space, {"helpdesk.md": f"# Help desks\n\n{sections}\n"})
    workspace.close()
    with dashboard_server(directory, config=config) as url:
        yield url


# The training-loss trace's points in the page's Plotly chart (0 while none is drawn).
POINTS = "document.querySelector('.js-plotly-plot')?.data?.[0]?.x?.length ?? 0"


def curve_points(page) -> int:
    return page.evaluate(f"() => {POINTS}")


def test_a_local_sync_started_in_the_page_runs_live_to_succeeded(dashboard, browser):
    page = browser.new_page()
    page.goto(f"{dashboard}/sync_jobs")
    page.get_by_role("heading", name="Sync Jobs", exact=True).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Start sync").click()
    page.get_by_text("· local · running").first.wait_for(timeout=600_000)
    page.get_by_test_id("stProgress").filter(has_text=" of ").first.wait_for(timeout=600_000)  # step n of N
    page.locator("[data-testid=stPlotlyChart]").first.wait_for(timeout=600_000)  # the curve, while it runs
    first = curve_points(page)
    page.wait_for_function(f"() => ({POINTS}) > {first}", timeout=600_000)  # it grows while the job runs
    page.get_by_text("· local · succeeded").first.wait_for(timeout=600_000)
    page.locator("[data-testid=stPlotlyChart]").first.wait_for(timeout=30_000)
    page.get_by_test_id("stMetricLabel").filter(has_text="Score after").first.wait_for()
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()
