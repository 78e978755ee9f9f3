// The Worker of the sandbox (see sandbox_runner.js): loads Pyodide and runs the model's code. Untrusted by design.
//
// It is started with read access to the Pyodide directory only and revokes that once Pyodide is loaded, so code here
// (Python, or JavaScript reached through Pyodide's `js` module) can read, write, connect to or run nothing. It talks
// to the runner by postMessage only; the runner checks every message, since the sandboxed code can post its own.

// Python helpers installed once: bounded output capture, SUBMIT and tool stubs built from inspect.Signature (no code
// is generated from names sent by the host), and the outcome of an execution as JSON for the runner.
const HELPERS = `
import errno as _errno, inspect as _inspect, io as _io, json as _json, os as _os, posix as _posix, sys as _sys


class _LMSpaceSubmit(BaseException):
    """Raised by SUBMIT: ends the execution and carries the final outputs."""


class _LMSpaceOutputLimit(BaseException):
    """Raised by a write that takes the execution's output past the limit; user code cannot catch it as Exception."""


class _LMSpaceOutput(_io.TextIOBase):
    """print()'s target during an execution: keeps at most \`limit\` bytes of UTF-8, then refuses every write."""

    def __init__(self, limit):
        self._parts, self._size, self._limit, self.overflowed = [], 0, limit, False

    def writable(self):
        return True

    def write(self, text):
        self._size += len(str(text).encode("utf-8", "surrogatepass"))
        if self._size > self._limit:
            self.overflowed = True
            raise _LMSpaceOutputLimit()
        self._parts.append(str(text))
        return len(text)

    def getvalue(self):
        return "".join(self._parts)


def _lmspace_signature(parameters):
    return _inspect.Signature([
        _inspect.Parameter(p["name"], _inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           **({"default": p["default"]} if "default" in p else {}))
        for p in parameters
    ])


def _lmspace_install_submit(outputs):
    signature = _lmspace_signature(outputs or [{"name": "output"}])

    def SUBMIT(*args, **kwargs):
        raise _LMSpaceSubmit(dict(signature.bind(*args, **kwargs).arguments))

    SUBMIT.__signature__ = signature
    globals()["SUBMIT"] = SUBMIT


def _lmspace_install_tool(name, parameters, call_host):
    from pyodide.ffi import JsProxy, run_sync
    signature = _lmspace_signature(parameters)

    def tool(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = _json.dumps(bound.arguments, default=str)
        if len(arguments) > _lmspace_limit:
            raise ValueError(f"the arguments of {name} are {len(arguments):,} characters, over the sandbox's output "
                             f"limit of {_lmspace_limit:,}; pass less")
        result = run_sync(call_host(name, arguments))
        result = result.to_py() if isinstance(result, JsProxy) else result
        if isinstance(result, dict) and "__lmspace_tool_error__" in result:
            raise RuntimeError(result["__lmspace_tool_error__"])
        return result

    tool.__name__ = tool.__qualname__ = name
    tool.__signature__ = signature
    globals()[name] = tool


def _lmspace_begin():
    global _lmspace_buffer, _lmspace_saved_streams
    _lmspace_saved_streams = (_sys.stdout, _sys.stderr)
    _lmspace_buffer = _sys.stdout = _sys.stderr = _LMSpaceOutput(_lmspace_limit)


def _lmspace_end(value):
    """The outcome of an execution that returned \`value\`: its printed output, else the value as text."""
    _sys.stdout, _sys.stderr = _lmspace_saved_streams
    output = _lmspace_buffer.getvalue()
    if not output and value is not None:
        output = str(value)
    if _lmspace_buffer.overflowed or len(output.encode("utf-8", "surrogatepass")) > _lmspace_limit:
        return _json.dumps({"status": "limit", "limit": "output"})
    return _json.dumps({"status": "output", "output": output})


def _lmspace_failure():
    """The outcome of an execution that raised: SUBMIT, a limit, or an error with its traceback through the code."""
    import traceback

    _sys.stdout, _sys.stderr = _lmspace_saved_streams
    error = _sys.last_exc
    if isinstance(error, _LMSpaceSubmit):
        try:
            final = _json.dumps(error.args[0])
        except (TypeError, ValueError):
            final = _json.dumps(repr(error.args[0]))
        if len(final) > _lmspace_limit:
            return _json.dumps({"status": "limit", "limit": "output"})
        return _json.dumps({"status": "final", "final": final})
    if isinstance(error, _LMSpaceOutputLimit) or _lmspace_buffer.overflowed:
        return _json.dumps({"status": "limit", "limit": "output"})
    if isinstance(error, MemoryError) or "Array buffer allocation failed" in str(error)[:200]:
        return _json.dumps({"status": "limit", "limit": "memory"})
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == "<exec>"]
    message = "".join(traceback.format_list(frames) + traceback.format_exception_only(error)).strip()
    try:
        args = _json.dumps(list(error.args))
    except (TypeError, ValueError):
        args = _json.dumps([repr(arg) for arg in error.args])
    if len(args) > _lmspace_limit:
        args = "[]"
    return _json.dumps({"status": "error", "type": type(error).__name__[:200], "message": message[:_lmspace_limit],
                        "args": args})


def _lmspace_load_variable(name):
    """A variable the host sent as a file (injectVariable below): read once, then the file is deleted."""
    path = f"/tmp/dspy_vars/{name}.json"
    with open(path) as file:
        value = _json.load(file)
    _os.remove(path)
    return value


def _lmspace_no_processes(*args, **kwargs):
    raise OSError(_errno.ENOSYS, "the sandbox cannot run processes")


# Deno refuses to spawn anyway, but Pyodide treats that refusal as a fatal error that ends the session.
_os.system = _posix.system = _lmspace_no_processes
_lmspace_install_submit(None)
`;

const post = self.postMessage.bind(self);
let pyodide, py, pendingTool = null;

async function start({ pyodideDir, outputLimit }) {
  const url = new URL("file:///");
  url.pathname = `${pyodideDir}pyodide.mjs`;
  const { loadPyodide } = await import(url.href);
  // Under Deno, Pyodide takes its Node code path (node:fs), which wants a file system path rather than a URL. Raw
  // writes to file descriptors 1/2 (os.write, C extensions) are dropped; print() output is captured per execution.
  pyodide = await loadPyodide({ indexURL: pyodideDir, stdout: () => {}, stderr: () => {} });
  Deno.permissions.revokeSync({ name: "read" });
  pyodide.globals.set("_lmspace_limit", outputLimit);
  pyodide.runPython(HELPERS);
  py = Object.fromEntries(
    ["install_submit", "install_tool", "begin", "end", "failure"]
      .map((name) => [name, pyodide.globals.get(`_lmspace_${name}`)]),
  );
  return { status: "ok" };
}

// Called from Python (through run_sync): the runner forwards the call to the host and posts back its answer.
function callHostTool(name, kwargs) {
  return new Promise((resolve) => {
    pendingTool = resolve;
    post({ kind: "tool_call", name, kwargs });
  });
}

function toolResult(message) {
  const resolve = pendingTool;
  pendingTool = null;
  if (message.error !== undefined) return resolve?.({ __lmspace_tool_error__: message.error });
  resolve?.(message.type === "json" ? JSON.parse(message.value) : message.value);
}

async function execute({ code }) {
  py.begin();
  let value;
  try {
    value = await pyodide.runPythonAsync(code);
  } catch (error) {
    if (!error.type) return { status: "fatal", message: String(error?.message ?? error) }; // Pyodide itself failed
    return JSON.parse(py.failure());
  }
  try {
    return JSON.parse(py.end(value));
  } finally {
    value?.destroy?.();
  }
}

function register({ tools, outputs }) {
  for (const { name, parameters } of tools) py.install_tool(name, pyodide.toPy(parameters ?? []), callHostTool);
  if (outputs) py.install_submit(pyodide.toPy(outputs));
  return { status: "ok" };
}

// Variables too large for a Python literal arrive as JSON files in Pyodide's in-memory file system.
function injectVariable({ name, value }) {
  pyodide.FS.mkdirTree("/tmp/dspy_vars");
  pyodide.FS.writeFile(`/tmp/dspy_vars/${name}.json`, new TextEncoder().encode(value));
  return { status: "ok" };
}

const HANDLERS = { start, execute, register, inject_var: injectVariable };

self.onmessage = async ({ data: message }) => {
  if (message.kind === "tool_result") return toolResult(message);
  let outcome;
  try {
    outcome = await HANDLERS[message.kind](message);
  } catch (error) {
    outcome = { status: "fatal", message: String(error?.message ?? error) };
  }
  post({ kind: "done", ...outcome });
};
