"""OpenTelemetry traces and metrics to Azure Monitor, only when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set.

Off (the default) means off: `operation()` is a bare context manager and nothing from OpenTelemetry is imported.
On, each operation is a span `lmspace.<name>` with its attributes, its duration goes to the histogram
`lmspace.operation.duration` (seconds) and a failure adds to `lmspace.operation.errors`, both labelled with the
operation; `configure_azure_monitor` exports them, and the Azure SDKs' own HTTP spans nest under ours.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

CONNECTION_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
_state: dict[str, Any] = {"enabled": False, "tracer_provider": None, "meter_provider": None}
_lock = threading.Lock()


def configure_telemetry(env: Mapping[str, str] | None = None) -> bool:
    """Start exporting to Azure Monitor if the connection string is set (once per process); return whether on."""
    env = os.environ if env is None else env
    with _lock:
        if not _state["enabled"] and env.get(CONNECTION_ENV):
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(connection_string=env[CONNECTION_ENV], logger_name="lmspace_core")
            enable()
        return _state["enabled"]


def enable(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Record operations: through these providers (a test's in-memory ones), else the global ones that
    `configure_azure_monitor` installs."""
    _state.update(enabled=True, tracer_provider=tracer_provider, meter_provider=meter_provider)


def disable() -> None:
    _state["enabled"] = False


@contextmanager
def operation(name: str, **attributes: Any) -> Iterator[None]:
    """Trace and measure one operation (ingest, query, ...) when telemetry is on; do nothing otherwise."""
    if not _state["enabled"]:
        yield
        return
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Status, StatusCode

    meter = metrics.get_meter("lmspace", meter_provider=_state["meter_provider"])
    tracer = trace.get_tracer("lmspace", tracer_provider=_state["tracer_provider"])
    labels = {"operation": name}
    started = time.perf_counter()
    with tracer.start_as_current_span(f"lmspace.{name}", attributes=attributes) as span:
        try:
            yield
        except Exception as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            meter.create_counter("lmspace.operation.errors").add(1, labels)
            raise
        finally:
            meter.create_histogram("lmspace.operation.duration", unit="s").record(
                time.perf_counter() - started, labels)
