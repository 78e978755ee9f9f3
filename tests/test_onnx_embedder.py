"""The default embedder: all-MiniLM-L6-v2 as int8 ONNX, close to fp32, cached by model hash, no torch, no device id."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lmspace_core.config import load_config
from lmspace_core.embeddings.onnx_export import RECIPE
from lmspace_core.embeddings.onnx_int8 import OnnxInt8Embedder, default_ingest_threads, packaged_model_dir
from lmspace_core.ingest.chunking import chunk_document
from lmspace_core.ingest.inputs import memory_source
from lmspace_core.ingest.loaders import load
from lmspace_core.ingest.pipeline import embedding_text
from lmspace_core.workspace import build_embedder
from tests.conftest import DATA, MODEL_CACHE, write_config

REPO = Path(__file__).parent.parent
RETRIEVAL = DATA / "retrieval"


def retrieval_set_texts() -> list[str]:
    """What the embedder sees for the retrieval set: every chunk as ingested, and every question."""
    texts = []
    for path in sorted(p for p in RETRIEVAL.iterdir() if p.suffix in {".md", ".txt"}):
        document = load(memory_source(path.name, path.read_bytes()))
        texts += [embedding_text(document.title, chunk) for chunk in chunk_document(document, 250, 40)]
    return texts + [q["question"] for q in json.loads((RETRIEVAL / "questions.json").read_text())]


def test_int8_is_the_default_embedder_with_an_id_of_its_own(tmp_path):
    settings = load_config(write_config(tmp_path), env={})
    embedder = build_embedder(settings)
    assert embedder.id == "onnx-int8/all-MiniLM-L6-v2"
    fp32 = load_config(write_config(tmp_path), env={"LMSPACE_EMBEDDER__PROVIDER": "sentence_transformers"})
    assert build_embedder(fp32).id != embedder.id  # never compared with fp32 vectors: spaces are re-embedded


def test_int8_vectors_are_within_0_98_cosine_of_fp32_on_the_retrieval_set():
    from lmspace_core.embeddings.sentence_transformer import SentenceTransformerEmbedder

    texts = retrieval_set_texts()
    int8 = OnnxInt8Embedder(MODEL_CACHE).embed(texts)
    fp32 = SentenceTransformerEmbedder().embed(texts)
    cosines = np.sum(int8 * fp32, axis=1)
    print(f"cosine to fp32 over {len(texts)} texts: min {cosines.min():.4f}, mean {cosines.mean():.4f}")
    assert cosines.min() >= 0.98
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)


def test_a_query_is_embedded_like_the_same_text_as_a_passage():
    embedder = OnnxInt8Embedder(MODEL_CACHE)
    passages = embedder.embed(["How many days of leave do I get?", "a much longer passage " * 40])
    # Not bit-identical: dynamic int8 scales activations per batch, so batch-mates move a vector slightly.
    assert float(embedder.embed_query("How many days of leave do I get?") @ passages[0]) > 0.99


def test_the_built_model_is_cached_under_the_hash_of_the_packaged_weights():
    OnnxInt8Embedder(MODEL_CACHE).embed_query("warm")
    weights = packaged_model_dir() / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    model = MODEL_CACHE / "onnx" / f"all-MiniLM-L6-v2-{digest[:16]}-{RECIPE}" / "model.onnx"
    assert model.is_file()
    built = model.stat().st_mtime_ns
    OnnxInt8Embedder(MODEL_CACHE).embed(["a second embedder reuses the built model"])
    assert model.stat().st_mtime_ns == built


def test_embedding_imports_no_torch_and_leaves_no_onnxruntime_device_id(tmp_path):
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from lmspace_core.embeddings.onnx_int8 import OnnxInt8Embedder\n"
        f"embedder = OnnxInt8Embedder(Path({str(MODEL_CACHE)!r}))\n"
        "embedder.embed(['a passage about leave'])\n"
        "embedder.embed_query('how much leave')\n"
        "assert not {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules), 'torch was imported'\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**env, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / ".cache")})
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / ".cache" / "Microsoft").exists()


def test_niced_ingest_threads_use_every_core_unniced_ones_leave_one_free_and_both_follow_the_setting(tmp_path):
    cores = len(os.sched_getaffinity(0))
    assert default_ingest_threads() == cores  # at the default nice 10 a query still gets a core first
    assert default_ingest_threads(nice=0) == max(1, cores - 1)
    assert build_embedder(load_config(write_config(tmp_path), env={})).ingest_threads == cores
    unniced = load_config(write_config(tmp_path), env={"LMSPACE_EMBEDDER__INGEST_NICE": "0"})
    assert build_embedder(unniced).ingest_threads == max(1, cores - 1)
    configured = load_config(write_config(tmp_path), env={"LMSPACE_EMBEDDER__INGEST_THREADS": "3"})
    assert build_embedder(configured).ingest_threads == 3


def test_a_query_stays_fast_while_passages_are_embedded_in_the_same_process():
    embedder = OnnxInt8Embedder(MODEL_CACHE)
    passage = " ".join(retrieval_set_texts()[:3])
    embedder.embed([passage])
    embedder.embed_query("warm up")
    stop = threading.Event()

    def ingest() -> None:
        while not stop.is_set():
            embedder.embed([passage] * 16)

    worker = threading.Thread(target=ingest)
    worker.start()
    try:
        samples = []
        for number in range(30):
            started = time.perf_counter()
            embedder.embed_query(f"how many days of leave do I get in year {number}")
            samples.append(time.perf_counter() - started)
    finally:
        stop.set()
        worker.join()
    # Sharing one session and its thread pool with the ingest made this 200-400 ms; on its own thread it is a few.
    assert statistics.median(samples) < 0.06, samples


def embedding_threads() -> dict[int, threading.Thread]:
    return {thread.native_id: thread for thread in threading.enumerate() if thread.name.startswith("lmspace-embed")}


@pytest.mark.skipif(sys.platform != "linux", reason="Linux sets a priority per thread")
def test_passages_are_embedded_at_lowered_priority_and_queries_at_the_callers(tmp_path):
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    settings = load_config(write_config(tmp_path), env={"LMSPACE_EMBEDDER__INGEST_NICE": "7"})
    embedder = build_embedder(settings)
    before = embedding_threads()  # other tests' embedders may still hold theirs
    embedder.embed(["a passage embedded by an ingest"])
    embedder.embed_query("a query someone waits for")
    started = set(embedding_threads()) - set(before)
    assert len(started) == 1
    assert os.getpriority(os.PRIO_PROCESS, started.pop()) == max(7, caller)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller


@pytest.mark.parametrize("threads", ["0", "many"])
def test_a_bad_ingest_thread_count_is_a_config_error(tmp_path, threads):
    from lmspace_core.errors import ConfigError

    with pytest.raises(ConfigError, match="LMSPACE_EMBEDDER__INGEST_THREADS"):
        load_config(write_config(tmp_path), env={"LMSPACE_EMBEDDER__INGEST_THREADS": threads})


def test_a_space_embedded_with_fp32_is_refused_by_the_int8_default_until_reembedded(tmp_path):
    from lmspace_core.errors import EmbedderMismatchError
    from lmspace_core.workspace import Workspace

    config = write_config(tmp_path)
    fp32 = Workspace(load_config(config, env={"LMSPACE_EMBEDDER__PROVIDER": "sentence_transformers"}))
    space = fp32.create_space("old")
    fp32.ingest(space, {"badges.md": "# Badges\n\nBadges are renewed every January by the security office."})
    fp32.close()

    int8 = Workspace(load_config(config, env={}))
    try:
        with pytest.raises(EmbedderMismatchError, match="lmspace spaces reembed old"):
            int8.search(int8.space("old"), "when are badges renewed")
        int8.reembed_space(int8.space("old"))
        space = int8.space("old")
        assert space.embedder_id == "onnx-int8/all-MiniLM-L6-v2"
        assert int8.search(space, "when are badges renewed")[0].document.source == "badges.md"
    finally:
        int8.close()
