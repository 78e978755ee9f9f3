"""Start and stop the local Azure emulators: Azurite (Blob, Queue, Table) and LMSpace's Cosmos DB emulator.

`lmspace dev emulators` and the test fixtures both use `start_emulators()`: free loopback ports, in-memory data,
and `Emulators.environment()` gives the `LMSPACE_*` settings that point LMSpace at them. Azurite comes from the
committed npm lockfile (`npm ci`); the Cosmos emulator (`cosmos_server`) runs as a Python process of its own.
"""

from __future__ import annotations

import ctypes
import datetime
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lmspace_core.emulators.cosmos_server import WELL_KNOWN_KEY
from lmspace_core.errors import LMSpaceError

# Azurite's development account, published in its documentation (not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_REPOSITORY = Path(__file__).resolve().parents[2]
_STARTUP_TIMEOUT_S = 60.0
_PORTS_FILE = "ports.json"


class EmulatorError(LMSpaceError):
    """An emulator could not start (Azurite not installed, a port never opened)."""


_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before it runs: get SIGTERM when the process that started it dies (Linux), so that a killed
    test run or a closed terminal leaves no emulator behind."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def azurite_command() -> Path | None:
    """Azurite as installed by `npm ci` in the repository, or on PATH."""
    local = _REPOSITORY / "node_modules" / ".bin" / "azurite"
    if local.is_file():
        return local
    found = shutil.which("azurite")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = process.stderr.read().strip() if process.stderr else ""
            raise EmulatorError(f"{process.args[0]} exited with status {process.returncode} before opening port "
                                f"{port}: {reason}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise EmulatorError(f"{process.args[0]} did not open port {port} within {_STARTUP_TIMEOUT_S:.0f} s.")


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost, made at start-up so that no private key is committed."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cosmos-emulator.pem", directory / "cosmos-emulator.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Emulators:
    """Running emulators and how to reach them."""

    cosmos: subprocess.Popen
    azurite: subprocess.Popen
    cosmos_port: int
    blob_port: int
    queue_port: int
    table_port: int
    workdir: Path
    persistent: bool = False  # data kept in `workdir` across `restart()`

    @property
    def cosmos_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.cosmos_port}/"

    @property
    def cosmos_key(self) -> str:
        return WELL_KNOWN_KEY

    @property
    def storage_connection_string(self) -> str:
        base = f"http://127.0.0.1:{{}}/{AZURITE_ACCOUNT}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={base.format(self.blob_port)};QueueEndpoint={base.format(self.queue_port)};"
            f"TableEndpoint={base.format(self.table_port)};"
        )

    def environment(self) -> dict[str, str]:
        """The `LMSPACE_*` settings that select the Azure backend on these emulators."""
        return {
            "LMSPACE_STORE__BACKEND": "azure",
            "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": self.cosmos_endpoint,
            "LMSPACE_STORE__AZURE__COSMOS_KEY": self.cosmos_key,
            "LMSPACE_STORE__AZURE__CONNECTION_STRING": self.storage_connection_string,
        }

    def _control(self, path: str, body: dict | None = None) -> bytes:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own self-signed one
        request = urllib.request.Request(f"{self.cosmos_endpoint}_emulator/{path}",
                                         method="GET" if body is None else "POST",
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.read()

    def inject_cosmos_fault(self, status: int, count: int = 1, operations: tuple[str, ...] = (),
                            retry_after_ms: int = 0, apply: bool = False) -> None:
        """Make the next `count` matching Cosmos requests fail with `status` (after being applied, with `apply`).

        `operations` are create, upsert, replace, delete, read, query, batch, create_database, create_container and
        metadata (other requests about accounts, databases and containers); empty: any.
        """
        self._control("faults", {"status": status, "count": count, "operations": list(operations),
                                 "retry_after_ms": retry_after_ms, "apply": apply})

    def clear_cosmos_faults(self) -> None:
        """Drop injected faults not served yet."""
        self._control("faults/clear", {})

    def cosmos_stats(self) -> dict[str, int]:
        """Requests served per operation, faults served per status (`fault_429`) and queries sent across
        partitions (`query_cross_partition`)."""
        return json.loads(self._control("stats"))

    def stop(self) -> None:
        """Stop both (a persistent pair saves its data first and keeps `workdir`)."""
        _stop_process(self.cosmos)
        _stop_process(self.azurite)
        if not self.persistent:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self) -> Emulators:
        """Start a stopped persistent pair again, on the same ports and with the data it had."""
        if not self.persistent:
            raise EmulatorError("Only emulators started with a workdir keep their data across a restart.")
        self.stop()
        return start_emulators(self.workdir, (self.cosmos_port, self.blob_port, self.queue_port, self.table_port))


def start_emulators(workdir: Path | None = None, ports: tuple[int, int, int, int] | None = None) -> Emulators:
    """Start Azurite and the Cosmos emulator on loopback; raise `EmulatorError` with the fix if they cannot start.

    Args:
        workdir: keep the data there (and across `Emulators.restart()`); None keeps it in memory only.
        ports: Cosmos, blob, queue and table ports; None picks free ones.
    """
    command = azurite_command()
    if command is None:
        raise EmulatorError("Azurite is not installed: run `npm ci` in the LMSpace repository (see package.json).")
    persistent = workdir is not None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="lmspace-emulators-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cosmos_port, blob, queue, table = ports or (_free_port(), _free_port(), _free_port(), _free_port())
    certificate, key = self_signed_certificate(workdir)
    storage = ["--location", str(workdir / "azurite")] if persistent else ["--inMemoryPersistence"]
    state = ["--state", str(workdir / "cosmos.state")] if persistent else []
    processes = [
        subprocess.Popen(
            [str(command), "--silent", *storage, "--skipApiVersionCheck", "--disableTelemetry",
             "--loose", "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1",
             "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "lmspace_core.emulators.cosmos_server", "--port", str(cosmos_port),
             "--cert", certificate, "--key", key, *state],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent,
        ),
    ]
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        for process, ports in zip(processes, ((blob, queue, table), (cosmos_port,)), strict=True):
            for port in ports:
                _wait_for_port(port, process, deadline)
    except BaseException:
        for process in processes:
            _stop_process(process)
        if not persistent:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    azurite, cosmos = processes
    return Emulators(cosmos, azurite, cosmos_port, blob, queue, table, workdir, persistent)


def start_kept_emulators(folder: Path) -> Emulators:
    """Emulators keeping their data in `folder` across stops, on the ports they had there before (free ones the first
    time): the exports printed then, and the endpoints an outbox waits for, stay right after a restart."""
    ports_file = folder / _PORTS_FILE
    ports = tuple(json.loads(ports_file.read_text())) if ports_file.is_file() else None
    running = start_emulators(folder, ports)
    ports_file.write_text(json.dumps([running.cosmos_port, running.blob_port, running.queue_port, running.table_port]))
    return running
