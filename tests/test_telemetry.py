"""OpenTelemetry: off and silent without APPLICATIONINSIGHTS_CONNECTION_STRING; on, ingest and query are spans with
durations and errors counted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lmspace_core import telemetry


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
