"""Starting the dashboard as a server process: for `lmspace ui`, the browser tests, the UI benchmark and screenshots.

Kept free of Streamlit imports so that the CLI stays fast.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

# A checkout runs the dashboard from its root; an installed wheel carries the same files in `lmspace_ui/app/`.
_PACKAGED_HOME = Path(__file__).resolve().parent / "app" / "Home.py"
HOME = _PACKAGED_HOME if _PACKAGED_HOME.is_file() else Path(__file__).resolve().parent.parent / "Home.py"


def dashboard_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """`streamlit run Home.py` on this interpreter, bound to `address:port`."""
    return [sys.executable, "-m", "streamlit", "run", str(HOME), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int, address: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `address:port` now (Streamlit only logs a taken port and exits)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closed port's leftovers
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def start_dashboard(port: int, env: Mapping[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start the dashboard server in the background (stdout/stderr to `log` when given)."""
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it while it runs
    return subprocess.Popen(
        dashboard_command(port), cwd=HOME.parent, env={**os.environ, **(env or {})}, stdout=output,
        stderr=subprocess.STDOUT,
    )


def wait_until_ready(port: int, timeout: float = 60.0) -> None:
    """Block until the server answers its health check, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the dashboard did not answer on port {port} within {timeout:.0f} s")


CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright never downloads a browser here
# Flags for a headless Chromium on a machine without network: no background traffic, no sandbox as root.
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)


def launch_chromium(playwright):
    """Debian's Chromium through Playwright's Python client (a dev dependency, used by tests and benchmarks)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
