"""`embedder.provider: azure_openai` against a local stand-in of the service that records what the official
`openai` client sends: batches, dimension checks, 429 retried after `retry-after-ms`, 400 not retried."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lmspace_core.config import load_config
from lmspace_core.errors import ModelError
from lmspace_core.workspace import build_embedder
from tests.conftest import write_config


class StandIn:
    """Answers POST /openai/deployments/<deployment>/embeddings like Azure OpenAI; `script` holds forced answers."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, dict]] = []  # (status, headers, body) served before normal answers
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                stand_in.requests.append({"path": self.path, "api-key": self.headers.get("api-key"),
                                          "authorization": self.headers.get("authorization"), **body})
                if stand_in.script:
                    status, headers, answer = stand_in.script.pop(0)
                else:
                    status, headers = 200, {}
                    answer = {"object": "list", "model": "text-embedding-3-small", "usage": {},
                              "data": [{"object": "embedding", "index": i,
                                        "embedding": [float(i + 1)] * stand_in.dimension}
                                       for i in range(len(body["input"]))]}
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def service():
    stand_in = StandIn(1536)
    yield stand_in
    stand_in.server.shutdown()


@pytest.fixture
def embedder(service, tmp_path):
    settings = load_config(write_config(tmp_path), env={
        "LMSPACE_EMBEDDER__PROVIDER": "azure_openai", "LMSPACE_EMBEDDER__MODEL": "text-embedding-3-small",
        "LMSPACE_EMBEDDER__DEPLOYMENT": "emb", "LMSPACE_EMBEDDER__ENDPOINT": service.endpoint,
        "LMSPACE_EMBEDDER__API_VERSION": "2024-10-21", "LMSPACE_EMBEDDER__API_KEY": "env:TEST_AOAI_KEY",
        "LMSPACE_EMBEDDER__BATCH_SIZE": "2"})
    return build_embedder(settings)


def test_texts_are_sent_in_batches_and_come_back_normalised(embedder, service, monkeypatch):
    monkeypatch.setenv("TEST_AOAI_KEY", "secret-key-123")
    vectors = embedder.embed(["a", "b", "c", "d", "e"])
    assert vectors.shape == (5, 1536) and embedder.id == "azure-openai/text-embedding-3-small"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert [r["input"] for r in service.requests] == [["a", "b"], ["c", "d"], ["e"]]
    assert {r["path"].split("?")[0] for r in service.requests} == {"/openai/deployments/emb/embeddings"}
    assert {r["api-key"] for r in service.requests} == {"secret-key-123"}


def test_a_wrong_dimension_is_refused(embedder, service, monkeypatch):
    monkeypatch.setenv("TEST_AOAI_KEY", "k")
    service.dimension = 3072
    with pytest.raises(ModelError, match="returned 1 vectors of \\[3072\\] dimensions"):
        embedder.embed_query("q")


def test_throttling_is_retried_after_the_time_asked_and_bad_requests_are_not(embedder, service, monkeypatch):
    monkeypatch.setenv("TEST_AOAI_KEY", "k")
    service.script = [(429, {"retry-after-ms": "30"}, {"error": {"code": "429", "message": "slow down"}})] * 2
    assert embedder.embed_query("q").shape == (1536,)
    assert len(service.requests) == 3
    service.script = [(400, {}, {"error": {"code": "BadRequest", "message": "input too long"}})] * 3
    with pytest.raises(ModelError, match="BadRequestError"):
        embedder.embed_query("q")
    assert len(service.requests) == 4


def test_with_entra_id_a_bearer_token_is_sent_instead_of_a_key(service, tmp_path, monkeypatch):
    from azure.core.credentials import AccessToken

    from lmspace_core.stores.azure import clients

    class Credential:  # what DefaultAzureCredential returns after `az login`, without the network
        def get_token(self, *scopes, **options):
            assert scopes == ("https://cognitiveservices.azure.com/.default",)
            return AccessToken("entra-token", 2**31)

    monkeypatch.setattr(clients, "default_credential", lambda: Credential())
    settings = load_config(write_config(tmp_path), env={
        "LMSPACE_EMBEDDER__PROVIDER": "azure_openai", "LMSPACE_EMBEDDER__MODEL": "text-embedding-3-small",
        "LMSPACE_EMBEDDER__DEPLOYMENT": "emb", "LMSPACE_EMBEDDER__ENDPOINT": service.endpoint,
        "LMSPACE_EMBEDDER__API_VERSION": "2024-10-21", "LMSPACE_EMBEDDER__AUTH": "entra"})
    build_embedder(settings).embed_query("q")
    assert service.requests[0]["authorization"] == "Bearer entra-token"
    assert service.requests[0]["api-key"] is None
