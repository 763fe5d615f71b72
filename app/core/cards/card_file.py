"""The model card: a JSON sidecar ``<model>.probscope.json`` next to the model.

It records what inference must repeat from training (classes, preprocessing) and what
probscope fitted later (temperature, the "none of the classes" threshold). The file is a
public contract: unknown keys are preserved on rewrite and writes are atomic.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from app.core.errors import CardError, DataError
from app.core.files import atomic_write
from app.core.json_io import JSONLimitError, json_text, loads_checked
from app.core.numeric import TEMPERATURE_RANGE, check_temperature

CARD_FORMAT = "probscope.model-card"
CARD_VERSION = 1
CARD_SUFFIX = ".probscope.json"
DEFAULT_OOD_LABEL = "None of the classes"
# Cards are a few kB; reading a stranger's multi-gigabyte file as one would only hang.
MAX_CARD_BYTES = 16 * 2**20


def card_path_for(model_path: str | os.PathLike[str]) -> Path:
    """Return the card path beside a model file or SavedModel folder."""
    p = Path(model_path)
    return p.with_name(p.name + CARD_SUFFIX)


class ModelCard:
    """A model card held as its JSON dictionary, with typed accessors for the contract keys.

    The dictionary is the source of truth so that keys written by newer tools or by
    the user survive a load/save round trip untouched.
    """

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        self.data = data
        self.path = path

    # -- contract keys -------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.data.get("classes", [])]

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.data.setdefault("preprocessing", {})

    @property
    def temperature(self) -> float:
        return float(self.data.get("calibration", {}).get("temperature", 1.0))

    @temperature.setter
    def temperature(self, value: float) -> None:
        self.data.setdefault("calibration", {})["temperature"] = float(value)

    @property
    def ood(self) -> dict[str, Any]:
        return self.data.setdefault("ood", {"score": "msp", "threshold": 0.0})

    @property
    def ood_fitted(self) -> bool:
        """A "none of the classes" check was fitted, not the placeholder a card starts with."""
        ood = self.data.get("ood") or {}
        return "fitted" in ood or float(ood.get("threshold") or 0.0) != 0.0

    @property
    def ood_label(self) -> str:
        return str(self.ood.get("label") or DEFAULT_OOD_LABEL)

    @property
    def recorded(self) -> bool:
        """False when the preprocessing was inferred from the model, not recorded in training."""
        return bool(self.preprocessing.get("recorded", True))

    def copy(self) -> ModelCard:
        return ModelCard(copy.deepcopy(self.data), self.path)

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def new_card(classes: list[str], preprocessing: dict[str, Any], **extra: Any) -> ModelCard:
    """Build a card with every contract key present."""
    data: dict[str, Any] = {
        "format": CARD_FORMAT,
        "version": CARD_VERSION,
        "classes": [str(c) for c in classes],
        "preprocessing": dict(preprocessing),
        "calibration": {"temperature": 1.0},
        "ood": {"score": "msp", "threshold": 0.0, "label": DEFAULT_OOD_LABEL},
    }
    data.update(extra)
    return ModelCard(data)


def _is_temperature(value: float) -> bool:
    try:
        check_temperature(value)
    except DataError:
        return False
    return True


def validate_card(data: Any, name: str = "model card") -> dict[str, Any]:
    """Check a parsed card against the contract and fill defaults for optional keys.

    Raises
    ------
    CardError
        Not a probscope card, a newer version than this probscope reads, or malformed keys.
    """
    if not isinstance(data, dict):
        raise CardError(f"{name}: expected a JSON object")
    fmt = data.get("format", CARD_FORMAT)
    if fmt != CARD_FORMAT:
        raise CardError(f"{name}: format is {fmt!r}, expected {CARD_FORMAT!r}")
    version = data.get("version", CARD_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CardError(f"{name}: version must be a positive integer, got {json_text(version)}")
    if version > CARD_VERSION:
        raise CardError(
            f"{name}: card version {version} is newer than this probscope reads "
            f"({CARD_VERSION}); upgrade probscope"
        )
    classes = data.get("classes")
    if not isinstance(classes, list) or not classes:
        raise CardError(f"{name}: 'classes' must be a non-empty list of class names")
    if len({str(c) for c in classes}) != len(classes):
        raise CardError(f"{name}: 'classes' has duplicate names")
    pre = data.setdefault("preprocessing", {})
    if not isinstance(pre, dict):
        raise CardError(f"{name}: 'preprocessing' must be an object")
    cal = data.setdefault("calibration", {"temperature": 1.0})
    if not isinstance(cal, dict):
        raise CardError(f"{name}: 'calibration' must be an object")
    t = cal.setdefault("temperature", 1.0)
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not _is_temperature(t):
        raise CardError(
            f"{name}: calibration temperature must be a number from {TEMPERATURE_RANGE[0]:g} "
            f"to {TEMPERATURE_RANGE[1]:g}, got {json_text(t)}"
        )
    ood = data.setdefault("ood", {"score": "msp", "threshold": 0.0})
    if not isinstance(ood, dict):
        raise CardError(f"{name}: 'ood' must be an object")
    ood.setdefault("score", "msp")
    ood.setdefault("threshold", 0.0)
    data.setdefault("format", CARD_FORMAT)
    data.setdefault("version", CARD_VERSION)
    return data


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read and validate a card file.

    Raises
    ------
    CardError
        Unreadable file, invalid JSON or a card that breaks the contract.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CARD_BYTES:
            raise CardError(f"{p.name}: {p.stat().st_size / 2**20:.0f} MB is too large for a model card")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise CardError(f"{p.name}: no such card file") from None
    except OSError as exc:
        raise CardError(f"{p.name}: cannot be read ({exc.strerror or exc})") from exc
    try:
        data = loads_checked(raw)
    except UnicodeDecodeError as exc:
        raise CardError(f"{p.name}: not a text file in UTF-8 (byte {exc.start} is not UTF-8); "
                        "save the card as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise CardError(f"{p.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except JSONLimitError as exc:
        raise CardError(f"{p.name}: not valid JSON ({exc})") from None
    return ModelCard(validate_card(data, p.name), p)


def load_card_for(model_path: str | os.PathLike[str]) -> ModelCard | None:
    """Read the card beside a model, or return None when there is none."""
    p = card_path_for(model_path)
    return read_card(p) if p.exists() else None


def write_card(card: ModelCard, path: str | os.PathLike[str] | None = None) -> Path:
    """Write a card atomically (see :func:`app.core.files.atomic_write`); return its path."""
    target = Path(path) if path is not None else card.path
    if target is None:
        raise CardError("model card has no path to be written to")
    validate_card(card.data, target.name)
    try:
        text = card.to_json()
    except (ValueError, TypeError) as exc:
        # A value standard JSON cannot hold (NaN, Infinity, an object): the old card stays.
        raise CardError(f"{target.name}: not written: a value is not valid in JSON ({exc})") from None
    try:
        atomic_write(target, text)
    except OSError as exc:
        raise CardError(f"{target.name}: cannot be written ({exc.strerror or exc})") from exc
    card.path = target
    return target
