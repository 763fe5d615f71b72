"""The detector on disk: its statistics ``.npz`` beside the model and its card ``ood`` object.

The ``.npz`` holds only numbers and strings (read back with ``allow_pickle=False``): a
threshold for every score, the in-distribution scores they were set on, and the fitted
statistics of the feature scores. :class:`DetectorFile` is the persistence half of
:class:`app.core.ood.detector.OODDetector`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import CardError, DataError
from app.core.files import atomic_write
from app.core.ood.knn import KNNScorer
from app.core.ood.mahalanobis import MahalanobisScorer
from app.core.ood.probe import ProbeScore
from app.core.ood.scores import FEATURE_SCORE_NAMES, LAYER_SCORE_NAMES, SCORE_NAMES, as_matrix

STATS_SUFFIX = ".probscope.npz"
STATS_FORMAT = "probscope.ood-stats"
STATS_VERSION = 1


def stats_path_for(model_path: str | os.PathLike) -> Path:
    """The statistics file beside a model: ``digits.keras`` -> ``digits.keras.probscope.npz``."""
    model = Path(model_path)
    return model.with_name(model.name + STATS_SUFFIX)


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


class DetectorFile:
    """Saving and loading a detector; mixed into :class:`~app.core.ood.detector.OODDetector`."""

    # Set by the detector; declared for readers of this half.
    score_name: str
    threshold: float | None
    temperature: float
    tpr_target: float
    label: str
    knn_k: int
    shrinkage: str | float
    thresholds_: dict[str, float]
    calibration_scores_: dict[str, np.ndarray]
    unavailable_: dict[str, str]
    fit_info_: dict[str, Any]
    stats_file_: str | None
    mahalanobis_: MahalanobisScorer | None
    knn_: KNNScorer | None
    probe_: ProbeScore | None

    def _stats(self) -> dict[str, object]:
        return {"mahalanobis": self.mahalanobis_, "knn": self.knn_, "probe": self.probe_}


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
        if self.probe_ is not None:
            arrays.update(self.probe_.to_arrays("probe_"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))
        except OSError as error:
            raise CardError(
                f"cannot write OOD statistics {path}: {error.strerror or error}"
            ) from None
        self.stats_file_ = path.name
        return path

    @classmethod
    def load_stats(cls, path: str | os.PathLike) -> Any:
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
    def _from_arrays(cls, data: dict[str, np.ndarray]) -> Any:
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
        if "probe_coef" in data:
            detector.probe_ = ProbeScore.from_arrays(data, "probe_")
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
    ) -> Any:
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
            detector.unavailable_ = dict.fromkeys(FEATURE_SCORE_NAMES + LAYER_SCORE_NAMES, reason)
        if name in FEATURE_SCORE_NAMES + LAYER_SCORE_NAMES and detector._stats().get(name) is None:
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
