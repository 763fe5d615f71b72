"""Do inference inputs look like training inputs? Per-channel statistics against the card.

The card's ``input_statistics`` (written by :mod:`app.core.cards.recording`) holds
per-channel ``mean``, ``std``, ``min`` and ``max`` of the model's training inputs. The
same numbers over the inputs being diagnosed reveal the classic mistakes: pixels not
rescaled (×255), rescaled twice (÷255), channels swapped (BGR for RGB), blank images.
Without recorded statistics the inputs are checked against the range the card's
preprocessing can produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.preprocessing.pipeline import normalize
from app.core.preprocessing.spec import PreprocessingSpec

# A pipeline mistake changes the value range by 255 (not rescaled, rescaled twice) or
# 127.5; real data sets differ from training data by a factor of two at most, since both
# are bounded by the same pixel range. 20 sits safely between.
RANGE_RATIO = 20.0
MEAN_SHIFT_STDS = 2.0  # channel means further than this many training stds apart
BGR_GAIN = 0.5  # reversed channel means must be twice as close as straight ones
CONTRAST_RATIO = 4.0


@dataclass
class InputStatistics:
    """Running per-channel statistics of model inputs, in float64 (card format on output)."""

    total: np.ndarray | None = None
    total_sq: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    count: int = 0
    images: int = 0
    constant: int = 0  # inputs whose every value is the same
    constant_values: list[float] = field(default_factory=list)

    def update(self, batch: np.ndarray) -> None:
        x = np.asarray(batch, dtype=np.float64)
        x = x[None] if x.ndim == 3 else x
        if x.ndim != 4 or len(x) == 0:
            return
        flat = x.reshape(-1, x.shape[-1])
        if self.total is None:
            self.total, self.total_sq = flat.sum(0), (flat**2).sum(0)
            self.lo, self.hi = flat.min(0), flat.max(0)
        else:
            self.total = self.total + flat.sum(0)
            self.total_sq = self.total_sq + (flat**2).sum(0)
            self.lo, self.hi = np.minimum(self.lo, flat.min(0)), np.maximum(self.hi, flat.max(0))
        per_image = x.reshape(len(x), -1)
        flat_images = per_image.max(1) == per_image.min(1)
        self.constant += int(flat_images.sum())
        self.constant_values += [float(v) for v in per_image[flat_images, 0][:5]]
        self.count += flat.shape[0]
        self.images += len(x)

    def to_json(self) -> dict[str, Any] | None:
        """``mean``/``std``/``min``/``max`` per channel as in the card, plus counts."""
        if self.total is None or self.total_sq is None or self.lo is None or self.hi is None:
            return None
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.total_sq / self.count - mean**2, 0.0))
        return {
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "min": [float(v) for v in self.lo],
            "max": [float(v) for v in self.hi],
            "images": self.images,
            "constant_images": self.constant,
        }


def recorded_statistics(card_data: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The card's ``input_statistics`` as float64 arrays, or None when absent or malformed."""
    stats = card_data.get("input_statistics")
    if not isinstance(stats, dict):
        return None
    try:
        out = {k: np.asarray(stats[k], dtype=np.float64).ravel() for k in ("mean", "std", "min", "max")}
    except (KeyError, TypeError, ValueError):
        return None
    sizes = {len(v) for v in out.values()}
    if len(sizes) != 1 or 0 in sizes or not all(np.all(np.isfinite(v)) for v in out.values()):
        return None
    return out


def _span(lo: np.ndarray, hi: np.ndarray) -> float:
    return float(np.max(hi) - np.min(lo))


def _range_finding(obs_span: float, ref_span: float, obs: str, ref: str) -> dict[str, str] | None:
    if ref_span <= 0 or obs_span <= 0:
        return None
    ratio = obs_span / ref_span
    if ratio >= RANGE_RATIO:
        return {"kind": "range_too_large", "message": (
            f"inputs span {obs} but {ref}: {ratio:.0f}x too large. Pixels were probably not "
            "rescaled (raw 0-255 fed to a model trained on 0-1); check 'scale' in the card")}
    if ratio <= 1.0 / RANGE_RATIO:
        return {"kind": "range_too_small", "message": (
            f"inputs span {obs} but {ref}: {1 / ratio:.0f}x too small. The input was probably "
            "rescaled twice (x/255 in the card and a Rescaling layer, or twice in code)")}
    return None


def compare_with_recorded(observed: dict[str, Any], recorded: dict[str, np.ndarray]) -> list[dict[str, str]]:
    """Findings from inference input statistics against the training ones.

    Parameters
    ----------
    observed : dict
        :meth:`InputStatistics.to_json` of the inputs being diagnosed.
    recorded : dict of ndarray
        :func:`recorded_statistics` of the card.

    Returns
    -------
    list of dict
        ``kind`` (``channels``, ``range_too_large``, ``range_too_small``, ``bgr``,
        ``shift``, ``contrast``) and a plain-words ``message`` with the numbers.
    """
    o = {k: np.asarray(observed[k], dtype=np.float64) for k in ("mean", "std", "min", "max")}
    r = recorded
    if len(o["mean"]) != len(r["mean"]):
        return [{"kind": "channels", "message": (
            f"inputs have {len(o['mean'])} channel(s) but training inputs had {len(r['mean'])}")}]
    obs_txt = f"{o['min'].min():.3g}..{o['max'].max():.3g}"
    ref_txt = f"training inputs spanned {r['min'].min():.3g}..{r['max'].max():.3g}"
    found = _range_finding(_span(o["min"], o["max"]), _span(r["min"], r["max"]), obs_txt, ref_txt)
    if found:
        return [found]
    findings = []
    ref_std = np.maximum(r["std"], 1e-12)
    straight = float(np.linalg.norm(o["mean"] - r["mean"]))
    reverse = float(np.linalg.norm(o["mean"][::-1] - r["mean"]))
    # Reversal can only be told apart when training's first and last channel means differ.
    distinct = abs(r["mean"][0] - r["mean"][-1]) > 0.25 * float(np.mean(ref_std))
    if len(o["mean"]) == 3 and distinct and reverse < BGR_GAIN * straight:
        findings.append({"kind": "bgr", "message": (
            f"channel means {_fmt(o['mean'])} match training's {_fmt(r['mean'])} better when "
            f"reversed (distance {reverse:.3g} vs {straight:.3g}): the image is probably BGR "
            "(cv2.imread) for an RGB model, or the other way round")})
        return findings
    shift = np.abs(o["mean"] - r["mean"]) / ref_std
    if float(np.median(shift)) > MEAN_SHIFT_STDS:
        findings.append({"kind": "shift", "message": (
            f"channel means {_fmt(o['mean'])} are {np.median(shift):.1f} training stds away from "
            f"training's {_fmt(r['mean'])}: a missing mean subtraction or a wrong offset?")})
    ratio = float(np.mean(o["std"]) / np.mean(ref_std))
    if ratio > CONTRAST_RATIO or ratio < 1.0 / CONTRAST_RATIO:
        findings.append({"kind": "contrast", "message": (
            f"input spread (std {np.mean(o['std']):.3g}) is {ratio:.2g}x the training spread "
            f"({np.mean(ref_std):.3g}): a missing or extra division by std?")})
    return findings


def spec_range(spec: PreprocessingSpec, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (low, high) the card's preprocessing makes of 0–255 pixels.

    None for data-dependent normalisations (per-image or sample-wise standardisation),
    whose range depends on the image.
    """
    if spec.per_image_standardization or spec.samplewise_center or spec.samplewise_std_normalization:
        return None
    a = normalize(np.zeros((1, 1, channels), np.float32), spec).ravel().astype(np.float64)
    b = normalize(np.full((1, 1, channels), 255.0, np.float32), spec).ravel().astype(np.float64)
    return np.minimum(a, b), np.maximum(a, b)


def compare_with_spec(observed: dict[str, Any], spec: PreprocessingSpec) -> list[dict[str, str]]:
    """Findings from input statistics against the range the card's preprocessing gives.

    Only a range off by ``RANGE_RATIO`` or more is reported: without training statistics,
    channel order and mean cannot be judged.
    """
    rng = spec_range(spec, len(observed["mean"]))
    if rng is None:
        return []
    lo, hi = rng
    obs_lo, obs_hi = np.min(observed["min"]), np.max(observed["max"])
    found = _range_finding(float(obs_hi - obs_lo), _span(lo, hi), f"{obs_lo:.3g}..{obs_hi:.3g}",
                           f"the card's preprocessing gives {lo.min():.3g}..{hi.max():.3g}")
    return [found] if found else []


def constant_finding(observed: dict[str, Any], values: list[float]) -> list[dict[str, str]]:
    """A finding when some inputs are one constant value (blank images, a broken decode)."""
    k, n = int(observed.get("constant_images", 0)), int(observed.get("images", 0))
    if not k:
        return []
    shown = ", ".join(f"{v:.3g}" for v in sorted(set(values))[:3])
    return [{"kind": "constant", "message": (
        f"{k} of {n} input(s) are constant (every value {shown}): blank images or a broken "
        "decode give the model nothing to look at")}]


def input_mismatch(
    stats: InputStatistics, card_data: dict[str, Any], spec: PreprocessingSpec
) -> dict[str, Any]:
    """Everything known about how the diagnosed inputs compare with training inputs.

    Returns
    -------
    dict
        ``observed`` (card-format statistics), ``recorded`` (the card's, or None),
        ``basis`` ("recorded statistics" or "card preprocessing range") and ``findings``.
    """
    observed = stats.to_json()
    recorded = recorded_statistics(card_data)
    if observed is None:
        return {"observed": None, "recorded": None, "basis": None, "findings": []}
    if recorded is not None:
        findings = compare_with_recorded(observed, recorded)
        basis = "recorded statistics"
    else:
        findings = compare_with_spec(observed, spec)
        basis = "card preprocessing range"
    findings += constant_finding(observed, stats.constant_values)
    return {
        "observed": observed,
        "recorded": {k: [float(x) for x in v] for k, v in recorded.items()} if recorded else None,
        "basis": basis,
        "findings": findings,
    }


def _fmt(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in values) + "]"
