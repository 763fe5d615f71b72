"""The one family of errors a user may see: each carries a one-line message."""


class ProbscopeError(Exception):
    """A problem caused by the user's input, reported as one line, never a traceback."""

    def __init__(self, message: str) -> None:
        # Keep messages to one line: they go to a status bar, a history row or stderr.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class ImageError(ProbscopeError):
    """An image file or buffer that cannot be used (missing, empty, corrupt, too large)."""


class ModelError(ProbscopeError):
    """A model file that cannot be loaded or is not an image classifier."""


class UnsafeModelError(ModelError):
    """A model that could execute code when loaded and was not explicitly trusted."""


class CardError(ProbscopeError):
    """A model card that cannot be read, validated or written."""


class DataError(ProbscopeError, ValueError):
    """A data set (labelled folder, .npz, logits) or value that cannot be used for fitting or
    evaluation; also a ``ValueError``, as numerical code expects of bad values."""
