"""Look inside a saved model *before* loading it: which layers, and which can run code.

Loading a Lambda layer, a custom class or a SavedModel graph can execute arbitrary code,
so this module reads only the saved configuration (JSON inside the ``.keras`` zip or the
``.h5`` attributes) and never deserialises anything.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import ModelError
from app.core.json_io import JSONLimitError, loads_checked, objects_with, read_zip_member
from app.core.models.keras2_ops import OP_LAYERS, keras3_op_call, safe_op_call

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".tflite")
# A TensorFlow Lite flatbuffer names its schema in bytes 4-8.
TFLITE_IDENTIFIER = b"TFL3"
TFLITE_NOTE = "a .tflite file is data (operators and weights), not code: it needs no trust"
PREPROCESSING_LAYERS = frozenset(
    {"Rescaling", "Normalization", "Resizing", "CenterCrop"}
)
# Keras 2 functional models record raw TensorFlow calls as these pseudo-layers.
_CODE_LAYERS = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda"})
# Layers that load and run a TensorFlow graph from elsewhere (Keras' safe mode blocks them).
_GRAPH_LAYERS = frozenset({"TFSMLayer"})
# Modules of Keras' global settings and of its deserializer: nothing a model needs, and the
# place enable_unsafe_deserialization lives.
_SETTINGS_MODULES = ("keras.config", "keras.src.backend.config", "keras.src.saving")
# A real config.json is a few MB at most; a zip bomb inflates to gigabytes.
MAX_CONFIG_BYTES = 64 * 2**20
# Serialization markers Keras itself writes for plain values.
_VALUE_MARKERS = frozenset(
    {"__tuple__", "__numpy__", "__bytes__", "__keras_tensor__", "__typespec__", "__tensor__",
     "__ellipsis__", "__slice__", "__complex__"}
)


@dataclass
class ModelInspection:
    """What a saved model contains, read without loading it."""

    path: Path
    format: str  # "keras", "h5", "savedmodel" or "tflite"
    layer_classes: list[str] = field(default_factory=list)
    risky: list[str] = field(default_factory=list)
    preprocessing_layers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_safe(self) -> bool:
        return not self.risky


# Written by ``probscope export`` beside the SavedModel it serves (app.core.export).
EXPORT_METADATA_FILE = "probscope.export.json"


def looks_like_model(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` is a model file or a SavedModel folder (cheap, no loading)."""
    p = Path(path)
    if p.is_dir():
        return (p / "saved_model.pb").exists() or (p / "saved_model.pbtxt").exists()
    return p.suffix.lower() in MODEL_SUFFIXES


def _object_name(obj: dict[str, Any]) -> str:
    cfg = obj.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
        return f"'{cfg['name']}'"
    return ""


def _risk_of(obj: dict[str, Any], known_class: Any) -> str | None:
    cls = str(obj.get("class_name"))
    if cls in _VALUE_MARKERS:
        return None
    label = f"{cls} {_object_name(obj)}".strip()
    if cls in OP_LAYERS and safe_op_call(obj) is not None:
        return None  # plain arithmetic on constants: rebuilt without running anything
    if cls in _CODE_LAYERS:
        return f"{label} (runs Python code)"
    if cls in _GRAPH_LAYERS:
        return f"{label} (loads and runs a TensorFlow SavedModel graph)"
    module = obj.get("module")
    if isinstance(module, str) and module.startswith(_SETTINGS_MODULES):
        return f"{label} from '{module}' (Keras' own settings: can turn its safe mode off)"
    if cls == "__lambda__":
        return "a Python lambda function (runs Python code)"
    registered = obj.get("registered_name")
    if module is not None and not (module == "keras" or str(module).startswith("keras.")):
        if module == "builtins" and cls == "function":
            return f"custom function {obj.get('config')!r} (runs Python code)"
        return f"{label} from module '{module}' (custom code)"
    if registered and isinstance(registered, str) and ">" in registered and not registered.startswith(
        "keras"
    ):
        return f"{label} registered as '{registered}' (custom code)"
    if module is None and known_class is not None and not known_class(cls):
        return f"{label} (unknown layer class, custom code)"
    return None


def _unsafe_strings(config: Any) -> list[str]:
    # Any string in the config, wherever it sits (a layer argument, a function name): a call to
    # enable_unsafe_deserialization need not be an object of its own.
    found: list[str] = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and "unsafe_deserialization" in node and node not in found:
            found.append(node)
    return found


def _inspect_config(config: Any, inspection: ModelInspection, known_class: Any) -> None:
    seen_classes: list[str] = []
    for text in _unsafe_strings(config):
        inspection.risky.append(f"a reference to {text[:80]!r} (turns Keras' safe mode off)")
    for obj in objects_with(config, "class_name"):
        cls = str(obj.get("class_name"))
        if cls in _VALUE_MARKERS:
            continue
        seen_classes.append(cls)
        risk = _risk_of(obj, known_class)
        if cls == "__lambda__" and any(r.startswith("Lambda ") for r in inspection.risky):
            risk = None  # the function inside a Lambda layer already named: one risk, said once
        if risk and risk not in inspection.risky:
            inspection.risky.append(risk)
        op = safe_op_call(obj) if cls in OP_LAYERS else keras3_op_call(obj)
        if op is not None:
            inspection.preprocessing_layers.append(
                {"class_name": cls, "name": obj["config"].get("name"), **op})
        if cls in PREPROCESSING_LAYERS and isinstance(obj.get("config"), dict):
            cfg = obj["config"]
            entry: dict[str, Any] = {"class_name": cls, "name": cfg.get("name")}
            for key in ("scale", "offset", "mean", "variance", "axis", "height", "width",
                        "interpolation", "crop_to_aspect_ratio", "pad_to_aspect_ratio"):
                if key in cfg:
                    entry[key] = cfg[key]
            inspection.preprocessing_layers.append(entry)
    inspection.layer_classes = sorted(set(seen_classes))


def _keras2_known_class(name: str) -> bool:
    # Keras 2 .h5 configs carry no module, so an unknown class name means custom code.
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    if name in {"Functional", "Sequential", "Model", "InputLayer"}:
        return True
    for namespace in (keras.layers, keras.initializers, keras.regularizers, keras.constraints,
                      keras.activations, keras.optimizers, keras.losses, keras.metrics,
                      keras.mixed_precision):
        if hasattr(namespace, name):
            return True
    # Keras 2 names that Keras 3 renamed but still reads.
    return name in {"DTypePolicy", "Policy", "VarianceScaling", "TruncatedNormal"}


def _escaping_member(names: list[str]) -> str | None:
    # Keras extracts assets to a temporary folder: a member named "../x" or "/x" would be
    # written outside it (zip slip). Keras skips them with a warning; probscope refuses.
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            return name
    return None


def _read_keras_zip(p: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(p) as zf:
            escaping = _escaping_member(zf.namelist())
            if escaping is not None:
                raise ModelError(f"{p.name}: the .keras archive holds a file outside itself "
                                 f"({escaping[:80]!r}); refused")
            config = loads_checked(read_zip_member(zf, "config.json", MAX_CONFIG_BYTES))
    except zipfile.BadZipFile:
        raise ModelError(f"{p.name}: not a Keras model file (not a .keras zip archive)") from None
    except KeyError:
        raise ModelError(f"{p.name}: the .keras archive has no config.json") from None
    except JSONLimitError as exc:
        raise ModelError(f"{p.name}: config.json {exc}; refused") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError,
            NotImplementedError, zipfile.LargeZipFile) as exc:
        raise ModelError(f"{p.name}: the .keras archive is corrupt ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{p.name}: config.json is not a Keras model config")
    return config


def _read_h5_config(p: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                raise ModelError(
                    f"{p.name}: holds weights only, no model; save the whole model with model.save()"
                )
            text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            return loads_checked(text)
    except ModelError:
        raise
    except JSONLimitError as exc:
        raise ModelError(f"{p.name}: the model config {exc}; refused") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p.name}: not a readable HDF5 model file ({exc})") from None


def _inspect_tflite(p: Path) -> ModelInspection:
    try:
        with p.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelError(f"{p.name}: cannot read the model file ({exc.strerror or exc})") from None
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{p.name}: not a TensorFlow Lite model (no TFL3 flatbuffer identifier)")
    return ModelInspection(p, "tflite", notes=[TFLITE_NOTE])


def inspect_model(path: str | os.PathLike[str]) -> ModelInspection:
    """Read a saved model's configuration and list risky and preprocessing layers.

    Parameters
    ----------
    path : path-like
        A ``.keras`` file, a legacy ``.h5``/``.hdf5`` file, a ``.tflite`` file or a
        SavedModel folder.

    Returns
    -------
    ModelInspection
        ``risky`` names every Lambda layer, custom class or module outside Keras, and a
        SavedModel graph (it can run arbitrary TensorFlow ops and Python-defined functions).

    Raises
    ------
    ModelError
        The path is missing, not a model, or corrupt.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p.name or p}: no such model file or folder")
    if p.is_dir():
        if not looks_like_model(p):
            raise ModelError(f"{p.name}: folder is not a SavedModel (no saved_model.pb)")
        if (p / EXPORT_METADATA_FILE).is_file():
            raise ModelError(f"{p}: a probscope export, made for serving (it takes encoded image "
                             "files): open the model it was exported from; serve this folder "
                             "with TensorFlow Serving or probscope score")
        inspection = ModelInspection(p, "savedmodel")
        inspection.risky.append("a TensorFlow SavedModel graph (can run arbitrary operations)")
        return inspection
    suffix = p.suffix.lower()
    if p.stat().st_size == 0:
        raise ModelError(f"{p.name}: the model file is empty (0 bytes)")
    if suffix == ".keras":
        inspection = ModelInspection(p, "keras")
        _inspect_config(_read_keras_zip(p), inspection, None)
    elif suffix in (".h5", ".hdf5"):
        inspection = ModelInspection(p, "h5")
        _inspect_config(_read_h5_config(p), inspection, _keras2_known_class)
    elif suffix == ".tflite":
        inspection = _inspect_tflite(p)
    else:
        raise ModelError(
            f"{p.name}: not a model file (expected .keras, .h5/.hdf5, .tflite or a SavedModel folder)"
        )
    return inspection
