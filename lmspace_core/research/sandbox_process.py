"""The Deno process of the research sandbox: its control pipes, its drained output, its memory cap.

The runner (`sandbox_runner.js`) and the host talk over two pipes of their own, handed to Deno as file descriptors
that only the runner opens. Deno's stdin is empty, and its stdout and stderr, which sandboxed code can write to, are
read by two threads that keep only the last few KiB (for a crash message): nothing written there can reach the
protocol, and no amount of it can fill a pipe and stall the process.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no resource limits
    resource = None

TAIL_BYTES = 16 * 1024
CLOSE_TIMEOUT_S = 5


class MessageTooLarge(Exception):
    """A line on the control channel ran past the host's limit before its end."""


class _Tail:
    """Reads a stream to its end on a daemon thread, keeping only its last `TAIL_BYTES`."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._kept = bytearray()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        fd = self._stream.fileno()
        while chunk := os.read(fd, 65536):
            self._kept += chunk
            del self._kept[:-TAIL_BYTES]

    def text(self) -> str:
        self._thread.join(timeout=1)
        return bytes(self._kept).decode("utf-8", "replace")

    def close(self) -> None:
        """Once the process has ended: let the reader reach the end, then close the stream."""
        self._thread.join(timeout=1)
        self._stream.close()


class SandboxProcess:
    """A started Deno sandbox: `send` and `receive` lines of the control protocol, `cap_memory`, `close`.

    Args:
        command: builds the Deno command line from the paths of the two control pipes (to read, to write).
        env: the whole environment Deno gets.
        message_limit: the longest line the host accepts from the runner, in bytes.
    """

    def __init__(self, command: Callable[[str, str], list[str]], env: Mapping[str, str], message_limit: int) -> None:
        to_runner_read, to_runner_write = os.pipe()
        from_runner_read, from_runner_write = os.pipe()
        try:
            self.popen = subprocess.Popen(
                command(_fd_path(to_runner_read), _fd_path(from_runner_write)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(to_runner_read, from_runner_write),
                env=dict(env),
            )
        except BaseException:
            for fd in (to_runner_write, from_runner_read):
                os.close(fd)
            raise
        finally:
            # The child holds its own copies; ours would keep the pipes open after it exits.
            os.close(to_runner_read)
            os.close(from_runner_write)
        self._to_runner = open(to_runner_write, "wb")
        self._from_runner = open(from_runner_read, "rb")
        self._message_limit = message_limit
        self._stdout = _Tail(self.popen.stdout)
        self._stderr = _Tail(self.popen.stderr)

    def send(self, line: str) -> None:
        """Write one protocol line; `BrokenPipeError` if the runner is gone."""
        self._to_runner.write(line.encode() + b"\n")
        self._to_runner.flush()

    def receive(self) -> bytes | None:
        """The next protocol line from the runner, or None once it has closed the channel (it exited)."""
        line = self._from_runner.readline(self._message_limit + 1)
        if not line:
            return None
        if not line.endswith(b"\n") and len(line) > self._message_limit:
            raise MessageTooLarge(f"a message from the sandbox is longer than {self._message_limit:,} bytes")
        return line

    def cap_memory(self, extra_bytes: int) -> bool:
        """Let the process commit at most `extra_bytes` more than it holds now; False where the OS cannot say so.

        On Linux, RLIMIT_DATA bounds every private writable mapping: the WebAssembly memory Python lives in, array
        buffers outside it and V8's heaps. Set once Pyodide is loaded, it leaves start-up alone and turns an
        allocation past the budget into a MemoryError (Python), a RangeError (JavaScript) or, for V8's own heap,
        the death of the process.
        """
        if resource is None or not hasattr(resource, "prlimit"):
            return False
        try:
            status = Path(f"/proc/{self.popen.pid}/status").read_text()
            match = re.search(r"^VmData:\s+(\d+) kB", status, re.MULTILINE)
            if match is None:
                return False
            ceiling = int(match.group(1)) * 1024 + extra_bytes
            resource.prlimit(self.popen.pid, resource.RLIMIT_DATA, (ceiling, ceiling))
        except OSError:
            return False
        return True

    def exit_report(self) -> tuple[int, str]:
        """Wait for the process to end; its exit code and the last of what it wrote to stderr and stdout."""
        code = self.popen.wait()
        return code, (self._stderr.text() + self._stdout.text()).strip()

    def close(self, farewell: str | None = None) -> None:
        """Say `farewell` (the shutdown notification) if the process still runs, then make sure it has ended."""
        if farewell is not None and self.popen.poll() is None:
            try:
                self.send(farewell)
            except OSError:
                pass
        for stream in (self._to_runner, self._from_runner):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.popen.wait(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._stdout.close()
        self._stderr.close()

    def kill(self) -> None:
        """Stop the process now (a deadline passed)."""
        if self.popen.poll() is None:
            self.popen.kill()


def _fd_path(fd: int) -> str:
    return f"/dev/fd/{fd}"
