"""The Sync Jobs page (AppTest): plan and start, the jobs table and one job's view, cancel, models and rollback."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import Metric, SyncKind, SyncStatus
from lmspace_core.sync.queue import build_queue
from tests.conftest import APP, read, write_config
from tests.test_sync_plan import POLICY, put


@pytest.fixture
def synced(app_workspace, backend):
    space = app_workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
    for number in range(2):
        put(app_workspace, space, f"travel-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
    manager = SyncManager(app_workspace)
    yield manager, space
    manager.close()


def finished_job(manager: SyncManager, space, status=SyncStatus.SUCCEEDED):
    """A job as a backend leaves it: its dataset, events, metrics per step, and a model version when it succeeded."""
    dataset = manager.build_dataset(space)
    manager.store.save_dataset(dataset, manager.plan(space).items)
    job = manager.store.create_job(space.scope, "azure_openai", "test")
    manager.store.update_job(job.enterprise_id, job.id, SyncStatus.RUNNING, "Training started.",
                             dataset_id=dataset.id, remote_id="ftjob-1")
    manager.store.record_metrics(job.enterprise_id, job.id,
                                 [Metric(1, 1.9, 2.0, 0.5), Metric(2, 1.2, 1.4, 0.6), Metric(3, 0.8, 1.0, 0.7)])
    if status is SyncStatus.SUCCEEDED:
        manager.pull_llm_updates("gpt-4o-mini.ft-1", space, force=True)
        manager.store.update_job(job.enterprise_id, job.id, status, "model recorded", model_id="gpt-4o-mini.ft-1",
                                 score_before=0.61, score_after=0.72)
    return manager.job(job.id)


def render() -> AppTest:
    at = AppTest.from_file(APP).run(timeout=30)
    return at.switch_page("pages/sync_jobs.py").run(timeout=30)


def test_the_plan_shows_what_changed_and_a_too_small_dataset_is_refused_with_reasons(synced):
    at = render()
    assert [m.value for m in at.metric][:3] == ["2", "0", "0"]
    next(b for b in at.button if b.label == "Start sync").click().run(timeout=30)
    assert not at.exception
    assert "the dataset was refused, nothing was uploaded" in at.error[0].value
    jobs = next(d.value for d in at.dataframe if "Job" in d.value)
    assert jobs["Status"].tolist() == ["failed"]


def test_a_finished_job_shows_its_timeline_scores_curves_events_and_dataset(synced):
    manager, space = synced
    job = finished_job(manager, space)
    at = render()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "Job" in d.value)
    assert table["Job"].tolist() == [job.id] and table["Score after"].tolist() == ["0.720"]
    assert {m.label: m.value for m in at.metric}["Score after"] == "0.720"
    assert at.get("plotly_chart"), "the training curves are drawn"
    assert any("succeeded" in md.value and "running" in md.value for md in at.markdown)
    events = next(d.value for d in at.dataframe if "Event" in d.value)
    assert "Training started." in events["Event"].tolist()
    assert [d.label for d in at.get("download_button")] == ["train (chat) JSONL", "validation (chat) JSONL",
                                                            "train (prompt) JSONL"]
    active = next(read(md.value) for md in at.markdown if md.value.startswith("Active model:"))
    assert active.startswith("Active model: gpt-4o-mini.ft-1 (external, created ")
    assert active.endswith(f"; version {manager.models(space)[0].id})")


def test_while_a_job_runs_start_sync_is_refused_naming_it_and_the_job_can_be_cancelled(synced):
    manager, space = synced
    job = finished_job(manager, space, status=SyncStatus.RUNNING)
    at = render()
    next(b for b in at.button if b.label == "Start sync").click().run(timeout=30)
    assert not at.exception
    error = read(at.error[0].value)
    assert f"already has sync job {job.id} under way" in error and f"lmspace sync cancel travel --job {job.id}" in error
    assert [j.id for j in manager.jobs(space)] == [job.id]
    next(b for b in at.button if b.label == "Cancel").click().run(timeout=30)
    assert not at.exception
    assert manager.store.cancel_requested(job.enterprise_id, job.id)


def test_a_running_job_shows_how_many_training_steps_are_done(synced):
    manager, space = synced
    job = finished_job(manager, space, status=SyncStatus.RUNNING)
    manager.store.update_job(job.enterprise_id, job.id, steps_done=3, steps_total=12)
    at = render()
    assert not at.exception
    [bar] = at.get("progress")
    assert bar.proto.value == 25 and bar.proto.text == "step 3 of 12"


def test_rollback_returns_the_space_to_its_base_model(synced):
    manager, space = synced
    finished_job(manager, space)
    at = render()
    next(b for b in at.button if b.label == "Rollback").click().run(timeout=30)
    assert not at.exception and not at.error
    assert not any(version.active for version in manager.models(space))
    assert any("Active model: **base model**" in md.value for md in at.markdown)


def test_training_curves_plot_both_losses_and_accuracy_per_step():
    from lmspace_ui.charts import training_curves

    figure = training_curves([Metric(1, train_loss=1.0), Metric(2, 0.5, 0.7, 0.8)])
    assert [(trace.name, list(trace.x)) for trace in figure.data] == [
        ("train loss", [1, 2]), ("validation loss", [2]), ("accuracy", [2])]


def test_a_workspace_whose_sync_state_cannot_open_shows_the_reason_not_a_traceback(app_workspace, monkeypatch):
    from lmspace_core.errors import NotAvailableYetError
    from lmspace_core.sync import manager

    def unavailable(settings):
        raise NotAvailableYetError("The 'custom' store backend keeps no sync state.")

    app_workspace.create_space("travel")
    monkeypatch.setattr(manager, "build_sync_store", unavailable)
    at = render()
    assert not at.exception
    assert "keeps no sync state" in at.error[0].value


def test_the_page_starts_a_prompt_sync_and_shows_its_trials(app_workspace):
    from tests.test_optimize import EXAMPLES, space_with
    from tests.test_sync_prompt import trained_lm

    space = space_with(app_workspace, "policies", EXAMPLES)
    app_workspace.use_lm(trained_lm(app_workspace, space))
    at = render()
    at.radio(key="sync_kind").set_value(SyncKind.PROMPT).run(timeout=30)
    assert not any(box.label == "Backend" for box in at.selectbox)
    next(b for b in at.button if b.label == "Start sync").click().run(timeout=30)
    assert not at.exception and not at.error
    manager = SyncManager(app_workspace, resume=False)
    try:
        [job] = manager.jobs(space)
        deadline = time.monotonic() + 60  # the page's own manager runs the job
        while not (job := manager.job(job.id)).status.finished and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.status is SyncStatus.SUCCEEDED, job.error
    finally:
        manager.close()
    at.run(timeout=30)
    table = next(d.value for d in at.dataframe if "Job" in d.value)
    assert table["Backend"].tolist() == ["prompt"] and table["Score after"].tolist() == ["1.000"]
    assert at.get("plotly_chart"), "the trials' scores are drawn"
    assert any("Active model" in md.value and "compiled prompts of this version" in md.value for md in at.markdown)


def test_a_prompt_sync_without_a_language_model_shows_why_it_is_refused(app_workspace):
    app_workspace.create_space("travel")
    at = render()
    at.radio(key="sync_kind").set_value(SyncKind.PROMPT).run(timeout=30)
    next(b for b in at.button if b.label == "Start sync").click().run(timeout=30)
    assert not at.exception
    assert "needs a language model" in at.error[0].value


def test_the_active_local_model_is_named_by_what_it_is_not_by_its_folder_id():
    from datetime import UTC, datetime

    from lmspace_core.sync.model import ModelVersion
    from lmspace_ui.sync_view import _active_line

    version = ModelVersion(id="1159939726194406", enterprise_id="default", space_id="s", job_id="j", dataset_id="d",
                           backend="local", kind="embedder", reference="8486e786bb414b7b", score_before=0.789,
                           score_after=0.958, active=True, created_at=datetime(2026, 11, 30, 12, tzinfo=UTC))
    line = read(_active_line(version))
    assert line.startswith("Active model: fine-tuned embedding model (local, created 2026-11-30 ")
    assert line.endswith("score 0.789 → 0.958; version 1159939726194406)")
    assert "8486e786bb414b7b" not in line


def test_the_page_says_when_the_next_automatic_sync_comes_and_why_it_waits(tmp_path, monkeypatch):
    import streamlit as st

    from lmspace_ui.resources import get_workspace

    settings = "sync:\n  auto_sync: [travel]\n  auto_sync_items: 2\n  min_examples: 100\n"
    monkeypatch.setenv("LMSPACE_CONFIG", str(write_config(tmp_path, settings)))
    st.cache_resource.clear()
    workspace = get_workspace()
    try:
        space = workspace.create_space("travel")
        for number in range(2):
            put(workspace, space, f"travel-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
        manager = SyncManager(workspace)
        queue = build_queue(workspace.settings, workspace.enterprise_id)
        manager.enqueue_due(queue)
        [job] = manager.run_queued(queue)
        manager.close()
        assert job.status is SyncStatus.FAILED
        at = render()
        assert not at.exception
        line = next(read(caption.value) for caption in at.caption if "Automatic sync" in caption.value)
        assert line.startswith("Automatic sync is waiting: dataset refused: only ")
        assert "next automatic try after 2 more changes or at " in line
    finally:
        st.cache_resource.clear()
        workspace.close()


def test_all_spaces_lists_every_spaces_jobs_with_a_space_column_and_local_models_in_words(synced, app_workspace):
    manager, space = synced
    hr = app_workspace.create_space("hr")
    local = manager.store.create_job(hr.scope, "local", "test")
    manager.store.update_job(local.enterprise_id, local.id, SyncStatus.SUCCEEDED, "done", model_id="8486e786bb414b7b")
    remote = manager.store.create_job(space.scope, "azure_openai", "test")
    manager.store.update_job(remote.enterprise_id, remote.id, SyncStatus.FAILED, "no", model_id="gpt-4o-mini.ft-9")
    at = render()
    assert "Space" not in next(d.value for d in at.dataframe if "Job" in d.value)  # the picked space's jobs only
    next(t for t in at.toggle if t.label == "All spaces").set_value(True).run(timeout=30)
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Job" in d.value)
    rows = dict(zip(table["Job"], zip(table["Space"], table["Model"], strict=True), strict=True))
    assert rows == {local.id: ("hr", "fine-tuned embedding model (8486e786bb414b7b)"),
                    remote.id: ("travel", "gpt-4o-mini.ft-9")}
