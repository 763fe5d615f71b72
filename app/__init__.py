"""probscope: see whether a Keras image classifier can be trusted."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # importlib.metadata costs ~70 ms at start-up; the version is looked up when first asked.
    if name != "__version__":
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("probscope")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
