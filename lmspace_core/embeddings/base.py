"""The embedder protocol every implementation (local model, Azure OpenAI) satisfies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Encodes text into unit-length float32 vectors, so that a dot product is a cosine similarity.

    `id` names the model and its settings; a space records the id it was built with, and vectors from two
    different ids are never compared.
    """

    @property
    def id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a `(len(texts), dimension)` float32 matrix of normalised passage vectors."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Return one normalised float32 vector for a search query."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length as float32; zero rows stay zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
