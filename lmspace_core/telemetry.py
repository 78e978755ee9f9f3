"""OpenTelemetry traces and metrics to Azure Monitor, only when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set.

Off (the default) means off: `operation()` is a bare context manager and nothing from OpenTelemetry is imported.
On, each operation is a span `lmspace.<name>` with its attributes, its duration goes to the histogram
`lmspace.operation.duration` (seconds) and a failure adds to `lmspace.operation.errors`, both labelled with the
operation; `configure_azure_monitor` exports them, and the Azure SDKs' own HTTP spans nest under ours.
Operations: `ingest`, `query` (workspace), `research.plan` and `research` (agents/research), `sync` (a sync job).

Attributes are ids, names of strategies and backends, and counts: never a question, a task, document text or a
secret. For the same reason an exception's message is not recorded, only its type: messages may quote content.
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


class Operation:
    """What a running operation can still say: attributes known only at its end, or a failure that raised nothing
    (a sync job that ended as failed)."""

    def __init__(self, span: Any = None) -> None:
        self._span = span
        self.failed = False

    def set(self, **attributes: Any) -> None:
        if self._span is not None:
            self._span.set_attributes(attributes)

    def fail(self, reason: str) -> None:
        """Mark the operation failed (counted in `lmspace.operation.errors`); `reason` is a type, not a message."""
        self.failed = True
        if self._span is not None:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR, reason))


@contextmanager
def operation(name: str, **attributes: Any) -> Iterator[Operation]:
    """Trace and measure one operation (ingest, query, ...) when telemetry is on; do nothing otherwise."""
    if not _state["enabled"]:
        yield Operation()
        return
    from opentelemetry import metrics, trace

    meter = metrics.get_meter("lmspace", meter_provider=_state["meter_provider"])
    tracer = trace.get_tracer("lmspace", tracer_provider=_state["tracer_provider"])
    labels = {"operation": name}
    started = time.perf_counter()
    with tracer.start_as_current_span(f"lmspace.{name}", attributes=attributes, record_exception=False,
                                      set_status_on_exception=False) as span:
        record = Operation(span)
        try:
            yield record
        except Exception as error:
            record.fail(type(error).__name__)
            raise
        finally:
            if record.failed:
                meter.create_counter("lmspace.operation.errors").add(1, labels)
            meter.create_histogram("lmspace.operation.duration", unit="s").record(
                time.perf_counter() - started, labels)
