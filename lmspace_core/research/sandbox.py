"""The sandbox that runs code written by a language model (explore research with `dspy.RLM`).

It is DSPy's own `PythonInterpreter` (Pyodide, i.e. CPython compiled to WebAssembly, inside a Deno process) with two
changes that make it work offline and tighten it:

- Pyodide comes from `node_modules/pyodide` (the npm package pinned in `package.json`; `npm ci` installs it) and the
  runner is `sandbox_runner.js` beside this file, which imports nothing remote. DSPy's runner imports Pyodide and
  Deno's standard library from the network at start-up, which fails on a machine without internet access.
- Deno starts with read access to the Pyodide files only (no network, no subprocesses, no writes, no environment,
  no FFI, no system information), and the runner revokes even that once Pyodide is loaded. Code in the sandbox sees
  Pyodide's in-memory file system; reaching for the host through Pyodide's `js` module (`js.Deno.readTextFile`,
  `js.fetch`, `js.Deno.Command`) is refused by Deno's permission checks.

An execution that runs longer than `timeout_s` (or a start-up longer than a minute) stops the Deno process: a sandbox
cannot hang a research job.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dspy.primitives.code_interpreter import CodeInterpreterError
from dspy.primitives.python_interpreter import PythonInterpreter

from lmspace_core.errors import LMSpaceError, SandboxUnavailableError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PYODIDE_DIR = REPO_ROOT / "node_modules" / "pyodide"
RUNNER = Path(__file__).with_name("sandbox_runner.js")
DEFAULT_TIMEOUT_S = 120.0
STARTUP_TIMEOUT_S = 60

# The variables Deno itself reads; the sandboxed program is given none (it has no --allow-env either).
_DENO_ENV = {"DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PACKAGE_JSON": "1", "NO_COLOR": "1"}


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
        raise SandboxUnavailableError(
            f"Pyodide, which the code sandbox of explore research runs, is missing from {directory} "
            f"(no {', '.join(missing)}): run `npm ci` in {REPO_ROOT}."
        )
    return directory.resolve()


def deno_command(deno: str, pyodide_dir: Path) -> list[str]:
    """The Deno command line: read access to the Pyodide files and nothing else, no prompts, no remote imports."""
    return [
        deno,
        "run",
        "--no-config",
        "--no-lock",
        "--no-remote",
        "--no-npm",
        "--node-modules-dir=false",
        "--no-prompt",
        # pyodide.asm.js is CommonJS; under Deno it needs this to be given `require` (for node:fs and friends).
        "--unstable-detect-cjs",
        f"--allow-read={pyodide_dir}",
        "--deny-net",
        "--deny-run",
        "--deny-write",
        "--deny-env",
        "--deny-ffi",
        "--deny-sys",
        "--deny-import",
        str(RUNNER),
        f"--pyodide={pyodide_dir}",
    ]


class Sandbox(PythonInterpreter):
    """A Pyodide interpreter in a locked-down Deno process; a `dspy.RLM` interpreter.

    Args:
        tools: host functions callable from sandboxed code by name (RLM adds `llm_query` and its own).
        output_fields: the SUBMIT signature, `[{"name": ..., "type": ...}]` (RLM sets it).
        timeout_s: the longest one execution may run before the sandbox is stopped.
        pyodide_dir: where Pyodide's files are (default: `node_modules/pyodide` in the repository).
    """

    execution_instructions = (
        "Python (CPython 3.13 on WebAssembly, standard library only) runs in an isolated sandbox; state persists "
        "between executions. There is no network, no subprocess and no host file system: everything you need is "
        "in the input variables. Third-party packages (numpy, pandas...) are not available."
    )

    def __init__(
        self,
        tools: dict[str, Callable[..., Any]] | None = None,
        output_fields: list[dict] | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pyodide_dir: Path | str | None = None,
    ) -> None:
        deno = find_deno()
        pyodide = find_pyodide(pyodide_dir)
        super().__init__(deno_command=deno_command(deno, pyodide), tools=tools, output_fields=output_fields)
        self.timeout_s = timeout_s
        self._timed_out = False

    def _spawn_process(self) -> None:
        # DSPy's own spawn hands the whole environment to Deno; ours gives it only Deno's switches.
        try:
            self.deno_process = subprocess.Popen(
                self.deno_command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                env=_DENO_ENV,
            )
        except OSError as error:
            raise SandboxUnavailableError(f"could not start Deno ({self.deno_command[0]}): {error}") from error
        self._with_deadline(
            self._health_check, STARTUP_TIMEOUT_S, f"the sandbox did not start within {STARTUP_TIMEOUT_S} s"
        )

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        """Run `code` in the sandbox with `variables` bound; return its printed output or a `FinalOutput`."""
        if self.deno_process is None:
            self.start()
        return self._with_deadline(
            lambda: super(Sandbox, self).execute(code, variables),
            self.timeout_s,
            f"sandboxed code ran longer than {self.timeout_s:g} s and was stopped; its state is lost",
        )

    def _with_deadline(self, work: Callable[[], Any], seconds: float, message: str) -> Any:
        timer = threading.Timer(seconds, self._stop_runaway)
        timer.daemon = True
        timer.start()
        try:
            return work()
        except CodeInterpreterError as error:
            if self._timed_out:
                raise CodeInterpreterError(message) from error
            raise
        finally:
            timer.cancel()

    def _stop_runaway(self) -> None:
        process = self.deno_process
        if process is not None and process.poll() is None:
            self._timed_out = True
            process.kill()


def sandbox_factory(
    *, timeout_s: float = DEFAULT_TIMEOUT_S, pyodide_dir: Path | str | None = None
) -> Callable[[], Sandbox]:
    """A zero-argument factory for `dspy.RLM(interpreter_factory=...)`; checks Deno and Pyodide up front."""
    find_deno()
    find_pyodide(pyodide_dir)

    def factory() -> Sandbox:
        return Sandbox(timeout_s=timeout_s, pyodide_dir=pyodide_dir)

    factory.execution_instructions = Sandbox.execution_instructions
    return factory
