"""The "none of the classes" check: score, acceptance threshold and its histogram."""
