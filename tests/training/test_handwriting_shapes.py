"""The written digits' shapes: whole on their canvas, as wide as people write them, and the
handwriting fonts used for writing only."""

from __future__ import annotations

import numpy as np

from app.core.ood.reference import glyph_fonts
from app.training.digits import synth_handwriting as hw


def _aspect(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask > 0.05)
    return (np.ptp(xs) + 1) / (np.ptp(ys) + 1)


def test_written_digits_are_never_cut_by_their_canvas() -> None:
    """Ink touching the border was cut off: a fifth of the wide digits lost an end that way."""
    rng = np.random.default_rng(0)
    touching = 0
    for i in range(400):
        m = hw.stroke_digit(i % 10, rng)
        touching += max(m[:, :2].max(), m[:, -2:].max(), m[:2].max(), m[-2:].max()) > 0.05
    assert touching / 400 < 0.05


def test_twos_and_fives_are_written_about_as_wide_as_tall() -> None:
    """Templates drew them at 0.75 of their height; a 1 stays narrow."""
    rng = np.random.default_rng(1)
    mean = {d: np.mean([_aspect(hw.stroke_digit(d, rng)) for _ in range(60)]) for d in (1, 2, 5)}
    assert mean[2] > 0.9 and mean[5] > 0.8 and mean[1] < 0.55


def test_handwriting_fonts_write_and_never_print() -> None:
    fonts = ("/f/dkg.ttf", "/f/BecauseWeLearn-Regular.otf", "/f/DejaVuSans.ttf", "/f/Inter.otf")
    assert [glyph_fonts.is_handwriting(f) for f in fonts] == [True, True, False, False]
    rng = np.random.default_rng(2)
    printed = {glyph_fonts.random_print_style(rng, fonts).path for _ in range(300)}
    written = {glyph_fonts.random_print_style(rng, fonts, script=True).path for _ in range(300)}
    assert printed - {None} == {"/f/DejaVuSans.ttf", "/f/Inter.otf"}
    assert written - {None} == {"/f/dkg.ttf", "/f/BecauseWeLearn-Regular.otf"}


def test_without_handwriting_fonts_script_is_hershey() -> None:
    rng = np.random.default_rng(3)
    kinds = {glyph_fonts.random_print_style(rng, ("/f/DejaVuSans.ttf",), script=True).kind
             for _ in range(50)}
    assert kinds == {"hershey"}
