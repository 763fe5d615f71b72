"""Code that trained the bundled models (data, not code, stays in resources/)."""
