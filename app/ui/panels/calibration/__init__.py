"""Calibration: fit, explore and save the temperature; the reliability diagram and metrics."""
