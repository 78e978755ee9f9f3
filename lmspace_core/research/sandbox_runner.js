// Deno program that hosts the sandbox for code written by a model (see sandbox.py): the trusted half.
//
// It speaks line-delimited JSON-RPC 2.0 with the host, in the shape of DSPy's PythonInterpreter protocol, over two
// pipes the host hands over as file descriptors (--control-in, --control-out). It opens them while it may, then gives
// up every permission. The model's code never runs here: Pyodide runs it in a Worker (sandbox_worker.js), a separate
// JavaScript realm and heap with no permission beyond reading the Pyodide files, which it revokes once loaded. The
// worker cannot reach these pipes, this realm's objects or its prototypes; what it can write to the process's own
// stdout and stderr, the host drains and ignores. Everything the worker posts here is checked (shape, state, size)
// before the host sees it, so code in the sandbox can at worst end its own session, never speak for the runner.

const encoder = new TextEncoder();
const stringify = JSON.stringify;
const parse = JSON.parse;

// Error codes DSPy's PythonInterpreter maps back to exceptions (python_interpreter.py, JSONRPC_*_ERRORS), plus ours.
const PARSE_ERROR = -32700, INVALID_REQUEST = -32600, METHOD_NOT_FOUND = -32601;
const ERROR_CODES = {
  SyntaxError: -32000, NameError: -32001, TypeError: -32002, ValueError: -32003, AttributeError: -32004,
  IndexError: -32005, KeyError: -32006, RuntimeError: -32007, CodeInterpreterError: -32008,
};
const UNKNOWN_ERROR = -32099;
const LIMIT_ERROR = -32010; // the code hit a limit (data.limit names it); the session survives
const BROKEN_ERROR = -32011; // the worker broke the protocol or died; the session is over

function flag(name) {
  const prefix = `--${name}=`;
  const found = Deno.args.find((arg) => arg.startsWith(prefix));
  if (!found) throw new Error(`sandbox_runner.js needs ${prefix}...`);
  return found.slice(prefix.length);
}

const pyodideDir = flag("pyodide").replace(/\/?$/, "/");
const outputLimit = Number(flag("output-limit"));
const controlIn = Deno.openSync(flag("control-in"), { read: true });
const controlOut = Deno.openSync(flag("control-out"), { write: true });

// Messages go out whole and one after another. (FsFile.writable's writer, on a pipe, can report a write done that
// never reached it.)
let sending = Promise.resolve();
function send(message) {
  const write = async () => {
    let bytes = encoder.encode(stringify({ jsonrpc: "2.0", ...message }) + "\n");
    while (bytes.length) bytes = bytes.subarray(await controlOut.write(bytes));
  };
  sending = sending.then(write);
  return sending;
}

// Lines of the host's requests; a request can hold a whole codebase, so chunks are joined once per line.
async function* controlLines() {
  const decoder = new TextDecoderStream();
  let parts = [];
  for await (const text of controlIn.readable.pipeThrough(decoder)) {
    let start = 0, end;
    while ((end = text.indexOf("\n", start)) >= 0) {
      parts.push(text.slice(start, end));
      yield parts.join("");
      parts = [];
      start = end + 1;
    }
    if (start < text.length) parts.push(text.slice(start));
  }
  if (parts.length) yield parts.join("");
}

// The worker's messages, queued until the request in flight asks for the next one. One that arrives while no request
// is in flight can only come from the sandboxed code: it ends the session, and the host hears so at once.
class WorkerChannel {
  constructor(worker) {
    this.worker = worker;
    this.queue = [];
    this.waiting = null;
    this.busy = false;
    this.failure = null;
    worker.onmessage = (event) => this.arrive(event.data);
    worker.onmessageerror = () => this.fail("the sandbox sent a message that cannot be read");
    worker.onerror = (event) => {
      event.preventDefault();
      this.fail(`the sandbox stopped: ${event.message}`);
    };
  }

  arrive(message) {
    if (this.busy) {
      this.queue.push(message);
      this.wake();
    } else if (this.failure === null) {
      this.fail("the sandbox sent a message while it had no request");
      send({ error: { code: BROKEN_ERROR, message: this.failure, data: { type: "SandboxBroken" } }, id: null });
    }
  }

  fail(reason) {
    this.failure ??= reason;
    this.worker.terminate();
    this.wake();
  }

  wake() {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }

  async next() {
    while (this.queue.length === 0 && this.failure === null) await new Promise((resolve) => (this.waiting = resolve));
    if (this.failure !== null) throw new Error(this.failure);
    return this.queue.shift();
  }
}

function isText(value, limit = outputLimit) {
  return typeof value === "string" && value.length <= limit;
}

function checkJson(text, what) {
  if (!isText(text)) throw new Error(`the sandbox sent ${what} that is not JSON text within the output limit`);
  try {
    return parse(text);
  } catch {
    throw new Error(`the sandbox sent ${what} that is not valid JSON`);
  }
}

const worker = new Worker(new URL("sandbox_worker.js", import.meta.url).href, {
  type: "module",
  deno: {
    permissions: {
      read: [pyodideDir], write: false, net: false, env: false, run: false, ffi: false, sys: false, import: false,
    },
  },
});
const channel = new WorkerChannel(worker);
const lines = controlLines();
let registeredTools = new Set();
let toolCallCounter = 0;

// Sends `message` to the worker and serves its tool calls until it reports the outcome.
async function ask(message) {
  worker.postMessage(message);
  for (;;) {
    const reply = await channel.next();
    if (reply?.kind === "tool_call" && message.kind === "execute") await forwardToolCall(reply);
    else if (reply?.kind === "done") return reply;
    else throw new Error("the sandbox sent a message that is not part of the protocol");
  }
}

// Runs one request with the channel open to the worker's messages; one left over means the code posted its own.
// A failure is recorded before the channel closes, so it is the reason reported, whatever the worker posts next.
async function serve(request) {
  channel.busy = true;
  try {
    const outcome = await request();
    if (channel.queue.length) throw new Error("the sandbox sent a message that was not asked for");
    return outcome;
  } catch (error) {
    channel.fail(String(error?.message ?? error));
    throw error;
  } finally {
    channel.busy = false;
  }
}

// A tool call goes to the host as a JSON-RPC request; its answer is the next line the host writes.
async function forwardToolCall(call) {
  if (typeof call.name !== "string" || !registeredTools.has(call.name)) {
    throw new Error("the sandbox called a tool that was never registered");
  }
  const kwargs = checkJson(call.kwargs, "tool arguments");
  if (kwargs === null || typeof kwargs !== "object" || Array.isArray(kwargs)) {
    throw new Error("the sandbox sent tool arguments that are not an object");
  }
  const id = `tool_${++toolCallCounter}`;
  await send({ method: "tool_call", params: { name: call.name, kwargs }, id });
  const { value: line, done } = await lines.next();
  if (done) throw new Error("the host closed the control channel during a tool call");
  const reply = parse(line);
  if (reply.id !== id) throw new Error(`expected the reply to ${id}, got ${reply.id}`);
  const result = reply.error
    ? { error: `${reply.error.data?.type ?? "ToolError"}: ${reply.error.message}` }
    : { value: reply.result.value, type: reply.result.type };
  worker.postMessage({ kind: "tool_result", ...result });
}

// The outcome of one execution, rebuilt here from checked fields only.
function executionReply(outcome, id) {
  if (outcome.status === "output" && isText(outcome.output)) return { result: { output: outcome.output }, id };
  if (outcome.status === "final") return { result: { final: checkJson(outcome.final, "a final output") }, id };
  if (outcome.status === "limit" && (outcome.limit === "output" || outcome.limit === "memory")) {
    const data = { type: "SandboxLimit", limit: outcome.limit };
    return { error: { code: LIMIT_ERROR, message: `${outcome.limit} limit`, data }, id };
  }
  if (outcome.status === "error" && isText(outcome.type, 200) && isText(outcome.message)) {
    const args = checkJson(outcome.args, "error arguments");
    if (!Array.isArray(args)) throw new Error("the sandbox sent error arguments that are not a list");
    const code = Object.hasOwn(ERROR_CODES, outcome.type) ? ERROR_CODES[outcome.type] : UNKNOWN_ERROR;
    // DSPy reports `args` when there are some, else `message`; a SyntaxError is reported by its message.
    const data = { type: outcome.type, args: outcome.type === "SyntaxError" ? [] : args };
    return { error: { code, message: outcome.message, data }, id };
  }
  if (outcome.status === "fatal" && isText(outcome.message)) {
    throw new Error(`the sandbox's Python failed: ${outcome.message}`);
  }
  throw new Error("the sandbox sent an execution outcome that is not part of the protocol");
}

async function handle(method, params, id) {
  if (method === "execute") {
    if (typeof params.code !== "string") {
      return send({ error: { code: INVALID_REQUEST, message: "execute needs code" }, id });
    }
    return send(executionReply(await ask({ kind: "execute", code: params.code }), id));
  }
  if (method === "register") {
    const tools = (params.tools ?? []).map((tool) => (typeof tool === "string" ? { name: tool } : tool));
    const outcome = await ask({ kind: "register", tools, outputs: params.outputs ?? null });
    if (outcome.status !== "ok") throw new Error("the sandbox did not register the tools");
    registeredTools = new Set(tools.map((tool) => tool.name));
    return send({ result: { tools: [...registeredTools], outputs: (params.outputs ?? []).map((o) => o.name) }, id });
  }
  if (method === "inject_var") {
    const outcome = await ask({ kind: "inject_var", name: String(params.name), value: String(params.value) });
    if (outcome.status !== "ok") throw new Error("the sandbox did not store the variable");
    return send({ result: { injected: params.name }, id });
  }
  return send({ error: { code: METHOD_NOT_FOUND, message: `method not available in this sandbox: ${method}` }, id });
}

const ready = await serve(() => ask({ kind: "start", pyodideDir, outputLimit })).catch(() => null);
if (ready?.status !== "ok") {
  const message = `the sandbox did not start: ${ready?.message ?? channel.failure}`;
  await send({ error: { code: BROKEN_ERROR, message }, id: null });
  Deno.exit(1);
}
// The pipes are open and the worker has loaded Pyodide: nothing here needs a permission any more.
Deno.permissions.revokeSync({ name: "read" });
Deno.permissions.revokeSync({ name: "write" });

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
  try {
    await serve(() => handle(method, params, id));
  } catch {
    // Whatever went wrong mid-request (the worker broke the protocol or died, the host answered a tool call with
    // something else), the session can no longer be trusted to be in step: it has ended (serve), and says why.
    await send({ error: { code: BROKEN_ERROR, message: channel.failure, data: { type: "SandboxBroken" } }, id });
    break;
  }
}
worker.terminate();
await sending;
controlOut.close();
Deno.exit(0);
