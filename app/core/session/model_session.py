"""A model ready to classify: loaded safely, with its card, preprocessing and compiled predictor.

This is the object a training script, the CLI and the window all use; :func:`app.core.open_model`
makes one::

    from app.core import open_model
    session = open_model("digits.keras")
    for result in session.classify(["a.png", "b.jpg"]):
        print(result.label, result.confidence, result.ood.in_distribution)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.cards.card_file import ModelCard, card_path_for
from app.core.errors import ModelError
from app.core.images.decoding import has_alpha
from app.core.models.loading import LoadedModel
from app.core.models.predictor import DEFAULT_BATCH_SIZE, ModelOutputs, Predictor
from app.core.models.runtime import Runtime
from app.core.models.statistics.layer_statistics import ExtraHead, StatsLayout, build_stats_heads
from app.core.numeric import softmax
from app.core.preprocessing.pipeline import ImageSource, PreparedBatch, prepare_batch
from app.core.preprocessing.spec import PreprocessingSpec
from app.core.session.checks import NoClassCheck, PredictionSets
from app.core.session.results import Classification, OODVerdict
from app.core.tf_runtime import on_tf_thread

CancelCheck = Callable[[], bool]


@dataclass
class ModelSession:
    """A loaded model with everything needed to classify images the way it was trained."""

    loaded: LoadedModel
    card: ModelCard
    spec: PreprocessingSpec
    # What answers: compiled TensorFlow or LiteRT (see app.core.models.runtime).
    predictor: Runtime
    ood: NoClassCheck
    warnings: list[str] = field(default_factory=list)
    has_card_file: bool = False
    # The card's conformal prediction sets (fitted by calibration), or None.
    sets: PredictionSets | None = None
    # Why no answer of this model may look trustworthy (e.g. near-chance accuracy), or None.
    untrustworthy: str | None = None
    # Where each layer statistic sits in ``ModelOutputs.stats``, once they are computed.
    stats_layout: StatsLayout | None = None
    _extra_stats: list[tuple[str, str]] = field(default_factory=list, repr=False)
    last_latency_ms: float = 0.0
    # The background LiteRT conversion while it runs (the predictor switches when it passes).
    conversion: Future | None = field(default=None, repr=False)
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)

    # -- facts -------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return self.card.classes

    @property
    def named_classes(self) -> list[str]:
        """The class names when someone gave them; [] when they are only guessed.

        A model without a recorded card gets the names 0..N-1, which look like digits. Ten of
        them are taken at their word (a card-less MNIST model is the common case); any other
        number says nothing about what the classes are (five shapes are not the digits 0-4).
        """
        guessed = not self.spec.recorded and self.classes == [str(i) for i in range(len(self.classes))]
        return [] if guessed and len(self.classes) != 10 else list(self.classes)

    @property
    def temperature(self) -> float:
        return self.card.temperature

    @property
    def runtime_name(self) -> str:
        """``"litert"`` or ``"tensorflow"``: what answers now (the window's status bar shows it)."""
        return self.predictor.name

    @property
    def card_path(self) -> Path:
        return card_path_for(self.loaded.path)

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="probscope-decode"
            )
        return self._executor

    def enable_layer_statistics(self, extra_heads: Sequence[ExtraHead] = ()) -> StatsLayout:
        """Compute the probe's layer statistics in every inference call from now on.

        The predictor is rebuilt once with heads that also reduce the hidden activations (one
        forward pass still), plus ``extra_heads`` (the digit prior); a session that already
        computes the same statistics is left as it is.
        """
        extras = [(e.layer, e.stat) for e in extra_heads]
        if self.loaded.format == "tflite":
            # No TensorFlow graph to trace heads into: LiteRT's own outputs, in numpy.
            if extras:
                raise ModelError("the digit prior needs TensorFlow: a .tflite cannot add it")
            if self.stats_layout is None:
                self.stats_layout = self.predictor.enable_stats()
            return self.stats_layout
        if self.stats_layout is None or extras != self._extra_stats:
            heads, layout = build_stats_heads(self.loaded, extra_heads=extra_heads)
            self._extra_stats = extras
            batch = getattr(self.predictor, "batch_size", DEFAULT_BATCH_SIZE)
            self.predictor = on_tf_thread(Predictor, self.loaded, batch, heads)
            self.stats_layout = layout
        return self.stats_layout

    def wait_for_conversion(self, timeout: float | None = None) -> str:
        """Wait for the background LiteRT conversion, if any; return :attr:`runtime_name`."""
        if self.conversion is not None:
            with contextlib.suppress(Exception):  # its outcome is in the warnings either way
                self.conversion.result(timeout)
        return self.runtime_name

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- inference ---------------------------------------------------------------------
    def infer(self, inputs: np.ndarray) -> ModelOutputs:
        """Run the model (its current runtime) on a prepared float32 batch."""
        start = time.perf_counter()
        out = self.predictor(inputs)
        self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        return out

    def results_from_outputs(
        self,
        names: Sequence[str],
        outputs: ModelOutputs,
        temperature: float | None = None,
        inputs: np.ndarray | None = None,
    ) -> list[Classification]:
        """Turn model outputs into per-image results with the card's T, check and sets.

        ``temperature`` changes the probabilities shown, never the prediction sets: their
        threshold holds for the temperature it was fitted with, the card's.
        """
        t = self.temperature if temperature is None else float(temperature)
        probs = softmax(outputs.logits, t).astype(np.float32)
        scores = self.ood.scores(outputs.logits, outputs.features, outputs.stats)
        members = self._set_members(outputs.logits)
        results = []
        for i, name in enumerate(names):
            idx = int(np.argmax(probs[i]))
            results.append(
                Classification(
                    path=name,
                    label=self.classes[idx],
                    index=idx,
                    probabilities=probs[i],
                    raw_probabilities=outputs.probabilities[i],
                    temperature=t,
                    ood=OODVerdict(
                        score=float(scores[i]),
                        threshold=self.ood.threshold,
                        in_distribution=bool(scores[i] >= self.ood.threshold),
                        score_name=self.ood.score_name,
                        checked=self.ood.checked,
                    ),
                    logits=outputs.logits[i],
                    features=None if outputs.features is None else outputs.features[i],
                    stats=None if outputs.stats is None else outputs.stats[i],
                    model_input=None if inputs is None else inputs[i],
                    prediction_set=None if members is None else [
                        self.classes[k] for k in members[i]
                    ],
                )
            )
        return results

    def _set_members(self, logits: np.ndarray) -> list[list[int]] | None:
        if self.sets is None or len(logits) == 0:
            return None
        return self.sets.predict_members(softmax(logits, self.temperature))

    def rescore(
        self, results: Sequence[Classification], temperature: float | None = None
    ) -> list[Classification]:
        """The same results again from their stored logits, at ``temperature`` (None: the card's)
        and with the card's current check; nothing is re-run.

        Results that failed or kept no logits come back unchanged.
        """
        usable = [i for i, r in enumerate(results) if r.ok and r.logits is not None]
        fresh = list(results)
        if not usable:
            return fresh
        picked = [results[i] for i in usable]
        features = [r.features for r in picked]
        stats = [r.stats for r in picked]
        outputs = ModelOutputs(
            logits=np.stack([np.asarray(r.logits) for r in picked]),
            probabilities=np.stack([
                np.asarray(r.raw_probabilities if r.raw_probabilities is not None
                           else r.probabilities) for r in picked
            ]),
            features=None if any(f is None for f in features) else np.stack(features),
            stats=None if any(s is None for s in stats) else np.stack(stats),
        )
        again = self.results_from_outputs([r.path for r in picked], outputs, temperature)
        for i, old, new in zip(usable, picked, again, strict=True):
            new.model_input = old.model_input
            new.transparency_dropped = old.transparency_dropped  # of the file, not the scores
            fresh[i] = new
        return fresh

    def prepare(self, sources: Sequence[ImageSource]) -> PreparedBatch:
        """Decode and preprocess images in parallel; failures are reported per image."""
        return prepare_batch(sources, self.spec, self.executor if len(sources) > 1 else None)

    def classify_prepared(
        self, names: Sequence[str], batch: PreparedBatch, keep_inputs: bool = False
    ) -> list[Classification]:
        out: list[Classification] = [
            Classification(path=n, error=e, temperature=self.temperature)
            for n, e in zip(names, batch.errors, strict=True)
        ]
        if batch.ok_indices:
            outputs = self.infer(batch.inputs)
            ok_names = [names[i] for i in batch.ok_indices]
            ok_results = self.results_from_outputs(
                ok_names, outputs, inputs=batch.inputs if keep_inputs else None
            )
            for i, r in zip(batch.ok_indices, ok_results, strict=True):
                out[i] = r
        return out

    def classify(
        self,
        sources: Sequence[ImageSource],
        names: Sequence[str] | None = None,
        keep_inputs: bool = False,
    ) -> list[Classification]:
        """Classify images (paths, encoded bytes or RGB uint8 arrays) in one batch."""
        names = list(names) if names is not None else [_name_of(s, i) for i, s in enumerate(sources)]
        return _mark_transparency(self.classify_prepared(names, self.prepare(sources), keep_inputs),
                                  [_has_alpha(s) for s in sources])

    def iter_classify(
        self,
        paths: Sequence[str | os.PathLike[str]],
        batch_size: int = 64,
        cancelled: CancelCheck | None = None,
    ) -> Iterator[list[Classification]]:
        """Classify many files batch by batch, decoding the next batch while one infers.

        Yields one list per batch, so callers can report progress and stop early.
        """
        chunks = [list(paths[i : i + batch_size]) for i in range(0, len(paths), batch_size)]
        if not chunks:
            return
        pending: Future[tuple[PreparedBatch, list[bool]]] = self.executor.submit(
            _prepare_marked, chunks[0], self.spec
        )
        for k, chunk in enumerate(chunks):
            batch, alpha = pending.result()
            if k + 1 < len(chunks):
                # Decode runs in worker threads while TensorFlow runs this batch.
                pending = self.executor.submit(_prepare_marked, chunks[k + 1], self.spec)
            if cancelled is not None and cancelled():
                return
            yield _mark_transparency(self.classify_prepared([str(p) for p in chunk], batch), alpha)


def _prepare_marked(
    paths: Sequence[str | os.PathLike[str]], spec: PreprocessingSpec
) -> tuple[PreparedBatch, list[bool]]:
    """The batch, and which files have transparency (their headers are read in this thread,
    beside the decoding, not on the one that runs the model)."""
    return prepare_batch(paths, spec, None), [_has_alpha(p) for p in paths]


def _has_alpha(source: ImageSource) -> bool:
    """An encoded image (a file or its bytes) with transparency; a decoded array has none left."""
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    return isinstance(source, (str, bytes)) and has_alpha(source)


def _mark_transparency(results: list[Classification], alpha: list[bool]) -> list[Classification]:
    for r, dropped in zip(results, alpha, strict=True):
        r.transparency_dropped = r.ok and dropped
    return results


def _name_of(source: ImageSource, i: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"image {i + 1}"
