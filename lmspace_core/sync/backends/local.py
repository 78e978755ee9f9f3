"""The `local` backend: fine-tune the space's embedding model on its (question, passage) pairs, on this machine.

Training is contrastive (in-batch negatives, the loss sentence-transformers calls MultipleNegativesRankingLoss),
written as a plain loop so each step's loss is reported and a cancel request is seen between steps. Retrieval is
measured before and after on held-out pairs (mean reciprocal rank of the grounding passage among all the dataset's
passages): the validation split, plus the space's saved examples (from chat, or written) whose answer one passage
alone contains, that passage being what retrieval should find. The manager activates the new model only if it ranks
better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmspace_core.examples import SpaceExample
from lmspace_core.sync.backends.base import Outcome, Reporter
from lmspace_core.sync.model import Dataset, Example, Metric, Split, SyncStatus
from lmspace_core.sync.store import new_id

SCALE = 20.0  # cosine similarities times this are the logits, as in sentence-transformers' ranking loss


@dataclass(frozen=True)
class LocalTraining:
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 2e-5
    seed: int = 0


@dataclass(frozen=True)
class Retrieval:
    """How well a model finds each validation question's passage: mean reciprocal rank and top-1 accuracy."""

    mrr: float
    accuracy: float


class LocalBackend:
    """Trains a copy of the model in `start_from` and saves the result under `models_dir/<version>`."""

    name = "local"
    model_kind = "embedder"

    def __init__(self, models_dir: Path, start_from: str, training: LocalTraining = LocalTraining(),
                 saved: Callable[[Dataset], Sequence[SpaceExample]] = lambda dataset: ()) -> None:
        self._models_dir, self._start_from, self._training = models_dir, start_from, training
        self._saved = saved

    def run(self, dataset: Dataset, reporter: Reporter) -> Outcome:
        import torch

        # torch's intra-op threads fight every other busy process on a small machine (a training step waited
        # minutes for its second thread on 2 shared cores); one thread is predictable.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._run(dataset, reporter)
        finally:
            torch.set_num_threads(threads)

    def _run(self, dataset: Dataset, reporter: Reporter) -> Outcome:
        import torch

        from lmspace_core.sync.tuned import load_sentence_transformer

        reporter.status(SyncStatus.RUNNING, f"loading the model to train it on {len(dataset.train)} pairs")
        torch.manual_seed(self._training.seed)
        model = load_sentence_transformer(self._start_from)
        corpus = sorted({example.passage for example in dataset.examples})
        saved = self._saved(dataset)
        tied = saved_pairs(saved, dataset, corpus)
        held = (*dataset.validation, *tied)
        reporter.event(f"held-out pairs: {len(dataset.validation)} from the validation split and {len(tied)} from "
                       f"the space's {len(saved)} saved examples (a saved example counts when one passage alone "
                       f"contains its answer)")
        before = evaluate(model, held, corpus)
        reporter.event(f"current model: MRR {before.mrr:.3f}, top-1 {before.accuracy:.3f} on "
                       f"{len(held)} held-out pairs")
        if not self._train(model, dataset, held, corpus, reporter):
            return Outcome(SyncStatus.CANCELLED, error="Cancelled on request.")
        after = evaluate(model, held, corpus)
        reporter.event(f"new model: MRR {after.mrr:.3f}, top-1 {after.accuracy:.3f}")
        version = new_id()
        model.save(str(self._models_dir / version))
        return Outcome(SyncStatus.SUCCEEDED, model_id=version, score_before=before.mrr, score_after=after.mrr)

    def resume(self, remote_id: str, reporter: Reporter) -> Outcome:
        return Outcome(SyncStatus.INTERRUPTED, error="A local job cannot continue after its process stopped.")

    def _train(self, model, dataset: Dataset, held: tuple[Example, ...], corpus: list[str],
               reporter: Reporter) -> bool:
        """Run the epochs; False when a cancel request stopped them."""
        import torch

        training = self._training
        train = list(dataset.train)
        optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate)
        order = np.random.default_rng(training.seed)
        # A batch of one has no negatives to rank against (its loss is always 0), so a lone tail is skipped.
        batch_starts = range(0, len(train) - 1, training.batch_size)
        total = training.epochs * len(batch_starts)
        step = 0
        reporter.progress(step, total)
        for epoch in range(1, training.epochs + 1):
            model.train()
            shuffled = [train[i] for i in order.permutation(len(train))]
            for start in batch_starts:
                if reporter.cancel_requested():
                    return False
                loss = _ranking_loss(model, shuffled[start : start + training.batch_size])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                train_loss = loss.item()
                reporter.metrics([Metric(step, train_loss=train_loss)])
                reporter.progress(step, total)
            model.eval()
            with torch.no_grad():
                validation_loss = _ranking_loss(model, list(dataset.validation)).item()
            retrieval = evaluate(model, held, corpus)
            reporter.metrics([Metric(step, train_loss=train_loss, validation_loss=validation_loss,
                                     accuracy=retrieval.accuracy)])
            reporter.event(f"epoch {epoch}/{training.epochs}: train loss {train_loss:.4f}, "
                           f"validation loss {validation_loss:.4f}, top-1 {retrieval.accuracy:.3f}")
        return True


def saved_pairs(saved: Sequence[SpaceExample], dataset: Dataset, corpus: list[str]) -> list[Example]:
    """The saved examples as held-out (question, passage) pairs: each tied to the one passage that contains its
    answer (an answer found in several, or none, says nothing about which passage retrieval should find); a
    question the dataset already asks is left out, so nothing trained on is scored."""
    asked = {_normal(example.question) for example in dataset.examples}
    passages = [(_normal(passage), passage) for passage in corpus]
    pairs = []
    for example in saved:
        answer = _normal(example.answer)
        holding = [passage for normal, passage in passages if answer and answer in normal]
        if len(holding) == 1 and _normal(example.question) not in asked:
            asked.add(_normal(example.question))
            pairs.append(Example(example.question, example.answer, holding[0], "", "", "saved", Split.VALIDATION))
    return pairs


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _ranking_loss(model, batch: list[Example]):
    """Cross-entropy of each question against every passage of the batch, its own passage being the answer."""
    import torch
    import torch.nn.functional as functional

    questions = _encode(model, [example.question for example in batch])
    passages = _encode(model, [example.passage for example in batch])
    logits = questions @ passages.T * SCALE
    return functional.cross_entropy(logits, torch.arange(len(batch)))


def _encode(model, texts: list[str]):
    import torch.nn.functional as functional

    features = model.preprocess(texts)
    return functional.normalize(model(dict(features))["sentence_embedding"], dim=-1)


def evaluate(model, validation: tuple[Example, ...], corpus: list[str]) -> Retrieval:
    """Rank every corpus passage for each validation question; score where the grounding passage lands."""
    if not validation:
        return Retrieval(0.0, 0.0)
    passages = model.encode(corpus, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    questions = model.encode([e.question for e in validation], convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)
    scores = questions @ passages.T
    index = {passage: i for i, passage in enumerate(corpus)}
    targets = np.array([index[e.passage] for e in validation])
    ranks = (scores > scores[np.arange(len(validation)), targets][:, None]).sum(axis=1) + 1
    return Retrieval(mrr=float(np.mean(1.0 / ranks)), accuracy=float(np.mean(ranks == 1)))
