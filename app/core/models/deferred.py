"""Models known without loading them: a cached conversion's record, or a ``.tflite`` file.

Both look like :class:`~app.core.models.loading.LoadedModel` to everything that reads
facts about the model (input shape, classes, logits source). Only what needs the Keras
model itself (diagnostics activations, saliency, fitting on a new layer set) touches
``.model``: a :class:`DeferredModel` then loads it, importing TensorFlow; a
:class:`TFLiteModel` says that this needs the Keras file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from app.core.errors import ModelError
from app.core.models.inspection import ModelInspection
from app.core.models.loading import LoadedModel, load_model


class _KnownModel(LoadedModel):
    """A LoadedModel whose ``model`` and ``heads`` are produced on first use."""

    def __init__(
        self,
        path: Path,
        inspection: ModelInspection,
        input_shape: tuple[int | None, int | None, int],
        n_classes: int,
        logits_source: str,
        has_features: bool,
        trusted: bool = False,
        notes: list[str] | None = None,
    ) -> None:
        # Not the dataclass __init__: it would assign ``model`` and ``heads`` (properties here).
        self.path = path
        self.format = inspection.format
        self.inspection = inspection
        self.input_shape = input_shape
        self.n_classes = n_classes
        self.logits_source = logits_source
        self.has_features = has_features
        self.trusted = trusted
        self.notes = list(notes or [])

    def __repr__(self) -> str:  # the dataclass repr would read ``model``, loading it
        return f"{type(self).__name__}({self.path.name!r}, {self.input_shape}, {self.n_classes} classes)"

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    @property
    def model(self) -> Any:
        return self._keras().model

    @model.setter
    def model(self, value: Any) -> None:
        raise AttributeError("the model of a deferred load cannot be replaced")

    @property
    def heads(self) -> Any:
        return self._keras().heads

    @heads.setter
    def heads(self, value: Any) -> None:
        raise AttributeError("the heads of a deferred load cannot be replaced")

    def _keras(self) -> LoadedModel:
        raise NotImplementedError


class DeferredModel(_KnownModel):
    """A Keras model opened from its cached conversion: loaded (with TensorFlow) when used.

    Loading checks the file again (``load_model`` inspects it) and keeps the facts recorded
    at conversion, which describe the same file (the cache key is its content hash).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: LoadedModel | None = None
        self._load_lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        """True once TensorFlow has loaded the Keras model."""
        return self._loaded is not None

    def _keras(self) -> LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = load_model(self.path, trust=self.trusted)
            return self._loaded


class TFLiteModel(_KnownModel):
    """A ``.tflite`` model: LiteRT runs it; it has no Keras layers to look into."""

    def _keras(self) -> LoadedModel:
        raise ModelError(
            f"{self.path.name}: a .tflite file exposes no layers or activations; this needs "
            "the Keras model it was made from (.keras or .h5)"
        )
