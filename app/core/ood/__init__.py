"""The "none of the classes" check: scores, the detector, metrics, fitting and runtime verdicts."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".scores": ["LOGIT_SCORE_NAMES", "SCORE_NAMES", "compute_scores", "energy_score", "max_logit", "max_softmax_probability"],
    ".detector": ["OODDetector", "stats_path_for"],
    ".metrics": ["acceptance_rate", "aupr", "auroc", "fpr_at_tpr", "threshold_for_tpr"],
    ".fitting": ["OODFitResult", "fit_ood", "run_ood", "save_ood"],
    ".runtime": ["OODRuntime"],
    ".reference": ["generate_reference", "kinds_for"],
})
