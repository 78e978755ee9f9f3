"""The code sandbox of explore research: real Deno + Pyodide from node_modules, offline, refusing the host.

Needs `npm ci` (Pyodide) and the `deno` Python package: skipped without Pyodide, except in CI.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreterError, FinalOutput

from lmspace_core.config import load_config
from lmspace_core.errors import SandboxLimitError
from lmspace_core.research.sandbox import (
    Sandbox,
    SandboxLimits,
    SandboxUnavailableError,
    find_pyodide,
    sandbox_factory,
)
from tests.conftest import skip_unless_installed

REPO_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"


def pyodide_installed() -> bool:
    try:
        find_pyodide()
    except SandboxUnavailableError:
        return False
    return True


@pytest.fixture(scope="module")
def sandbox():
    """One sandbox for the module; every refusal test also checks that the session survived it."""
    skip_unless_installed(pyodide_installed(), "Pyodide", "npm ci")
    with sandbox_factory()() as opened:
        opened.start()
        yield opened


def still_works(sandbox: Sandbox) -> bool:
    return sandbox.execute("print(6 * 7)") == "42\n"


def test_sandboxed_code_computes_on_a_variable_passed_in(sandbox):
    text = "first\nsecond\nthird\n"

    assert sandbox.execute("print(len(text.splitlines()))", {"text": text}) == "3\n"


def test_state_persists_between_executions(sandbox):
    sandbox.execute("counter = 41")

    assert sandbox.execute("counter += 1\nprint(counter)") == "42\n"


def test_submit_returns_the_final_output(sandbox):
    assert sandbox.execute("SUBMIT({'answer': 7})") == FinalOutput({"output": {"answer": 7}})


def test_a_large_variable_arrives_whole_through_a_file_that_is_then_deleted(sandbox):
    text = "line of code\n" * 300_000  # 3.9 MB: past the size that is sent as a Python literal

    assert sandbox.execute("print(len(text), text == 'line of code\\n' * 300_000)", {"text": text}) == "3900000 True\n"
    assert sandbox.execute("import os\nprint(os.listdir('/tmp/dspy_vars'))") == "[]\n"


def test_limits_come_from_the_research_settings(tmp_path):
    config = tmp_path / "lmspace.yaml"
    config.write_text("research:\n  sandbox_memory_mb: 300\n")
    env = {"LMSPACE_RESEARCH__SANDBOX_OUTPUT_MB": "0.5"}

    limits = SandboxLimits.from_settings(load_config(config, env=env).research)

    assert (limits.memory_mb, limits.output_bytes) == (300, 512 * 1024)


def test_host_tools_are_callable_from_sandboxed_code():
    skip_unless_installed(pyodide_installed(), "Pyodide", "npm ci")
    calls = []

    def lookup(key: str, default: str = "none") -> str:
        calls.append(key)
        return {"a": "alpha"}.get(key, default)

    with Sandbox(tools={"lookup": lookup}) as opened:
        assert opened.execute("print(lookup('a'), lookup(key='b'))") == "alpha none\n"
    assert calls == ["a", "b"]


@pytest.mark.parametrize(
    "code",
    [
        "print(open('/etc/passwd').read())",
        f"print(open({str(REPO_FILE)!r}).read())",
        "import js\nprint(js.Deno.readTextFileSync('/etc/passwd'))",
        f"import js\nprint(js.Deno.readTextFileSync({str(REPO_FILE)!r}))",
        "import js\nprint([entry.name for entry in js.Deno.readDirSync('/')])",
    ],
    ids=["python-etc-passwd", "python-repo-file", "js-etc-passwd", "js-repo-file", "js-list-root"],
)
def test_sandboxed_code_cannot_read_host_files(sandbox, code):
    with pytest.raises(CodeExecutionError) as refused:
        sandbox.execute(code)

    assert "root:" not in str(refused.value) and "[project]" not in str(refused.value)
    assert still_works(sandbox)


def test_pyodide_files_are_unreadable_once_the_sandbox_has_started(sandbox):
    package = find_pyodide() / "package.json"

    with pytest.raises(CodeExecutionError, match="read access"):
        sandbox.execute(f"import js\nprint(js.Deno.readTextFileSync({str(package)!r}))")


def test_sandboxed_code_cannot_write_host_files(sandbox, tmp_path):
    target = tmp_path / "written.txt"

    with pytest.raises(CodeExecutionError, match="write access"):
        sandbox.execute(f"import js\njs.Deno.writeTextFileSync({str(target)!r}, 'x')")
    assert not target.exists()


@pytest.fixture
def listener():
    """A TCP server on a free loopback port that records whether anything connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(1.0)
    yield server
    server.close()


def nobody_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except TimeoutError:
        return True
    connection.close()
    return False


def test_sandboxed_code_cannot_open_a_socket(sandbox, listener):
    port = listener.getsockname()[1]

    with pytest.raises(CodeExecutionError):
        sandbox.execute(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')")
    assert nobody_connected(listener)
    assert still_works(sandbox)


def test_sandboxed_code_cannot_fetch_through_javascript(sandbox, listener):
    port = listener.getsockname()[1]

    with pytest.raises(CodeExecutionError, match="net access"):
        sandbox.execute(f"import js\nawait js.fetch('http://127.0.0.1:{port}/')")
    assert nobody_connected(listener)


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['touch', MARKER])",
        "import os\nos.system('touch ' + MARKER)",
        "import os\nos.popen('touch ' + MARKER).read()",
        "import js\njs.Deno.Command.new('/usr/bin/touch', args=[MARKER]).outputSync()",
    ],
    ids=["subprocess", "os-system", "os-popen", "js-deno-command"],
)
def test_sandboxed_code_cannot_spawn_processes(sandbox, tmp_path, code):
    marker = tmp_path / "spawned"

    with pytest.raises(CodeExecutionError):
        sandbox.execute(code, {"MARKER": str(marker)})
    assert not marker.exists()
    assert still_works(sandbox)


def test_sandboxed_code_cannot_read_the_environment(sandbox, monkeypatch):
    with pytest.raises(CodeExecutionError, match="env access"):
        sandbox.execute("import js\nprint(js.Deno.env.toObject())")
    assert sandbox.execute("import os\nprint(sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k))") == "[]\n"


def test_a_runaway_execution_is_stopped_at_the_deadline():
    skip_unless_installed(pyodide_installed(), "Pyodide", "npm ci")
    with Sandbox(limits=SandboxLimits(timeout_s=0.5)) as opened:
        opened.start()  # start-up has its own, longer deadline
        with pytest.raises(SandboxLimitError, match="longer than 0.5 s"):
            opened.execute("while True: pass")
        with pytest.raises(CodeInterpreterError, match="session has ended"):
            opened.execute("print(1)")


def test_a_missing_pyodide_names_the_command_that_installs_it(tmp_path):
    with pytest.raises(SandboxUnavailableError, match="npm ci"):
        sandbox_factory(pyodide_dir=tmp_path)


def test_a_missing_deno_names_the_command_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "deno", None)
    monkeypatch.setenv("PATH", "")

    with pytest.raises(SandboxUnavailableError, match="uv sync"):
        sandbox_factory()


def test_a_syntax_error_is_reported_with_its_line(sandbox):
    with pytest.raises(SyntaxError, match="never closed"):
        sandbox.execute("print((1, 2)")
    assert still_works(sandbox)
