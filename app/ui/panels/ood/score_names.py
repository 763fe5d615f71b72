"""The OOD scores' names and help in plain words, and the score chooser's entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox

from app.ui.panels.panel_messages import sentence

if TYPE_CHECKING:
    from app.ui.jobs.ood_jobs import ReferenceFit

SCORE_TITLES = {
    "probe": "Learned probe",
    "msp": "Max softmax probability",
    "max_logit": "Max logit",
    "energy": "Energy",
    "mahalanobis": "Mahalanobis distance",
    "knn": "k-NN distance",
}
SCORE_HELP = {
    "probe": "A logistic regression on the statistics of every ReLU block, fitted on your images\n"
             "against the built-in no-class reference.",
    "msp": "The top class probability (at the card's temperature).",
    "max_logit": "The largest logit: unbounded, often separates better than probabilities.",
    "energy": "log-sum-exp of the logits: a smooth version of the max logit.",
    "mahalanobis": "Distance of the penultimate-layer features to the nearest class centre.",
    "knn": "Distance of the features to the k-th nearest real image.",
}


def score_title(name: str) -> str:
    return SCORE_TITLES.get(name, name)


def fill_score_box(box: QComboBox, fit: ReferenceFit) -> None:
    """One entry per score with its unseen-junk figure and AUROC; unfitted ones disabled."""
    detector = fit.detector
    judged = fit.result.by_score
    box.clear()
    model = box.model()
    for name, title in SCORE_TITLES.items():
        figures = judged.get(name, {})
        parts = [title]
        if figures.get("held_out") is not None:
            parts.append(f"unseen junk accepted {figures['held_out']:.1%}")
        if figures.get("auroc") is not None:
            parts.append(f"AUROC {figures['auroc']:.3f}")
        box.addItem(" · ".join(parts), name)
        index = box.count() - 1
        reason = detector.unavailable_.get(name)
        if name not in detector.calibration_scores_ or reason:
            box.setItemText(index, f"{title} · unavailable")
            if isinstance(model, QStandardItemModel):
                model.item(index).setEnabled(False)
            box.setItemData(index, sentence(reason or "not fitted"), Qt.ItemDataRole.ToolTipRole)
        else:
            box.setItemData(index, SCORE_HELP[name], Qt.ItemDataRole.ToolTipRole)
