"""Calibration metrics, temperature scaling, and the calibration run."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".metrics": ["ReliabilityBins", "accuracy", "adaptive_calibration_error", "brier_score", "calibration_report", "calibration_report_and_bins", "classwise_calibration_error", "expected_calibration_error", "maximum_calibration_error", "negative_log_likelihood", "reliability_diagram"],
    ".temperature": ["TemperatureScaler", "fit_temperature"],
    ".conformal_split": ["ConformalFit"],
    ".run": ["CalibrationResult", "fit_calibration", "result_at_temperature", "run_calibration", "save_calibration"],
})
