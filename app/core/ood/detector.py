"""The fitted "none of the classes" detector the app uses: one score, one threshold, statistics.

A sample is in-distribution when ``score >= threshold``; the threshold is the one of
:func:`app.core.ood.metrics.threshold_for_tpr` on held-out in-distribution data, so that at
least ``tpr_target`` of such data is accepted.

The model card's ``ood`` object holds the chosen score and threshold (the contract minimum) and
names an ``.npz`` file beside it with the fitted statistics (Mahalanobis means and precision,
the k-NN bank, a threshold for every score), written by :meth:`OODDetector.save_stats`.
"""

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from app.core.cards.card_file import DEFAULT_OOD_LABEL
from app.core.errors import CardError, DataError
from app.core.files import replace_file
from app.core.ood.metrics import acceptance_rate, aupr, auroc, fpr_at_tpr, threshold_for_tpr
from app.core.ood.scores import (
    DEFAULT_KNN_K,
    FEATURE_SCORE_NAMES,
    LOGIT_SCORE_NAMES,
    SCORE_NAMES,
    KNNScorer,
    MahalanobisScorer,
    as_matrix,
    available_scores,
    compute_scores,
)

MIN_FIT_SAMPLES = 20
STATS_SUFFIX = ".probscope.npz"
STATS_FORMAT = "probscope.ood-stats"
STATS_VERSION = 1

# Mahalanobis thresholds come from 5-fold cross-fitted scores: in-sample distances are
# optimistically small (markedly so when features have nearly as many dimensions as there are
# samples), which would put the threshold too high and reject more new in-distribution images
# than tpr_target promises. The seed only makes the fold assignment reproducible.
_MAHALANOBIS_FOLDS = 5
_FOLD_SEED = 0


def stats_path_for(model_path: str | os.PathLike) -> Path:
    """The statistics file beside a model: ``digits.keras`` -> ``digits.keras.probscope.npz``."""
    model = Path(model_path)
    return model.with_name(model.name + STATS_SUFFIX)


def _stratified_folds(class_index: np.ndarray, n_folds: int) -> np.ndarray:
    rng = np.random.default_rng(_FOLD_SEED)
    folds = np.empty(class_index.size, dtype=np.intp)
    offset = 0
    for c in np.unique(class_index):
        members = rng.permutation(np.flatnonzero(class_index == c))
        # Rotating the start keeps small classes from all landing in fold 0.
        folds[members] = (np.arange(members.size) + offset) % n_folds
        offset += members.size
    return folds


def _cross_fitted_mahalanobis(
    features: np.ndarray, labels: np.ndarray, shrinkage: str | float
) -> np.ndarray:
    _, class_index = np.unique(labels, return_inverse=True)
    folds = _stratified_folds(class_index, _MAHALANOBIS_FOLDS)
    scores = np.empty(features.shape[0], dtype=np.float64)
    for fold in range(_MAHALANOBIS_FOLDS):
        held_out = folds == fold
        scorer = MahalanobisScorer(shrinkage).fit(features[~held_out], labels[~held_out])
        scores[held_out] = scorer.score(features[held_out])
    return scores


def _card_number(card_ood: Mapping, key: str, *, low: float, high: float) -> float:
    # Finite and strictly above low (a temperature of 0 is as unusable as a negative one).
    value = card_ood.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise CardError(f"the model card's OOD {key} {value!r} is not a finite number")
    if not low < value <= high:
        raise CardError(f"the model card's OOD {key} {value!r} is out of range")
    return float(value)


def _scalar(archive: Mapping[str, np.ndarray], key: str) -> object:
    return archive[key].item()


class OODDetector:
    """Decides "none of the classes" from logits and, when available, penultimate features.

    Parameters
    ----------
    knn_k : int, default=DEFAULT_KNN_K
        Neighbour rank of the k-NN score.
    shrinkage : "auto" or float, default="auto"
        Covariance shrinkage of the Mahalanobis score.
    label : str, default=DEFAULT_OOD_LABEL
        What the app shows for a rejected input, e.g. "no digit".

    Attributes
    ----------
    score_name : str
        The score in use, one of ``SCORE_NAMES``.
    threshold : float or None
        Inputs with ``score >= threshold`` are in-distribution.
    temperature : float
        Temperature of the ``msp`` and ``energy`` scores; thresholds are only valid with it.
    tpr_target : float
        Fraction of in-distribution data the thresholds accept.
    mahalanobis_ : MahalanobisScorer or None
        Fitted Mahalanobis statistics.
    knn_ : KNNScorer or None
        Fitted k-NN bank.
    thresholds_ : dict of str to float
        A threshold for every fitted score, so the score can be switched without refitting.
    calibration_scores_ : dict of str to ndarray
        The in-distribution scores the thresholds were set on (cross-fitted for Mahalanobis,
        leave-one-out for k-NN).
    unavailable_ : dict of str to str
        Scores that could not be fitted, with the reason.
    fit_info_ : dict
        ``n``, ``n_classes``, ``feature_dim``, ``date`` (UTC, ISO 8601) of the fit.
    stats_file_ : str or None
        File name of the statistics last saved or loaded.
    """

    def __init__(
        self,
        *,
        knn_k: int = DEFAULT_KNN_K,
        shrinkage: str | float = "auto",
        label: str = DEFAULT_OOD_LABEL,
    ) -> None:
        self.knn_k = knn_k
        self.shrinkage = shrinkage
        self.label = label
        self.score_name = "energy"
        self.threshold: float | None = None
        self.temperature = 1.0
        self.tpr_target = 0.95
        self.mahalanobis_: MahalanobisScorer | None = None
        self.knn_: KNNScorer | None = None
        self.thresholds_: dict[str, float] = {}
        self.calibration_scores_: dict[str, np.ndarray] = {}
        self.unavailable_: dict[str, str] = {}
        self.fit_info_: dict = {}
        self.stats_file_: str | None = None

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        logits: np.ndarray,
        features: np.ndarray | None,
        labels: np.ndarray | None,
        *,
        score: str = "energy",
        tpr: float = 0.95,
        temperature: float = 1.0,
    ) -> "OODDetector":
        """Fit every score that the data allow and set their thresholds.

        Parameters
        ----------
        logits : array-like of shape (n_samples, n_classes)
            Logits of held-out in-distribution samples (not the training set).
        features : array-like of shape (n_samples, n_features) or None
            Their penultimate features; ``None`` leaves the feature scores unavailable.
        labels : array-like of shape (n_samples,) or None
            Their classes; ``None`` leaves the Mahalanobis score unavailable.
        score : str, default="energy"
            The score to use, one of ``SCORE_NAMES``.
        tpr : float, default=0.95
            Fraction of in-distribution samples the threshold accepts.
        temperature : float, default=1.0
            Temperature of ``msp`` and ``energy`` (normally the calibrated one).

        Returns
        -------
        self
        """
        if score not in SCORE_NAMES:
            raise DataError(f"unknown OOD score {score!r}; choose one of {', '.join(SCORE_NAMES)}")
        if not 0.0 < float(tpr) <= 1.0:
            raise DataError(f"target TPR must be in (0, 1], got {tpr}")
        z = as_matrix(logits, "logits")
        n = z.shape[0]
        if n < MIN_FIT_SAMPLES:
            raise DataError(
                f"fitting the OOD detector needs at least {MIN_FIT_SAMPLES} held-out "
                f"in-distribution samples, got {n}"
            )
        x = None if features is None else as_matrix(features, "features")
        if x is not None and x.shape[0] != n:
            raise DataError(f"got {n} rows of logits but {x.shape[0]} rows of features")
        y = None if labels is None else np.asarray(labels)
        if y is not None and y.shape != (n,):
            raise DataError(f"got {n} rows of logits but labels of shape {y.shape}")

        calibration = {
            name: compute_scores(name, z, None, temperature) for name in LOGIT_SCORE_NAMES
        }
        unavailable: dict[str, str] = {}
        knn = mahalanobis = None
        if x is None:
            for name in FEATURE_SCORE_NAMES:
                unavailable[name] = "the model provides no penultimate-layer features"
        else:
            try:
                knn = KNNScorer(self.knn_k).fit(x)
                calibration["knn"] = knn.leave_one_out_scores()
            except DataError as error:
                unavailable["knn"] = error.message
            if y is None:
                unavailable["mahalanobis"] = "no class labels were given"
            else:
                try:
                    mahalanobis = MahalanobisScorer(self.shrinkage).fit(x, y)
                    calibration["mahalanobis"] = _cross_fitted_mahalanobis(x, y, self.shrinkage)
                except DataError as error:
                    mahalanobis = None
                    unavailable["mahalanobis"] = error.message
        if score in unavailable:
            raise DataError(f"cannot fit OOD score {score!r}: {unavailable[score]}")

        self.mahalanobis_ = mahalanobis
        self.knn_ = knn
        self.unavailable_ = unavailable
        self.calibration_scores_ = calibration
        self.score_name = score
        self.set_acceptance(tpr)
        self.temperature = float(temperature)
        self.fit_info_ = {
            "n": int(n),
            "n_classes": int(np.unique(y).size) if y is not None else None,
            "feature_dim": int(x.shape[1]) if x is not None else None,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "knn_k": int(self.knn_k),
            "mahalanobis_shrinkage": (
                float(mahalanobis.shrinkage_) if mahalanobis is not None else None
            ),
        }
        return self

    def set_acceptance(self, tpr: float) -> "OODDetector":
        """Move every score's threshold to accept ``tpr`` of the real images it was set on.

        Every score follows, so switching scores afterwards keeps the promised share.
        Returns self.
        """
        if not 0.0 < float(tpr) <= 1.0:
            raise DataError(f"the share of real images to accept must be in (0, 1], got {tpr}")
        self.thresholds_ = {
            name: threshold_for_tpr(s, tpr) for name, s in self.calibration_scores_.items()
        }
        self.tpr_target = float(tpr)
        self.threshold = self.thresholds_[self.score_name]
        return self

    def use_score(self, name: str) -> "OODDetector":
        """Switch to another fitted score and its threshold; returns self."""
        if name not in SCORE_NAMES:
            raise DataError(f"unknown OOD score {name!r}; choose one of {', '.join(SCORE_NAMES)}")
        if name in self.unavailable_:
            raise DataError(f"OOD score {name!r} is unavailable: {self.unavailable_[name]}")
        if name not in self.thresholds_:
            raise DataError(f"OOD score {name!r} has no fitted threshold; refit the detector")
        self.score_name = name
        self.threshold = self.thresholds_[name]
        return self

    # ------------------------------------------------------------------ scoring

    def _stats(self) -> dict[str, object]:
        return {"mahalanobis": self.mahalanobis_, "knn": self.knn_}

    def score(self, logits: np.ndarray | None, features: np.ndarray | None) -> np.ndarray:
        """The chosen score, shape (n_samples,), float64; higher is more in-distribution."""
        return compute_scores(self.score_name, logits, features, self.temperature, self._stats())

    def in_distribution(self, logits: np.ndarray | None, features: np.ndarray | None) -> np.ndarray:
        """Boolean mask, ``score >= threshold``."""
        if self.threshold is None:
            raise RuntimeError("OODDetector has no threshold; fit it or load it from a card")
        return self.score(logits, features) >= self.threshold

    def records(self, logits: np.ndarray | None, features: np.ndarray | None) -> list[dict]:
        """Per sample ``{"score", "threshold", "in_distribution"}``, as ``classify --json``."""
        scores = self.score(logits, features)
        if self.threshold is None:
            raise RuntimeError("OODDetector has no threshold; fit it or load it from a card")
        threshold = float(self.threshold)
        return [
            {"score": float(s), "threshold": threshold, "in_distribution": bool(s >= threshold)}
            for s in scores
        ]

    def scores_all(
        self, logits: np.ndarray | None, features: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Every score these inputs and the fitted statistics allow; others are left out."""
        names = available_scores(features, self._stats())
        if logits is None:
            names = tuple(name for name in names if name not in LOGIT_SCORE_NAMES)
        return {
            name: compute_scores(name, logits, features, self.temperature, self._stats())
            for name in names
        }

    def unavailable_reason(
        self, name: str, logits: np.ndarray | None, features: np.ndarray | None
    ) -> str | None:
        """Why ``name`` cannot be computed for these inputs, or ``None`` if it can."""
        if name in LOGIT_SCORE_NAMES:
            return "no logits were given" if logits is None else None
        if self._stats().get(name) is None:
            return self.unavailable_.get(name, f"no fitted {name} statistics")
        if features is None:
            return "the model provides no penultimate-layer features"
        return None

    def evaluate(
        self,
        in_logits: np.ndarray | None,
        in_features: np.ndarray | None,
        out_logits: np.ndarray | None,
        out_features: np.ndarray | None,
    ) -> list[dict]:
        """Compare every score on in-distribution against OOD data, one row per score.

        Use in-distribution data held out from :meth:`fit`: the k-NN bank and the Mahalanobis
        means were fitted on the fit data and would look better on it than on new images.

        Returns
        -------
        list of dict
            In ``SCORE_NAMES`` order, each with ``score``, ``chosen`` (bool), ``available``
            (bool), ``reason`` (str or None), and, if available: ``auroc``, ``fpr_at_95_tpr``
            and ``aupr`` (threshold-free), ``threshold`` (the fitted one, or None), and at that
            threshold ``tpr`` (accepted in-distribution) and ``fpr_at_threshold`` (accepted
            OOD). Unavailable rows hold None for the numbers.
        """
        rows = []
        for name in SCORE_NAMES:
            reason = self.unavailable_reason(name, in_logits, in_features)
            if reason is None:
                reason = self.unavailable_reason(name, out_logits, out_features)
            row = {
                "score": name,
                "chosen": name == self.score_name,
                "available": reason is None,
                "reason": reason,
                "auroc": None,
                "fpr_at_95_tpr": None,
                "aupr": None,
                "threshold": None,
                "tpr": None,
                "fpr_at_threshold": None,
            }
            if reason is None:
                stats = self._stats()
                inside = compute_scores(name, in_logits, in_features, self.temperature, stats)
                outside = compute_scores(name, out_logits, out_features, self.temperature, stats)
                row["auroc"] = auroc(inside, outside)
                row["fpr_at_95_tpr"] = fpr_at_tpr(inside, outside, 0.95)
                row["aupr"] = aupr(inside, outside)
                threshold = self.threshold if row["chosen"] else self.thresholds_.get(name)
                if threshold is not None:
                    row["threshold"] = float(threshold)
                    row["tpr"] = acceptance_rate(inside, threshold)
                    row["fpr_at_threshold"] = acceptance_rate(outside, threshold)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ persistence

    def save_stats(self, path: str | os.PathLike) -> Path:
        """Write the fitted statistics to ``path`` (an ``.npz``) atomically; returns the path.

        The file holds only numbers and strings and is read back with ``allow_pickle=False``.
        """
        if self.threshold is None:
            raise RuntimeError("OODDetector has no threshold; fit it before saving")
        path = Path(path)
        names = sorted(self.thresholds_)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(STATS_FORMAT),
            "version": np.array(STATS_VERSION),
            "score_name": np.array(self.score_name),
            "threshold": np.array(float(self.threshold)),
            "temperature": np.array(float(self.temperature)),
            "tpr_target": np.array(float(self.tpr_target)),
            "label": np.array(str(self.label)),
            "knn_k": np.array(int(self.knn_k)),
            "shrinkage": np.array(str(self.shrinkage)),
            "threshold_names": np.array(names, dtype=str),
            "threshold_values": np.array([self.thresholds_[n] for n in names], dtype=np.float64),
            "unavailable_names": np.array(list(self.unavailable_), dtype=str),
            "unavailable_reasons": np.array(list(self.unavailable_.values()), dtype=str),
            # JSON text keeps the fit record complete without pickling a dict.
            "fit_info": np.array(json.dumps(self.fit_info_)),
        }
        for name, scores in self.calibration_scores_.items():
            arrays[f"calibration_{name}"] = np.asarray(scores, dtype=np.float64)
        if self.mahalanobis_ is not None:
            arrays["mahalanobis_means"] = self.mahalanobis_.means_
            arrays["mahalanobis_precision"] = self.mahalanobis_.precision_
            # Labels are saved as text so that any label type loads without pickle.
            arrays["mahalanobis_classes"] = np.asarray(self.mahalanobis_.classes_).astype(str)
            arrays["mahalanobis_shrinkage"] = np.array(float(self.mahalanobis_.shrinkage_))
        if self.knn_ is not None:
            arrays["knn_bank"] = self.knn_.bank_
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
            )
            try:
                with os.fdopen(handle, "wb") as stream:
                    np.savez_compressed(stream, **arrays)
                replace_file(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            raise CardError(
                f"cannot write OOD statistics {path}: {error.strerror or error}"
            ) from None
        self.stats_file_ = path.name
        return path

    @classmethod
    def load_stats(cls, path: str | os.PathLike) -> "OODDetector":
        """A detector as it was saved by :meth:`save_stats`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                data = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise CardError(f"cannot read OOD statistics {path}: {error}") from None
        if data.get("format") is None or str(data["format"].item()) != STATS_FORMAT:
            raise CardError(f"{path} is not a probscope OOD statistics file")
        if int(data["version"].item()) > STATS_VERSION:
            raise CardError(
                f"{path} has OOD statistics version {int(data['version'].item())}; this "
                f"probscope reads up to version {STATS_VERSION}"
            )
        try:
            detector = cls._from_arrays(data)
        except (KeyError, ValueError, DataError) as error:
            raise CardError(f"OOD statistics {path} are incomplete or damaged: {error}") from None
        detector.stats_file_ = path.name
        return detector

    @classmethod
    def _from_arrays(cls, data: dict[str, np.ndarray]) -> "OODDetector":
        shrinkage = str(_scalar(data, "shrinkage"))
        detector = cls(
            knn_k=int(_scalar(data, "knn_k")),
            shrinkage=shrinkage if shrinkage == "auto" else float(shrinkage),
            label=str(_scalar(data, "label")),
        )
        detector.score_name = str(_scalar(data, "score_name"))
        detector.threshold = float(_scalar(data, "threshold"))
        detector.temperature = float(_scalar(data, "temperature"))
        detector.tpr_target = float(_scalar(data, "tpr_target"))
        detector.thresholds_ = {
            str(name): float(value)
            for name, value in zip(data["threshold_names"], data["threshold_values"], strict=True)
        }
        detector.unavailable_ = {
            str(name): str(reason)
            for name, reason in zip(
                data["unavailable_names"], data["unavailable_reasons"], strict=True
            )
        }
        detector.calibration_scores_ = {
            name: data[f"calibration_{name}"]
            for name in SCORE_NAMES
            if f"calibration_{name}" in data
        }
        if "mahalanobis_means" in data:
            detector.mahalanobis_ = MahalanobisScorer.from_statistics(
                data["mahalanobis_means"],
                data["mahalanobis_precision"],
                data["mahalanobis_classes"],
            )
            detector.mahalanobis_.shrinkage_ = float(_scalar(data, "mahalanobis_shrinkage"))
        if "knn_bank" in data:
            knn = KNNScorer(detector.knn_k)
            knn.bank_ = as_matrix(data["knn_bank"], "k-NN bank", np.float32)
            detector.knn_ = knn
        detector.fit_info_ = json.loads(str(_scalar(data, "fit_info")))
        return detector

    def to_card_dict(self) -> dict:
        """The model card's ``ood`` object for this detector."""
        if self.threshold is None:
            raise RuntimeError("OODDetector has no threshold; fit it first")
        return {
            "score": self.score_name,
            "threshold": float(self.threshold),
            "tpr": float(self.tpr_target),
            "temperature": float(self.temperature),
            "label": self.label,
            "stats": self.stats_file_,
            "fitted": dict(self.fit_info_),
        }

    @classmethod
    def from_card_dict(
        cls,
        card_ood: Mapping,
        stats_path: str | os.PathLike | None = None,
        *,
        temperature: float = 1.0,
    ) -> "OODDetector":
        """The detector a model card's ``ood`` object describes.

        Parameters
        ----------
        card_ood : mapping
            The card's ``ood`` object; only ``score`` and ``threshold`` are required.
        stats_path : path or None
            The statistics file (the card directory joined with ``card_ood["stats"]``). May be
            None or missing when the score is a logit score.
        temperature : float, default=1.0
            The card's calibrated temperature, used when neither ``card_ood`` nor the
            statistics file records the temperature the threshold was set with.

        Returns
        -------
        OODDetector
            The card's ``score``, ``threshold``, ``tpr`` and ``label`` override the file's.
        """
        if not isinstance(card_ood, Mapping):
            raise CardError("the model card's 'ood' entry must be an object")
        name = card_ood.get("score")
        if name not in SCORE_NAMES:
            raise CardError(
                f"the model card's OOD score {name!r} is not one of {', '.join(SCORE_NAMES)}"
            )
        threshold = _card_number(card_ood, "threshold", low=-np.inf, high=np.inf)

        has_stats = stats_path is not None and Path(stats_path).is_file()
        detector = cls.load_stats(stats_path) if has_stats else cls()
        if not has_stats:
            detector.temperature = float(temperature)
            reason = "the model card names no OOD statistics file"
            if stats_path is not None:
                reason = f"the OOD statistics file {Path(stats_path).name} is missing"
            detector.unavailable_ = dict.fromkeys(FEATURE_SCORE_NAMES, reason)
        if name in FEATURE_SCORE_NAMES and detector._stats().get(name) is None:
            reason = detector.unavailable_.get(name, "no fitted statistics")
            raise CardError(f"the model card's OOD score {name!r} cannot be used: {reason}")
        if "temperature" in card_ood:
            detector.temperature = _card_number(card_ood, "temperature", low=0.0, high=np.inf)
        if "tpr" in card_ood:
            detector.tpr_target = _card_number(card_ood, "tpr", low=0.0, high=1.0)
        if "label" in card_ood:
            detector.label = str(card_ood["label"])
        detector.score_name = name
        detector.threshold = float(threshold)
        detector.thresholds_[name] = float(threshold)
        return detector
