"""Does the model's answer depend on its input? Collapse checks on outputs over a data set.

Pure numpy on a (n, k) array of probabilities, so the window can run it on the images
classified so far as well as on a folder, the calibration set or an ``.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.numeric import near_chance

# Mean total-variation distance of each output from the mean output below which outputs are
# "the same": 1e-3 is four orders of magnitude above float32 softmax rounding (~1e-7 per
# class) and means the answer moves by less than 0.1 percentage point across inputs.
COLLAPSE_TOLERANCE = 1e-3
NEAR_COLLAPSE_SHARE = 0.95  # share of predictions in one class that suggests near-collapse
# Answers this close to uniform (a tenth of the way from 1/k to certainty, on average) are
# "flat": a trained classifier is that unsure of almost no image.
FLAT_FRACTION = 0.1
MIN_IMAGES = 8  # fewer inputs say nothing about spread


def mean_tv_spread(probabilities: np.ndarray) -> float:
    """Mean total-variation distance of each output from the mean output.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_classes)
        Class probabilities (rows sum to 1).

    Returns
    -------
    float
        ``mean_i 0.5 * sum_k |p_ik - mean_j p_jk|``, in [0, 1); 0 when every row is equal.
        Computed in float64 so float32 rounding of the inputs does not dominate.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        return 0.0
    return float(np.mean(0.5 * np.abs(p - p.mean(axis=0)).sum(axis=1)))


def max_class_std(probabilities: np.ndarray) -> float:
    """Largest, over classes, standard deviation of a class's probability across inputs.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    float
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        return 0.0
    return float(p.std(axis=0).max())


def prediction_histogram(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """How many inputs were predicted as each class.

    Parameters
    ----------
    predictions : ndarray of shape (n_samples,)
        Predicted class indices.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes,), int64
    """
    return np.bincount(np.asarray(predictions, dtype=np.int64), minlength=n_classes)[:n_classes]


@dataclass
class CollapseReport:
    """Whether outputs vary across inputs, with the numbers that say so."""

    collapsed: bool
    near_collapse: bool
    judged: bool  # False when the data cannot tell (too few inputs, one labelled class)
    spread: dict[str, Any]
    histogram: list[int]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    at_chance: bool = False  # answers that vary but follow no label, or are all near uniform


def _name(classes: list[str] | None, i: int) -> str:
    return classes[i] if classes is not None and i < len(classes) else str(i)


def check_collapse(
    probabilities: np.ndarray,
    labels: np.ndarray | None = None,
    classes: list[str] | None = None,
    tolerance: float = COLLAPSE_TOLERANCE,
) -> CollapseReport:
    """Tell a collapsed model (same output for every input) from a working one.

    ``collapsed`` when the mean total-variation distance of each output from the mean
    output is below ``tolerance`` **and** every input gets the same predicted class. TV
    distance, unlike a per-class std, is 0 for a model that outputs the same one-hot for
    every input (saturated softmax), and it is bounded, so one threshold fits every class
    count. A healthy but very confident model looks the same on data of a single class,
    so when labels show only one class the check is not judged.

    ``near_collapse`` when at least 95 % of predictions are one class while the labels say
    that class is at most half as common as predicted (it needs labels; without them a
    95 % majority is reported as a warning only).

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_classes)
    labels : ndarray of shape (n_samples,), optional
        True class indices, when known.
    classes : list of str, optional
        Class names for messages.
    tolerance : float, default=1e-3

    Returns
    -------
    CollapseReport
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n, k = p.shape if p.ndim == 2 else (0, 0)
    preds = p.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    hist = prediction_histogram(preds, k) if n else np.zeros(k, dtype=np.int64)
    top = int(hist.argmax()) if n else 0
    share = float(hist[top] / n) if n else 0.0
    spread = {
        "mean_tv": mean_tv_spread(p),
        "max_class_std": max_class_std(p),
        "predicted_classes": int((hist > 0).sum()),
        "top_class": _name(classes, top) if n else None,
        "top_share": share,
        "tolerance": tolerance,
    }
    report = CollapseReport(False, False, False, spread, [int(c) for c in hist])
    if n < MIN_IMAGES:
        report.notes.append(f"only {n} input(s): at least {MIN_IMAGES} are needed to judge collapse")
        return report
    label_share = None
    if labels is not None and len(labels) == n:
        lab = np.asarray(labels, dtype=np.int64)
        if len(np.unique(lab)) < 2:
            report.notes.append(
                "the data holds one class only, so a confident model and a collapsed one look "
                "alike: use data of several classes"
            )
            return report
        label_share = float(np.mean(lab == top))
    report.judged = True
    if spread["mean_tv"] < tolerance and spread["predicted_classes"] == 1:
        report.collapsed = True
        report.warnings.append(
            f"the model is collapsed: it gives the same output for all {n} inputs (mean "
            f"total-variation spread {spread['mean_tv']:.2g} < {tolerance:g}; every input "
            f"predicted '{spread['top_class']}' with probability "
            f"{p[:, top].mean():.3f}). Its answer does not depend on the image."
        )
        return report
    if share >= NEAR_COLLAPSE_SHARE:
        name = spread["top_class"]
        if label_share is not None and label_share <= share / 2:
            report.near_collapse = True
            report.warnings.append(
                f"near-collapse: {share:.0%} of {n} inputs are predicted '{name}' but only "
                f"{label_share:.0%} of them are labelled '{name}'"
            )
        elif label_share is None:
            report.warnings.append(
                f"{share:.0%} of {n} inputs are predicted '{name}': if the data holds several "
                "classes, the model is close to collapse (give labelled data to check)"
            )
    if not report.near_collapse:  # near collapse is the more telling way of being at chance
        _check_chance(report, p, preds, None if label_share is None else labels, classes)
    return report


def _check_chance(report: CollapseReport, p: np.ndarray, preds: np.ndarray,
                  labels: np.ndarray | None, classes: list[str] | None) -> None:
    """Answers that depend on the image but not usefully: no better than the best constant
    guess on labelled data (within two standard errors), or flat (near uniform) everywhere."""
    n, k = p.shape
    top = float(p.max(axis=1).mean())
    report.spread["mean_top_probability"] = top
    if labels is not None:
        lab = np.asarray(labels, dtype=np.int64)
        accuracy = float(np.mean(preds == lab))
        counts = np.bincount(lab, minlength=k)
        base = float(counts.max() / n)
        report.spread["accuracy"] = accuracy
        if accuracy <= base + 2 * np.sqrt(base * (1 - base) / n):
            report.at_chance = True
            report.warnings.append(
                f"at chance: right on {accuracy:.0%} of the {n} labelled inputs, no better "
                f"than always answering '{_name(classes, int(counts.argmax()))}' ({base:.0%}). "
                "The answers do not follow the labels"
            )
        elif near_chance(accuracy, k):  # calibrate's rule: it refuses a temperature for it
            report.warnings.append(
                f"near chance: right on {accuracy:.0%} of the {n} labelled inputs, under 1.5x "
                f"the {1 / k:.0%} of guessing; calibrate will not save a temperature for it"
            )
        return
    if top - 1 / k < FLAT_FRACTION * (1 - 1 / k):
        report.at_chance = True
        report.warnings.append(
            f"flat answers: the mean top probability is {top:.2f}, close to the {1 / k:.2f} of "
            "a uniform guess: the model is unsure of every input"
        )


def collapse_advice(
    collapsed: bool, near_collapse: bool, dead_layers: list[str], input_problem: bool,
    has_batchnorm: bool = False, at_chance: bool = False,
) -> list[str]:
    """Plain-words likely causes of a (near-)collapsed model and what to try, most likely first.

    Parameters
    ----------
    collapsed, near_collapse : bool
        From :func:`check_collapse`.
    dead_layers : list of str
        Names of layers where most ReLU units never fire.
    input_problem : bool
        Whether inference inputs look unlike the training inputs.
    has_batchnorm : bool, default=False
        Whether the model has BatchNormalization layers (their inference statistics can
        collapse a model that trained well).
    at_chance : bool, default=False
        From :func:`check_collapse`: answers no better than chance, or flat.

    Returns
    -------
    list of str
        Empty when the model is neither collapsed, near collapse nor at chance.
    """
    if not (collapsed or near_collapse or at_chance):
        return []
    advice = []
    if at_chance and not (collapsed or near_collapse):
        advice.append(
            "Class order or preprocessing: a model that knew these images answers at chance "
            "when its classes are in another order than the card's (probscope info lists "
            "them) or its inputs are prepared unlike training. Check both first."
        )
    if input_problem:
        advice.append(
            "Unnormalised or mis-scaled input: the images reach the network on a different "
            "scale or channel order than in training (see the input warnings). Fix the "
            "preprocessing in the model card before anything else, then diagnose again: "
            "wrong inputs alone can flatten the answers and silence ReLUs, so what follows "
            "may not be the model's fault."
        )
    if dead_layers:
        advice.append(
            f"Dying ReLUs in {', '.join(dead_layers[:4])}: those units output zero for every "
            "image, so nothing after them can tell images apart. Usual causes are a too high "
            "learning rate or huge unnormalised inputs; retrain with a 10x lower learning "
            f"rate, He initialisation, {'' if has_batchnorm else 'BatchNormalization, '}"
            "or LeakyReLU."
        )
    if collapsed and has_batchnorm:
        advice.append(
            "BatchNormalization statistics not settled: at inference each BatchNorm uses the "
            "moving mean and variance of training, which after few steps (momentum 0.99, a "
            "small data set) are still near their start, so every image reaches the head "
            "alike. Train longer, use BatchNormalization(momentum=0.9), or keep a pretrained "
            "base's statistics (call it with training=False when fine-tuning)."
        )
    if near_collapse and not collapsed:
        advice.append(
            "Class imbalance: a model trained on data dominated by one class learns to "
            "predict it always. Use class weights, resample the training data, and check "
            "per-class accuracy rather than overall accuracy."
        )
    advice.append(
        "Too high a learning rate can also blow training up into a constant answer: check "
        "that the training loss went down, and retrain with a smaller learning rate."
    )
    advice.append(
        "Undertrained: too few epochs or too little data leave a network close to its "
        "starting point, where every input gets about the same answer. Check that the "
        "training accuracy rose well above chance; train longer, or on more images per class."
    )
    return advice
