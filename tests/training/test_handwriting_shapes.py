"""The written digits' shapes: whole on their canvas, as wide as people write them, 2s looped
and 6s left open as often as people write them so, and the handwriting fonts used for writing
only."""

from __future__ import annotations

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import glyph_fonts
from app.core.ood.reference import handwriting as scans
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


def _holes(scan: np.ndarray) -> list[float]:
    """Where the holes (background enclosed by ink, at least 0.4 % of the height squared) of a
    28x28 MNIST-framed scan are: their centre's height, 0 at the top of the ink, 1 at its foot."""
    big = cv2.resize(scan, (112, 112), interpolation=cv2.INTER_LINEAR)
    ink = (big > 0.5 * big.max()).astype(np.uint8)
    ys = np.nonzero(ink)[0]
    height = ys.max() - ys.min() + 1
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    return [(c[:, 0, 1].mean() - ys.min()) / height
            for c, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True)
            if parent >= 0 and cv2.contourArea(c) > 0.004 * height**2]


def _scans(digit: int, n: int, rng: np.random.Generator) -> list[list[float]]:
    return [_holes(scans.mnist_frame(hw.stroke_digit(digit, rng))) for _ in range(n)]


def test_about_half_the_written_twos_loop_at_the_base() -> None:
    """44 % of real MNIST 2s (even half of the 5,000) have a hole low down; the templates made
    one in 13 % of theirs, and the model read looped 2s as 8 or 9."""
    rng = np.random.default_rng(4)
    looped = [any(h > 0.6 for h in holes) for holes in _scans(2, 200, rng)]
    sevens = [bool(holes) for holes in _scans(7, 100, rng)]
    assert 0.4 < np.mean(looped) < 0.8 and np.mean(sevens) < 0.05


def test_some_written_sixes_leave_their_bowl_open() -> None:
    """A quarter of real MNIST 6s (even half) enclose no hole; the templates left 9 % open, and
    the model read open 6s as 4 or 0."""
    rng = np.random.default_rng(5)
    open_sixes = np.mean([not holes for holes in _scans(6, 200, rng)])
    assert 0.18 < open_sixes < 0.4


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
