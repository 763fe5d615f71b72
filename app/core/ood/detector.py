"""The fitted "none of the classes" detector the app uses: one score, one threshold, statistics.

A sample is in-distribution when ``score >= threshold``; the threshold is the one of
:func:`app.core.ood.metrics.threshold_for_tpr` on held-out in-distribution data, so that at
least ``tpr_target`` of such data is accepted.

The model card's ``ood`` object holds the chosen score and threshold (the contract minimum) and
names an ``.npz`` file beside it with the fitted statistics (Mahalanobis means and precision,
the k-NN bank, a threshold for every score), written by :meth:`OODDetector.save_stats`.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from app.core.cards.card_file import DEFAULT_OOD_LABEL
from app.core.errors import DataError
from app.core.ood.detector_file import DetectorFile, stats_path_for
from app.core.ood.knn import DEFAULT_KNN_K, KNNScorer
from app.core.ood.mahalanobis import MahalanobisScorer, cross_fitted_mahalanobis
from app.core.ood.metrics import acceptance_rate, aupr, auroc, fpr_at_tpr, threshold_for_tpr
from app.core.ood.probe import ProbeScore
from app.core.ood.scores import (
    FEATURE_SCORE_NAMES,
    LAYER_SCORE_NAMES,
    LOGIT_SCORE_NAMES,
    SCORE_NAMES,
    as_matrix,
    available_scores,
    compute_scores,
)

MIN_FIT_SAMPLES = 20

class OODDetector(DetectorFile):
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
        self.probe_: ProbeScore | None = None
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
    ) -> OODDetector:
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
                    calibration["mahalanobis"] = cross_fitted_mahalanobis(x, y, self.shrinkage)
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

    def add_probe(self, probe: ProbeScore) -> OODDetector:
        """Offer a fitted probe as the ``"probe"`` score; its threshold follows ``tpr_target``.

        The probe's out-of-fold scores of the labelled images are its calibration scores, so
        the threshold is set on images each fold model never saw.
        """
        self.probe_ = probe
        self.calibration_scores_["probe"] = np.asarray(probe.oof_in_, dtype=np.float64)
        self.unavailable_.pop("probe", None)
        return self.set_acceptance(self.tpr_target)

    def set_acceptance(self, tpr: float) -> OODDetector:
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

    def use_score(self, name: str) -> OODDetector:
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

    def score(self, logits: np.ndarray | None, features: np.ndarray | None,
              layer_stats: np.ndarray | None = None) -> np.ndarray:
        """The chosen score, shape (n_samples,), float64; higher is more in-distribution."""
        return compute_scores(self.score_name, logits, features, self.temperature, self._stats(),
                              layer_stats)

    def in_distribution(self, logits: np.ndarray | None, features: np.ndarray | None,
                        layer_stats: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask, ``score >= threshold``."""
        if self.threshold is None:
            raise RuntimeError("OODDetector has no threshold; fit it or load it from a card")
        return self.score(logits, features, layer_stats) >= self.threshold

    def scores_all(
        self, logits: np.ndarray | None, features: np.ndarray | None,
        layer_stats: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Every score these inputs and the fitted statistics allow; others are left out."""
        names = available_scores(features, self._stats(), layer_stats)
        if logits is None:
            names = tuple(name for name in names if name not in LOGIT_SCORE_NAMES)
        return {
            name: compute_scores(name, logits, features, self.temperature, self._stats(),
                                 layer_stats)
            for name in names
        }

    def unavailable_reason(
        self, name: str, logits: np.ndarray | None, features: np.ndarray | None,
        layer_stats: np.ndarray | None = None,
    ) -> str | None:
        """Why ``name`` cannot be computed for these inputs, or ``None`` if it can."""
        if name in LOGIT_SCORE_NAMES:
            return "no logits were given" if logits is None else None
        if self._stats().get(name) is None:
            return self.unavailable_.get(name, f"no fitted {name} statistics")
        if name in LAYER_SCORE_NAMES:
            return "no layer statistics were computed" if layer_stats is None else None
        if features is None:
            return "the model provides no penultimate-layer features"
        return None

    def evaluate(
        self,
        in_logits: np.ndarray | None,
        in_features: np.ndarray | None,
        out_logits: np.ndarray | None,
        out_features: np.ndarray | None,
        in_stats: np.ndarray | None = None,
        out_stats: np.ndarray | None = None,
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
            reason = self.unavailable_reason(name, in_logits, in_features, in_stats)
            if reason is None:
                reason = self.unavailable_reason(name, out_logits, out_features, out_stats)
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
                inside = compute_scores(name, in_logits, in_features, self.temperature, stats,
                                        in_stats)
                outside = compute_scores(name, out_logits, out_features, self.temperature, stats,
                                         out_stats)
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


__all__ = ["MIN_FIT_SAMPLES", "OODDetector", "stats_path_for"]
