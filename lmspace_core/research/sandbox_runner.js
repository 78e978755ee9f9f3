// Deno program that hosts Pyodide for code written by a model (see sandbox.py).
//
// It speaks the line-delimited JSON-RPC 2.0 protocol of DSPy's PythonInterpreter (dspy/primitives/runner.js), so the
// Python side is DSPy's own class, but it imports nothing remote: Pyodide is loaded from the local directory named by
// `--pyodide=DIR` (node_modules/pyodide, installed by `npm ci`) and stdin is split into lines here. Deno is started
// with read access to that directory only; once Pyodide is loaded, read access is revoked too, so code in the sandbox
// (Python, or JavaScript reached through Pyodide's `js` module) can read, write, connect to or run nothing.

const encoder = new TextEncoder();
const stdout = Deno.stdout.writable.getWriter();
const stringify = JSON.stringify;
const parse = JSON.parse;

// Protocol lines are written through references taken before any sandboxed code runs, so code that replaces
// `console` or `JSON` cannot interleave with them.
async function send(message) {
  await stdout.write(encoder.encode(stringify({ jsonrpc: "2.0", ...message }) + "\n"));
}

// Error codes DSPy's PythonInterpreter maps back to exceptions (python_interpreter.py, JSONRPC_*_ERRORS).
const PARSE_ERROR = -32700, INVALID_REQUEST = -32600, METHOD_NOT_FOUND = -32601;
const ERROR_CODES = {
  SyntaxError: -32000, NameError: -32001, TypeError: -32002, ValueError: -32003, AttributeError: -32004,
  IndexError: -32005, KeyError: -32006, RuntimeError: -32007, CodeInterpreterError: -32008,
};
const UNKNOWN_ERROR = -32099;

async function* stdinLines() {
  let pending = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, end);
      pending = pending.slice(end + 1);
    }
  }
  if (pending) yield pending;
}

function pyodideDirectory() {
  const flag = Deno.args.find((arg) => arg.startsWith("--pyodide="));
  if (!flag) throw new Error("sandbox_runner.js needs --pyodide=DIR (the node_modules/pyodide directory)");
  const url = new URL("file:///");
  url.pathname = flag.slice("--pyodide=".length).replace(/\/?$/, "/");
  return url;
}

const indexURL = pyodideDirectory();
const { loadPyodide } = await import(new URL("pyodide.mjs", indexURL).href);
// Under Deno, Pyodide takes its Node code path (node:fs), which wants a file system path rather than a URL.
// Raw writes to file descriptors 1/2 (os.write, C extensions) must not reach the protocol channel; print() output is
// captured per execution below.
const pyodide = await loadPyodide({ indexURL: decodeURIComponent(indexURL.pathname), stdout: () => {}, stderr: () => {} });
Deno.permissions.revokeSync({ name: "read" });

// Python helpers installed once: output capture, SUBMIT and tool stubs built from inspect.Signature (no code is
// generated from names sent by the host), and access to the exception that ended the last execution.
pyodide.runPython(`
import errno as _errno, inspect as _inspect, io as _io, json as _json, os as _os, posix as _posix, sys as _sys


class _LMSpaceSubmit(BaseException):
    """Raised by SUBMIT: ends the execution and carries the final outputs."""


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
        result = run_sync(call_host(name, _json.dumps({"kwargs": bound.arguments})))
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
    _lmspace_buffer = _sys.stdout = _sys.stderr = _io.StringIO()


def _lmspace_end():
    _sys.stdout, _sys.stderr = _lmspace_saved_streams
    return _lmspace_buffer.getvalue()


def _lmspace_last_error():
    """The exception that ended the last execution: its args, and its traceback through the sandboxed code only."""
    import traceback

    error = _sys.last_exc
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == "<exec>"]
    message = "".join(traceback.format_list(frames) + traceback.format_exception_only(error)).strip()
    try:
        return _json.dumps({"args": list(error.args), "message": message})
    except (TypeError, ValueError):
        return _json.dumps({"args": [repr(arg) for arg in error.args], "message": message})


def _lmspace_no_processes(*args, **kwargs):
    raise OSError(_errno.ENOSYS, "the sandbox cannot run processes")


# Deno refuses to spawn anyway, but Pyodide treats that refusal as a fatal error that ends the session.
_os.system = _posix.system = _lmspace_no_processes
_lmspace_install_submit(None)
`);
const py = Object.fromEntries(
  ["install_submit", "install_tool", "begin", "end", "last_error"].map((name) => [name, pyodide.globals.get(`_lmspace_${name}`)]),
);

const lines = stdinLines();
let toolCallCounter = 0;

// Called from Python (through run_sync) to run a host-side tool: the request goes out on stdout and the host's
// answer is the next line on stdin, since the host handles tool calls while it waits for an execution to finish.
async function callHostTool(name, argsJson) {
  const id = `tool_${++toolCallCounter}`;
  try {
    await send({ method: "tool_call", params: { name, kwargs: parse(argsJson).kwargs ?? {} }, id });
    const { value: line, done } = await lines.next();
    if (done) throw new Error("the host closed stdin during a tool call");
    const reply = parse(line);
    if (reply.id !== id) throw new Error(`expected the reply to ${id}, got ${reply.id}`);
    if (reply.error) {
      return { __lmspace_tool_error__: `${reply.error.data?.type ?? "ToolError"}: ${reply.error.message}` };
    }
    return reply.result.type === "json" ? parse(reply.result.value) : reply.result.value;
  } catch (error) {
    return { __lmspace_tool_error__: `tool ${name} failed: ${error.message}` };
  }
}

async function execute(code, id) {
  py.begin();
  let output;
  try {
    const value = await pyodide.runPythonAsync(code);
    output = py.end();
    if (!output && value !== undefined && value !== null) output = String(value);
    value?.destroy?.();
  } catch (error) {
    output = py.end();
    if (!error.type) {  // not a Python exception: a failure of the runner itself
      return send({ error: { code: UNKNOWN_ERROR, message: String(error?.message ?? error), data: { type: "Error" } }, id });
    }
    const { args, message } = parse(py.last_error());
    if (error.type === "_LMSpaceSubmit") return send({ result: { final: args[0] ?? null }, id });
    const code = ERROR_CODES[error.type] ?? UNKNOWN_ERROR;
    // DSPy reports `args` when there are some, else `message`; a SyntaxError is reported by its message.
    const data = { type: error.type, args: error.type === "SyntaxError" ? [] : args, output };
    return send({ error: { code, message, data }, id });
  }
  return send({ result: { output }, id });
}

function register(params, id) {
  const names = [];
  for (const tool of params.tools ?? []) {
    const { name, parameters } = typeof tool === "string" ? { name: tool, parameters: [] } : tool;
    py.install_tool(name, pyodide.toPy(parameters ?? []), callHostTool);
    names.push(name);
  }
  if (params.outputs) py.install_submit(pyodide.toPy(params.outputs));
  return send({ result: { tools: names, outputs: (params.outputs ?? []).map((o) => o.name) }, id });
}

// Variables too large for a Python literal arrive as JSON files in Pyodide's in-memory file system.
function injectVariable(params, id) {
  pyodide.FS.mkdirTree("/tmp/dspy_vars");
  pyodide.FS.writeFile(`/tmp/dspy_vars/${params.name}.json`, encoder.encode(params.value));
  return send({ result: { injected: params.name }, id });
}

for await (const line of lines) {
  let request;
  try {
    request = parse(line);
  } catch (error) {
    await send({ error: { code: PARSE_ERROR, message: `invalid JSON: ${error.message}` }, id: null });
    continue;
  }
  if (request?.jsonrpc !== "2.0") {
    await send({ error: { code: INVALID_REQUEST, message: "not a JSON-RPC 2.0 message" }, id: null });
    continue;
  }
  const { method, params = {}, id } = request;
  if (method === "shutdown") break;
  if (method === "sync_file") continue; // no host file is ever writable from here
  try {
    if (method === "execute") await execute(params.code ?? "", id);
    else if (method === "register") await register(params, id);
    else if (method === "inject_var") await injectVariable(params, id);
    else await send({ error: { code: METHOD_NOT_FOUND, message: `method not available in this sandbox: ${method}` }, id });
  } catch (error) {
    await send({ error: { code: ERROR_CODES.RuntimeError, message: String(error?.message ?? error) }, id });
  }
}
