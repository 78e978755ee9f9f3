"""OpenTelemetry: off and silent without APPLICATIONINSIGHTS_CONNECTION_STRING; on, ingest, query, research and sync
are spans with durations and errors counted, carrying ids and counts but never content or secrets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lmspace_core import telemetry
from lmspace_core.errors import BackendError
from lmspace_core.sync.backends.base import Outcome
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import SyncStatus


def test_without_a_connection_string_nothing_of_opentelemetry_is_loaded():
    code = ("import sys, tempfile; from lmspace_core.config import load_config; from lmspace_core.workspace import "
            "Workspace; w = Workspace(load_config(None, env={'LMSPACE_HOME': tempfile.mkdtemp()})); "
            "w.create_space('s'); print(any(m.startswith('opentelemetry') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert telemetry.configure_telemetry({}) is False


@pytest.fixture
def recorded():
    """In-memory OpenTelemetry providers in place of Azure Monitor's exporters."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry.enable(tracer_provider, MeterProvider(metric_readers=[reader]))
    yield spans, reader
    telemetry.disable()


def test_ingest_and_query_are_traced_with_durations(recorded, workspace):
    spans, reader = recorded
    space = workspace.create_space("policies")
    workspace.ingest_text(space, "leave", "Employees get 25 days of paid leave a year.")
    workspace.search(space, "How many days of leave?")
    names = [span.name for span in spans.get_finished_spans()]
    assert names == ["lmspace.ingest", "lmspace.query"]
    assert spans.get_finished_spans()[1].attributes["space"] == space.id
    points = {
        point.attributes["operation"]
        for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
        if metric.name == "lmspace.operation.duration"
        for point in metric.data.data_points
    }
    assert points == {"ingest", "query"}


def test_a_failed_operation_is_an_error_span_and_counted(recorded):
    spans, reader = recorded
    with pytest.raises(ValueError), telemetry.operation("query"):
        raise ValueError("boom")
    [span] = spans.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    counted = [metric.name for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics]
    assert "lmspace.operation.errors" in counted


def _operations(reader, metric_name: str) -> list[str]:
    return sorted(
        point.attributes["operation"]
        for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
        if metric.name == metric_name
        for point in metric.data.data_points
    )


def _everything_recorded(span) -> str:
    """Every attribute and event of a span, as one string to look for leaks in."""
    return repr(dict(span.attributes)) + repr([(event.name, dict(event.attributes)) for event in span.events])


def test_research_is_traced_with_its_plan_and_counts_but_not_its_task_or_code(recorded, workspace):
    from lmspace_core.agents.research.researcher import CodebaseResearcher

    spans, reader = recorded
    researcher = CodebaseResearcher(workspace)
    codebase, _ = researcher.codebase({"app.py": "API_KEY = 'sk-live-4242'\nprint(API_KEY)\n"})
    task = "Find print statements near the payroll secret"
    result = researcher.run(researcher.plan(task, codebase), codebase)
    planned, ran = spans.get_finished_spans()
    assert (planned.name, ran.name) == ("lmspace.research.plan", "lmspace.research")
    assert planned.attributes["strategy"] == ran.attributes["strategy"] == "pattern"
    assert ran.attributes["findings"] == len(result.findings) == 1
    assert ran.attributes["files"] == 1 and ran.attributes["enterprise"] == workspace.enterprise_id
    for span in (planned, ran):
        assert "sk-live" not in _everything_recorded(span) and "payroll" not in _everything_recorded(span)
    assert _operations(reader, "lmspace.operation.duration") == ["research", "research.plan"]


class _Remote:
    """A remote fine-tuning backend whose job is already over when it is polled: succeeded, or its API failed."""

    name, model_kind = "azure_ml", "deployment"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def resume(self, remote_id, reporter):
        if self.error is not None:
            raise self.error
        return Outcome(SyncStatus.SUCCEEDED, model_id=f"model-of-{remote_id}")


def _run_sync_job(workspace, backend: _Remote):
    space = workspace.create_space("travel")
    manager = SyncManager(workspace, backends={"azure_ml": lambda _: backend})
    try:
        job = manager.store.create_job(space.scope, "azure_ml", manager._owner)
        manager.store.update_job(job.enterprise_id, job.id, SyncStatus.RUNNING, "running", remote_id="run-1")
        manager.poll_remote("run-1")
        return space, manager.wait(job.id, timeout=30)
    finally:
        manager.close()


def test_a_sync_job_is_traced_from_start_to_end(recorded, workspace):
    spans, reader = recorded
    space, job = _run_sync_job(workspace, _Remote())
    assert job.status is SyncStatus.SUCCEEDED
    [span] = [span for span in spans.get_finished_spans() if span.name == "lmspace.sync"]
    assert dict(span.attributes) == {"enterprise": space.enterprise_id, "space": space.id, "job": job.id,
                                     "backend": "azure_ml", "status": "succeeded"}
    assert span.status.status_code.name == "UNSET"
    assert _operations(reader, "lmspace.operation.duration") == ["sync"]


def test_a_failed_sync_job_is_an_error_span_without_the_error_s_words(recorded, workspace):
    spans, reader = recorded
    _, job = _run_sync_job(workspace, _Remote(BackendError("Azure ML refused key=hunter2-secret")))
    assert job.status is SyncStatus.FAILED and "hunter2" in job.error  # the job itself says why
    [span] = [span for span in spans.get_finished_spans() if span.name == "lmspace.sync"]
    assert span.status.status_code.name == "ERROR" and span.status.description == "BackendError"
    assert "hunter2" not in _everything_recorded(span)
    assert _operations(reader, "lmspace.operation.errors") == ["sync"]
