"""Diagnostics: collapse, dead ReLUs, input mismatch; activations and what-if for one image."""
