"""Embeddings from an Azure OpenAI deployment (`embedder.provider: azure_openai`), with a key or Entra ID (the
process's one `DefaultAzureCredential`, shared with the Azure stores).

Texts go in batches of `embedder.batch_size` (the service takes up to 2048 inputs per request) through the same
retry policy as the Azure stores (429 waits what `retry-after-ms` / `Retry-After` say; 4xx other than 429 fail at
once). Every vector returned must have the model's dimension, or the call fails: a space never mixes dimensions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lmspace_core.config import EmbedderSettings
from lmspace_core.embeddings.base import normalise
from lmspace_core.errors import ConfigError, ModelError
from lmspace_core.stores.azure.retry import call_with_retries

# Output sizes of the Azure OpenAI embedding models (their default `dimensions`).
DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048


class AzureOpenAIEmbedder:
    """`Embedder` over the `openai` client's `AzureOpenAI`; SDK retries off, ours on."""

    def __init__(self, connect: Callable[[], Any], deployment: str, model: str, batch_size: int = 32) -> None:
        """`connect()` builds the client on first use (it resolves the key), so asking the id costs nothing."""
        if model not in DIMENSIONS:
            raise ConfigError(f"embedder.model: '{model}' is not a known Azure OpenAI embedding model "
                              f"({', '.join(DIMENSIONS)}); set it to the model your deployment serves.")
        self._connect = connect
        self._client: Any = None
        self._deployment = deployment
        self._model = model
        self._batch_size = min(batch_size, MAX_INPUTS)

    @property
    def id(self) -> str:
        return f"azure-openai/{self._model}"

    @property
    def dimension(self) -> int:
        return DIMENSIONS[self._model]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        batches = [self._embed_batch(list(texts[start : start + self._batch_size]))
                   for start in range(0, len(texts), self._batch_size)]
        return np.concatenate(batches) if batches else np.zeros((0, self.dimension), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import openai

        if self._client is None:
            self._client = self._connect()
        try:
            response = call_with_retries(lambda: self._client.embeddings.create(model=self._deployment, input=texts))
        except openai.APIError as error:
            raise ModelError(f"Azure OpenAI embeddings failed ({type(error).__name__}): "
                             f"{str(error).splitlines()[0][:300]}") from None
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts) or any(len(row.embedding) != self.dimension for row in rows):
            sizes = sorted({len(row.embedding) for row in rows})
            raise ModelError(f"Azure OpenAI deployment '{self._deployment}' returned {len(rows)} vectors of "
                             f"{sizes} dimensions for {len(texts)} texts; {self._model} has {self.dimension}.")
        return normalise(np.asarray([row.embedding for row in rows], dtype=np.float32))


def build_azure_openai_embedder(settings: EmbedderSettings) -> AzureOpenAIEmbedder:
    def connect() -> Any:
        from openai import AzureOpenAI

        if settings.auth == "entra":
            from lmspace_core.lm import entra_token_provider

            credential = {"azure_ad_token_provider": entra_token_provider()}
        else:
            from lmspace_core.lm import resolve_secret

            credential = {"api_key": resolve_secret(settings.api_key)}
        return AzureOpenAI(azure_endpoint=settings.endpoint, api_version=settings.api_version, max_retries=0,
                           **credential)

    return AzureOpenAIEmbedder(connect, settings.deployment, settings.model, settings.batch_size)
