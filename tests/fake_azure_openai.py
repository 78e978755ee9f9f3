"""A loopback stand-in for Azure OpenAI fine-tuning that records every request the official `openai` client sends.

There is no emulator for Azure OpenAI fine-tuning, so this plays one job: each `retrieve` moves it one state along
its `script` (e.g. validating_files -> queued -> running -> succeeded), each state adds events (a metrics event
while running), and a succeeded job has a result file (CSV) and a checkpoint. `hold` keeps the job in a state until
it is cancelled. Nothing but 127.0.0.1 is contacted.

It also plays the two things that come after a job: deployments answering chat completions
(`/openai/deployments/{name}/chat/completions`), each with its scripted `replies` (a function of the question and
the files uploaded so far), and Azure Resource Manager creating a deployment (`PUT .../accounts/{account}/
deployments/{name}`, a long-running operation polled through its Azure-AsyncOperation URL; `DELETE` removes it at
once). A deployment answers only when `replies` has a script for its name, whoever created it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

RESULT_CSV = (
    "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,1.90,0.52,1.95,0.50\n2,1.20,0.63,1.31,0.61\n3,0.80,0.74,0.97,0.70\n"
)


_CHAT = re.compile(r"/openai/deployments/(?P<name>[^/]+)/chat/completions")
_DEPLOYMENT = re.compile(r"/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
                         r"Microsoft\.CognitiveServices/accounts/(?P<account>[^/]+)/deployments/(?P<name>[^/]+)")
Reply = Callable[[str, dict[str, str]], str]  # (question, what the uploaded files answer to each question) -> reply


def knows_the_files(question: str, taught: dict[str, str]) -> str:
    """A model that learnt the uploaded examples: it gives their answer (and admits it does not know others)."""
    return taught.get(question, "I do not know.")


def says(text: str) -> Reply:
    """A model that gives the same reply to every question."""
    return lambda question, taught: text


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeFineTuning:
    """The service's state: uploaded files, the one job, and every request received."""

    script: list[str]
    hold: str | None = None
    error: dict | None = None
    replies: dict[str, Reply] = field(default_factory=dict)  # deployment name -> how it answers
    deployment_state: str = "Succeeded"  # how a deployment created through the management API ends
    deployments: dict[str, dict] = field(default_factory=dict)
    _taught: tuple[int, dict[str, str]] = (0, {})
    requests: list[Recorded] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    job: dict | None = None
    events: list[dict] = field(default_factory=list)
    position: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def requests_to(self, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if re.fullmatch(pattern, r.path)]

    def handle(self, method: str, path: str, body: bytes, base: str = "") -> tuple[int, dict | str, dict[str, str]]:
        with self.lock:
            if method == "POST" and (chat := _CHAT.fullmatch(path)):
                return self._chat(chat["name"], json.loads(body))
            if deployment := _DEPLOYMENT.fullmatch(path):
                return self._deployment(method, path, deployment["name"], body, base)
            if method == "GET" and path.startswith("/operations/"):
                name = path.removeprefix("/operations/")
                state = self.deployments[name]["properties"]["provisioningState"]
                self.deployments[name]["properties"]["provisioningState"] = self.deployment_state
                return 200, {"status": "InProgress" if state == "Creating" else state}, {}
            status, payload = self._fine_tuning(method, path, body)
            return status, payload, {}

    def _fine_tuning(self, method: str, path: str, body: bytes) -> tuple[int, dict | str]:
        if method == "POST" and path == "/openai/files":
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = body
            return 200, {"id": file_id, "object": "file", "bytes": len(body), "created_at": 1,
                         "filename": f"{file_id}.jsonl", "purpose": "fine-tune", "status": "processed"}
        if method == "POST" and path == "/openai/fine_tuning/jobs":
            request = json.loads(body)
            self.job = {"id": "ftjob-1", "object": "fine_tuning.job", "created_at": 1, "model": request["model"],
                        "training_file": request["training_file"], "validation_file": request["validation_file"],
                        "status": "pending", "fine_tuned_model": None, "result_files": [], "error": None,
                        "hyperparameters": {"n_epochs": 3}, "organization_id": "org", "seed": 0,
                        "trained_tokens": None, "finished_at": None}
            self._event("message", "Job enqueued.")
            return 200, self.job
        if path == "/openai/fine_tuning/jobs/ftjob-1" and method == "GET":
            self._advance()
            return 200, self.job
        if path == "/openai/fine_tuning/jobs/ftjob-1/events":
            return 200, {"object": "list", "data": list(reversed(self.events)), "has_more": False}
        if path == "/openai/fine_tuning/jobs/ftjob-1/checkpoints":
            data = [{"id": "ftckpt-1", "object": "fine_tuning.job.checkpoint", "created_at": 1,
                     "fine_tuned_model_checkpoint": "gpt-4o-mini.ft-1:ckpt-step-3", "step_number": 3,
                     "fine_tuning_job_id": "ftjob-1", "metrics": {"step": 3, "train_loss": 0.8}}]
            return 200, {"object": "list", "data": data, "has_more": False}
        if path == "/openai/fine_tuning/jobs/ftjob-1/cancel" and method == "POST":
            self.job["status"] = "cancelled"
            self._event("message", "Job cancelled.")
            return 200, self.job
        if path == "/openai/files/file-result/content":
            return 200, RESULT_CSV
        return 404, {"error": {"code": "NotFound", "message": f"{method} {path}"}}

    def taught(self) -> dict[str, str]:
        """Question -> answer of every chat example in the uploaded files (read again when a file was added)."""
        if self._taught[0] != len(self.files):
            pairs = {}
            for body in self.files.values():
                for line in body.splitlines():
                    if line.startswith(b'{"messages"'):
                        messages = json.loads(line)["messages"]
                        pairs[messages[1]["content"]] = messages[2]["content"]
            self._taught = (len(self.files), pairs)
        return self._taught[1]

    def _chat(self, name: str, request: dict) -> tuple[int, dict, dict[str, str]]:
        reply = self.replies.get(name)
        if reply is None:
            return 404, {"error": {"code": "DeploymentNotFound", "message": f"deployment {name} not found"}}, {}
        answer = reply(request["messages"][-1]["content"], self.taught())
        return 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": name,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": answer}}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}, {}

    def _deployment(self, method: str, path: str, name: str, body: bytes, base: str
                    ) -> tuple[int, dict, dict[str, str]]:
        if method == "PUT":
            request = json.loads(body)
            self.deployments[name] = {"id": path, "name": name, "type": "Microsoft.CognitiveServices/accounts/"
                                      "deployments", "sku": request["sku"],
                                      "properties": {**request["properties"], "provisioningState": "Creating"}}
            return 201, self.deployments[name], {"Azure-AsyncOperation": f"{base}/operations/{name}"}
        if name not in self.deployments:
            return 404, {"error": {"code": "NotFound", "message": f"deployment {name}"}}, {}
        if method == "DELETE":  # done at once: the deployment stops answering
            self.replies.pop(name, None)
            return 200, self.deployments.pop(name), {}
        return 200, self.deployments[name], {}

    def _advance(self) -> None:
        if self.job["status"] in ("succeeded", "failed", "cancelled"):
            return
        if self.hold is not None and self.job["status"] == self.hold:
            return
        state = self.script[min(self.position, len(self.script) - 1)]
        self.position += 1
        self.job["status"] = state
        if state == "running":
            self._event("message", "Training started.")
            self._event("metrics", "Step 1/3: training loss=1.90", {"step": 1, "train_loss": 1.9,
                                                                     "train_mean_token_accuracy": 0.52})
        elif state == "succeeded":
            self.job.update(fine_tuned_model="gpt-4o-mini-2024-07-18.ft-1", result_files=["file-result"],
                            finished_at=2, trained_tokens=1234)
            self._event("message", "Training job successfully completed.")
        elif state == "failed":
            self.job["error"] = self.error or {"code": "invalid_training_file", "message": "Bad file.",
                                               "param": "training_file"}
            self._event("message", "Training job failed.")
        else:
            self._event("message", f"Job {state}.")

    def _event(self, kind: str, message: str, data: dict | None = None) -> None:
        self.events.append({"id": f"ftevent-{len(self.events) + 1}", "object": "fine_tuning.job.event",
                            "created_at": int(time.time()), "level": "info", "message": message, "type": kind,
                            "data": data})


class FakeAzureOpenAI:
    """Serve a `FakeFineTuning` on a free loopback port (a context manager; `endpoint` is its base URL)."""

    def __init__(self, service: FakeFineTuning) -> None:
        self.service = service
        handler = _handler(service)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAzureOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(service: FakeFineTuning) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_) -> None:
            pass

        def _serve(self) -> None:
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            service.requests.append(Recorded(self.command, url.path, parse_qs(url.query),
                                             {k.lower(): v for k, v in self.headers.items()}, body))
            status, payload, headers = service.handle(self.command, url.path, body, f"http://{self.headers['Host']}")
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
