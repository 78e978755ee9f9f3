"""The sandbox that runs code written by a language model (explore research with `dspy.RLM`).

It is a `dspy.RLM` interpreter in the shape of DSPy's `PythonInterpreter` (Pyodide, i.e. CPython compiled to
WebAssembly, inside a Deno process), rebuilt around what the model's code must not be able to do:

- Reach the host. Pyodide comes from `node_modules/pyodide` (pinned in `package.json`; `npm ci` installs it) and
  the runner imports nothing remote. Deno may read the Pyodide files, the runner's two scripts and its two control
  pipes, and nothing else (no network, subprocesses, environment, FFI or system information); every permission is
  given up once Pyodide is loaded. Code in the sandbox sees Pyodide's in-memory file system, and Deno refuses what it
  reaches for through Pyodide's `js` module (`js.Deno.readTextFile`, `js.fetch`, `js.Deno.Command`).
- Speak for the runner. The protocol runs over two pipes of its own (`sandbox_process.py`); the model's code runs in
  a Worker (`sandbox_worker.js`), a separate JavaScript realm that cannot touch them, and the runner
  (`sandbox_runner.js`) checks every message the Worker posts. Whatever the code writes to stdout or stderr is drained
  and ignored; a malformed message from the runner ends the session.
- Exhaust the host. Memory (RLIMIT_DATA on Linux, and V8's heap limit), output per execution and time per execution
  are capped (`SandboxLimits`, from the `research:` settings). A limit the session survives (printing too much, a
  MemoryError) is a `SandboxCodeLimitError` the model sees and can work around; one it does not (time, V8's heap) is
  a `SandboxLimitError` that ends the run. Either names the setting that raises the limit.
"""

from __future__ import annotations

import json
import keyword
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreterError, FinalOutput
from dspy.primitives.python_interpreter import (
    JSONRPC_APP_ERRORS,
    PythonInterpreter,
    _jsonrpc_notification,
    _jsonrpc_request,
)
from dspy.utils.callback import with_callbacks

from lmspace_core.errors import SandboxLimitError, SandboxUnavailableError
from lmspace_core.research.sandbox_process import MessageTooLarge, SandboxProcess

if TYPE_CHECKING:
    from lmspace_core.config import ResearchSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PYODIDE_DIR = REPO_ROOT / "node_modules" / "pyodide"  # a checkout; an installed wheel sets pyodide_dir
PYODIDE_VERSION = "0.29.4"  # as pinned in package.json
RUNNER = Path(__file__).with_name("sandbox_runner.js")
WORKER = Path(__file__).with_name("sandbox_worker.js")
STARTUP_TIMEOUT_S = 60
MIB = 1024 * 1024
FILE_VARIABLE_CHARS = MIB  # variables whose literal is longer reach the sandbox as files

# The variables Deno itself reads; the sandboxed program is given none (it has no --allow-env either).
_DENO_ENV = {"DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PACKAGE_JSON": "1", "NO_COLOR": "1"}
# Error codes of sandbox_runner.js beside DSPy's.
_LIMIT_ERROR = -32010
_BROKEN_ERROR = -32011
# What V8, Rust and Pyodide print when an allocation fails for good.
_OUT_OF_MEMORY = ("out of memory", "heap limit", "memory allocation of", "allocation failed", "cannot allocate memory")


class SandboxCodeLimitError(SandboxLimitError, CodeExecutionError):
    """A limit one execution hit while the session survived: `dspy.RLM` shows it to the model, which can adapt."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox may use.

    Args:
        memory_mb: memory the sandboxed code may allocate beyond the started interpreter (Python objects and
            JavaScript buffers alike); enforced on Linux, elsewhere only V8's heap is bounded.
        output_mb: text one execution may send back: what it prints, its SUBMIT, a tool call's arguments.
        timeout_s: the longest one execution may run before the sandbox is stopped.
    """

    memory_mb: int = 512
    output_mb: float = 1.0
    timeout_s: float = 120.0

    @classmethod
    def from_settings(cls, research: ResearchSettings) -> SandboxLimits:
        return cls(memory_mb=research.sandbox_memory_mb, output_mb=research.sandbox_output_mb)

    @property
    def output_bytes(self) -> int:
        return int(self.output_mb * MIB)

    @property
    def message_bytes(self) -> int:
        # The runner sends at most two texts of `output_bytes` characters (an error's message and arguments), and
        # JSON may spell a character in up to 6 bytes (\u001b); the rest of a message is small.
        return 12 * self.output_bytes + MIB


def find_deno() -> str:
    """The Deno binary shipped by the `deno` Python package (else one on PATH), or `SandboxUnavailableError`."""
    try:
        from deno import find_deno_bin

        return find_deno_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("deno")
    if found is None:
        raise SandboxUnavailableError(
            "Deno, which runs the code sandbox of explore research, is not installed: run `uv sync` "
            "(the `deno` Python package ships it) or install Deno 2 on PATH."
        )
    return found


def find_pyodide(pyodide_dir: Path | str | None = None) -> Path:
    """The directory holding Pyodide's files (`node_modules/pyodide` by default), or `SandboxUnavailableError`."""
    directory = Path(pyodide_dir) if pyodide_dir is not None else DEFAULT_PYODIDE_DIR
    needed = ("pyodide.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        how = (
            f"run `npm ci` in {REPO_ROOT}" if (REPO_ROOT / "package.json").is_file() else
            f"run `npm install pyodide@{PYODIDE_VERSION}` in a folder of your choice and set research.pyodide_dir "
            "in lmspace.yaml to its node_modules/pyodide"
        )
        raise SandboxUnavailableError(
            f"Pyodide, which the code sandbox of explore research runs, is missing from {directory} "
            f"(no {', '.join(missing)}): {how}."
        )
    return directory.resolve()


def find_runtime(pyodide_dir: Path | str | None = None) -> tuple[str, Path]:
    """Deno and Pyodide's directory, or `SandboxUnavailableError` (also on Windows, which has no `/dev/fd`)."""
    if os.name == "nt":
        raise SandboxUnavailableError(
            "The code sandbox of explore research runs on Linux and macOS only (it talks to Deno over /dev/fd); "
            "use a map plan instead."
        )
    return find_deno(), find_pyodide(pyodide_dir)


def deno_command(
    deno: str, pyodide_dir: Path, limits: SandboxLimits, control_in: str, control_out: str
) -> list[str]:
    """The Deno command line: read the Pyodide files, the worker and one pipe, write the other; nothing else."""
    return [
        deno,
        "run",
        "--no-config",
        "--no-lock",
        "--no-remote",
        "--no-npm",
        "--node-modules-dir=false",
        "--no-prompt",
        # Workers get only the permissions the runner names for them (read access to Pyodide's files).
        "--unstable-worker-options",
        # pyodide.asm.js is CommonJS; under Deno it needs this to be given `require` (for node:fs and friends).
        "--unstable-detect-cjs",
        f"--v8-flags=--max-old-space-size={limits.memory_mb}",
        f"--allow-read={pyodide_dir},{WORKER},{control_in}",
        f"--allow-write={control_out}",
        "--deny-net",
        "--deny-run",
        "--deny-env",
        "--deny-ffi",
        "--deny-sys",
        "--deny-import",
        str(RUNNER),
        f"--pyodide={pyodide_dir}",
        f"--output-limit={limits.output_bytes}",
        f"--control-in={control_in}",
        f"--control-out={control_out}",
    ]


class Sandbox(PythonInterpreter):
    """A Pyodide interpreter in a locked-down Deno process; a `dspy.RLM` interpreter.

    Args:
        tools: host functions callable from sandboxed code by name (RLM adds `llm_query` and its own).
        output_fields: the SUBMIT signature, `[{"name": ..., "type": ...}]` (RLM sets it).
        limits: memory, output and time the sandboxed code may use.
        pyodide_dir: where Pyodide's files are (default: `node_modules/pyodide` in the repository).
    """

    execution_instructions = (
        "Python (CPython 3.13 on WebAssembly, standard library only) runs in an isolated sandbox; state persists "
        "between executions. There is no network, no subprocess and no host file system: everything you need is "
        "in the input variables. Third-party packages (numpy, pandas...) are not available. Output is limited: "
        "print counts, slices and the first matches rather than whole files."
    )

    def __init__(
        self,
        tools: dict[str, Callable[..., Any]] | None = None,
        output_fields: list[dict] | None = None,
        *,
        limits: SandboxLimits = SandboxLimits(),
        pyodide_dir: Path | str | None = None,
    ) -> None:
        self._deno, self._pyodide = find_runtime(pyodide_dir)
        # The real command line is built per process, around its control pipes (`_spawn_process`).
        super().__init__(deno_command=[self._deno], tools=tools, output_fields=output_fields)
        self.limits = limits
        self.memory_capped = False
        self._process: SandboxProcess | None = None
        self._timed_out = False

    def _spawn_process(self) -> None:
        try:
            self._process = SandboxProcess(
                lambda control_in, control_out: deno_command(
                    self._deno, self._pyodide, self.limits, control_in, control_out
                ),
                _DENO_ENV,
                self.limits.message_bytes,
            )
        except OSError as error:
            raise SandboxUnavailableError(f"could not start Deno ({self._deno}): {error}") from error
        self.deno_process = self._process.popen
        self._with_deadline(
            self._health_check,
            STARTUP_TIMEOUT_S,
            CodeInterpreterError(f"the sandbox did not start within {STARTUP_TIMEOUT_S} s"),
        )
        self.memory_capped = self._process.cap_memory(self.limits.memory_mb * MIB)

    @with_callbacks
    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        """Run `code` in the sandbox with `variables` bound; return its printed output or a `FinalOutput`."""
        if self.deno_process is None:
            self.start()
        return self._with_deadline(
            lambda: self._execute(code, variables or {}),
            self.limits.timeout_s,
            SandboxLimitError(
                f"Sandboxed code ran longer than {self.limits.timeout_s:g} s and was stopped; its state is lost."
            ),
        )

    def _execute(self, code: str, variables: dict[str, Any]) -> Any:
        # DSPy's own preamble (its execute also tolerates stray lines, which here would be a forgery).
        if self._handling_tool_call:
            raise CodeInterpreterError("The sandbox cannot execute code from inside one of its own tools.")
        self._check_session_active()
        self._check_thread_ownership()
        code = self._inject_variables(code, variables)
        self._ensure_deno_process()
        self._register_tools()
        for name, value in self._pending_large_vars.items():
            self._inject_large_var(name, value)

        request_id = self._next_request_id()
        self._write_message(_jsonrpc_request("execute", {"code": code}, request_id), "during execution")
        while True:
            message = self._receive("during execution")
            if message.get("method") == "tool_call":
                self._handle_tool_call(message)
                continue
            if message.get("id") != request_id:
                self._end(CodeInterpreterError(f"The sandbox answered another request ({message.get('id')!r})."))
            if isinstance(result := message.get("result"), dict):
                return FinalOutput(result["final"]) if "final" in result else result.get("output")
            raise self._execution_error(message.get("error"))

    def _inject_variables(self, code: str, variables: dict[str, Any]) -> str:
        """Bind `variables` before `code`: small values as Python literals, large ones through Pyodide's file system.

        DSPy writes every value under 100 MB into the code as a literal, and Python's parser needs about ten times a
        literal's size in WebAssembly memory, which never shrinks: a 32 MB codebase took over 300 MiB of the memory
        budget. Sent as a file, a value costs its size once, and the file is deleted once read.
        """
        assignments, self._pending_large_vars = [], {}
        for name, value in variables.items():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise CodeInterpreterError(f"Invalid variable name: '{name}'")
            literal = self._serialize_value(value)
            if len(literal) > FILE_VARIABLE_CHARS:
                self._pending_large_vars[name] = json.dumps(self._to_json_compatible(value))
                literal = f"_lmspace_load_variable({name!r})"
            assignments.append(f"{name} = {literal}")
        return "\n".join([*assignments, code])

    def _execution_error(self, error: Any) -> Exception:
        """The exception for a failed execution: the code's own error, a limit it hit, or the end of the session."""
        if not isinstance(error, dict) or not isinstance(error.get("data", {}), dict):
            self._end(CodeInterpreterError(f"The sandbox sent a malformed error: {error!r:.300}"))
        code, message, data = error.get("code"), str(error.get("message", "unknown error")), error.get("data", {})
        if code == _LIMIT_ERROR:
            return SandboxCodeLimitError(self._limit_message(data.get("limit")))
        if code == JSONRPC_APP_ERRORS["SyntaxError"]:
            return SyntaxError(f"Invalid Python syntax. message: {message}")
        if code in JSONRPC_APP_ERRORS.values():
            return CodeExecutionError(f"{data.get('type', 'Error')}: {data.get('args') or message}")
        self._broken(message)

    def _limit_message(self, limit: Any) -> str:
        if limit == "memory":
            return (
                f"The sandboxed code ran out of memory: it may allocate {self.limits.memory_mb} MiB "
                "(research.sandbox_memory_mb). Keep less in variables, or work through the files a few at a time."
            )
        return (
            f"The sandboxed code sent more than {self.limits.output_mb:g} MiB in one execution "
            "(research.sandbox_output_mb), so its output was dropped. Print counts, slices and the first matches."
        )

    def _send_request(self, method: str, params: dict, context: str) -> dict:
        # Registration, large variables and the health check: exactly one answer, with this request's id.
        request_id = self._next_request_id()
        self._write_message(_jsonrpc_request(method, params, request_id), context)
        response = self._receive(context)
        if response.get("id") != request_id or not isinstance(response.get("result"), dict):
            error = response.get("error")
            self._broken(error.get("message") if isinstance(error, dict) else f"unexpected answer {context}")
        return response

    def _write_message(self, message: str, context: str) -> None:
        try:
            self._process.send(message)
        except (BrokenPipeError, ValueError):  # the runner is gone: say why
            self._exited(context)

    def _receive(self, context: str) -> dict:
        """The runner's next message; anything but a JSON-RPC 2.0 object ends the session."""
        try:
            line = self._process.receive()
        except MessageTooLarge as error:
            self._end(CodeInterpreterError(f"The sandbox broke the protocol {context}: {error}."))
        if line is None:
            self._exited(context)
        try:
            message = json.loads(line)
        except ValueError:
            self._end(CodeInterpreterError(f"The sandbox sent a line that is not JSON {context}: {line[:200]!r}."))
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self._end(CodeInterpreterError(f"The sandbox sent a message that is not JSON-RPC 2.0 {context}."))
        if message.get("id") is None:  # the runner only speaks unasked when the session is over
            error = message.get("error")
            self._broken(error.get("message") if isinstance(error, dict) else "an unsolicited message")
        return message

    def _exited(self, context: str) -> NoReturn:
        if self._timed_out:
            self._end(CodeInterpreterError(f"the sandbox was stopped {context}"))
        code, output = self._process.exit_report()
        if any(sign in output.lower() for sign in _OUT_OF_MEMORY):
            self._end(self._out_of_memory())
        self._end(CodeInterpreterError(f"The sandbox exited (code {code}) {context}: {output[-500:]!r}"))

    def _broken(self, reason: str) -> NoReturn:
        if any(sign in reason.lower() for sign in _OUT_OF_MEMORY):
            self._end(self._out_of_memory())
        self._end(CodeInterpreterError(f"The sandbox was stopped: {reason[:500]}"))

    def _out_of_memory(self) -> SandboxLimitError:
        return SandboxLimitError(self._limit_message("memory") + " The sandbox was stopped; its state is lost.")

    def _end(self, error: Exception) -> NoReturn:
        """End this session (its state cannot be trusted any more) and raise `error`."""
        self._session_ended = True
        if self._process is not None:
            self._process.kill()
        raise error

    @with_callbacks
    def shutdown(self) -> None:
        """Stop the sandbox; a stopped sandbox cannot be restarted (its Python state is gone)."""
        self._session_ended = True
        if self._process is not None:
            self._process.close(_jsonrpc_notification("shutdown"))
        self._process = None
        self.deno_process = None
        self._owner_thread = None

    def _with_deadline(self, work: Callable[[], Any], seconds: float, late: Exception) -> Any:
        self._timed_out = False
        timer = threading.Timer(seconds, self._stop_runaway)
        timer.daemon = True
        timer.start()
        try:
            return work()
        except (CodeInterpreterError, SandboxLimitError) as error:
            if self._timed_out:
                raise late from error
            raise
        finally:
            timer.cancel()

    def _stop_runaway(self) -> None:
        if self._process is not None and self._process.popen.poll() is None:
            self._timed_out = True
            self._process.kill()


def sandbox_factory(
    *, limits: SandboxLimits = SandboxLimits(), pyodide_dir: Path | str | None = None
) -> Callable[[], Sandbox]:
    """A zero-argument factory for `dspy.RLM(interpreter_factory=...)`; checks Deno and Pyodide up front."""
    find_runtime(pyodide_dir)

    def factory() -> Sandbox:
        return Sandbox(limits=limits, pyodide_dir=pyodide_dir)

    factory.execution_instructions = Sandbox.execution_instructions
    return factory
