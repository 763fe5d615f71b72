"""probscope: see whether a Keras image classifier can be trusted."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("probscope")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
