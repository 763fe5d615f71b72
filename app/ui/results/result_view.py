"""The current result: the image as given, what the model saw, the top label and the OOD badge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.session import Classification
from app.ui.results.heatmap_controls import HeatmapControls
from app.ui.widgets.checker import show_checker_behind

if TYPE_CHECKING:
    from app.core import ModelSession
    from app.ui.state import ViewState

EMPTY_HINT = "Drop images or a model here"

_BADGE_OK = "background:#dff3e4; color:#14532d; border:1px solid #7cc495; border-radius:6px; padding:6px 10px;"
_BADGE_OOD = "background:#fde2e1; color:#7a1712; border:2px solid #d9534f; border-radius:6px; padding:6px 10px;"
_BADGE_WARN = "background:#fff4cc; color:#5c4400; border:2px solid #e6a700; border-radius:6px; padding:6px 10px;"
# A prediction set: one class reads as a confident answer, several as "consider these".
_SET_SURE = "color:#14532d; background:#dff3e4; border:1px solid #7cc495; border-radius:4px; padding:2px 6px;"
_SET_SOME = "color:palette(text); border:1px solid palette(mid); border-radius:4px; padding:2px 6px;"
_SET_WIDE = "color:#5c4400; background:#fff4cc; border:1px solid #e6c65c; border-radius:4px; padding:2px 6px;"
WIDE_SET = 3  # classes in a set from which on it is a warning, not an answer
_HEADLINE_SCALE = 3.2
_LONG_HEADLINE_SCALE = 1.9  # "None of the classes" on one line beside the numbers
_LONG_HEADLINE = 6  # characters from which the headline is set smaller
_BADGE_UNCHECKED = ("background:palette(window); color:palette(text); border:1px dashed palette(mid);"
                    " border-radius:6px; padding:6px 10px;")


class ImagePane(QLabel):
    """Shows one image scaled to fit; ``pixelated`` keeps model pixels crisp (no smoothing)."""

    def __init__(self, pixelated: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._overlay: QImage | None = None  # the picture with a heat map, shown instead
        self._pixelated = pixelated
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(96, 96))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFrameShape(QFrame.Shape.StyledPanel)

    def set_image(self, image: QImage | None, placeholder: str = "") -> None:
        self._image = image if image is not None and not image.isNull() else None
        if self._image is None:
            self.setPixmap(QPixmap())
            self.setText(placeholder)
        else:
            self.setText("")
        self._rescale()

    def image(self) -> QImage | None:
        """The plain picture (never the heat-map overlay)."""
        return self._image

    def set_overlay(self, overlay: QImage | None) -> None:
        """Show ``overlay`` (the picture with its heat map) instead of the picture; None: plain."""
        self._overlay = overlay if overlay is not None and not overlay.isNull() else None
        if self._overlay is not None:
            self.setText("")
        self._rescale()

    def overlay(self) -> QImage | None:
        return self._overlay

    def shown_image(self) -> QImage | None:
        """What the pane draws: the overlay when there is one, else the picture."""
        return self._overlay if self._overlay is not None else self._image

    def _rescale(self) -> None:
        image = self.shown_image()
        if image is None:
            if self._image is None:
                self.setPixmap(QPixmap())
            return
        size = self.contentsRect().size() - QSize(8, 8)
        if size.width() < 8 or size.height() < 8:
            return
        mode = (Qt.TransformationMode.FastTransformation if self._pixelated
                else Qt.TransformationMode.SmoothTransformation)
        scaled = image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode)
        if not self._pixelated and (scaled.width() > image.width() * 4):
            # Tiny photos blown up smoothly look like mush; cap at 4x.
            scaled = image.scaled(image.size() * 4, Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(QPixmap.fromImage(scaled))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._rescale()


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class EmptyState(QLabel):
    """The large, obvious hint shown before anything was classified."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setText(
            f"<div style='font-size:20pt; font-weight:600'>{EMPTY_HINT}</div>"
            "<div style='margin-top:10px'>image files, folders (classified recursively), image data "
            "from a browser, or a .keras / .h5 / SavedModel model</div>"
            "<div style='margin-top:6px'>or use File → Open images (Ctrl+O), paste (Ctrl+V), "
            "File → Open model (Ctrl+Shift+O)</div>"
        )


class ResultView(QWidget):
    """Everything about the one image currently shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack = QStackedWidget(self)
        self.empty = EmptyState(self)
        self.stack.addWidget(self.empty)

        page = QWidget(self)
        self.original = ImagePane(pixelated=False, parent=page)
        self.original.setToolTip("The image as you gave it (EXIF orientation applied)")
        self.seen = ImagePane(pixelated=True, parent=page)
        self.seen.setToolTip(
            "What the model receives after the recorded preprocessing (resize, colour order, "
            "scaling), shown at model resolution and enlarged without smoothing"
        )
        for pane in (self.original, self.seen):
            show_checker_behind(pane)
        self.original_caption = _caption("As given")
        self.original_caption.setWordWrap(True)
        self.seen_caption = _caption("What the model sees")
        self.seen_caption.setWordWrap(True)

        self.name_label = QLabel(page)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.name_label.setWordWrap(True)
        self.top_label = QLabel(page)
        self.top_label.setObjectName("topLabel")
        self._base_point_size = max(self.top_label.font().pointSizeF(), 9.0)
        self._set_headline_scale(_HEADLINE_SCALE)
        # One line: a wrapped headline pushed the numbers beside it out of place.
        self.top_label.setWordWrap(False)
        self.set_label = QLabel(page)
        self.set_label.setObjectName("predictionSet")
        self.set_label.setToolTip(
            "The prediction set: the classes that hold the true one for this share of new "
            "images (fitted on labelled held-out data in the Calibration tab). One class is a "
            "confident answer; several mean the model cannot tell them apart."
        )
        set_font = QFont(self.set_label.font())
        set_font.setPointSizeF(self._base_point_size * 1.35)
        set_font.setBold(True)
        self.set_label.setFont(set_font)
        self.set_label.hide()
        self.confidence_label = QLabel(page)
        mid = QFont(self.confidence_label.font())
        mid.setPointSizeF(max(mid.pointSizeF(), 9.0) * 1.35)
        self.confidence_label.setFont(mid)
        self.confidence_label.setToolTip(
            "Calibrated probability: the softmax of logits divided by the model card's temperature T. "
            "With a fitted T, 80% means right about 80% of the time. The raw probability is the "
            "model's own softmax (T = 1), often overconfident."
        )
        self.badge = QLabel(page)
        self.badge.setObjectName("oodBadge")
        self.badge.setWordWrap(True)
        badge_font = QFont(self.badge.font())
        badge_font.setBold(True)
        badge_font.setPointSizeF(max(badge_font.pointSizeF(), 9.0) * 1.15)
        self.badge.setFont(badge_font)
        self.score_label = QLabel(page)
        self.score_label.setToolTip(
            "The 'none of the classes' check: an image is in distribution when its score is at least "
            "the threshold stored in the model card"
        )
        self.error_label = QLabel(page)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color:#b42318; font-weight:600;")

        # Verdict first (what, how sure, known or not), then the two pictures side by side.
        verdict = QHBoxLayout()
        verdict.addWidget(self.top_label, 0, Qt.AlignmentFlag.AlignVCenter)
        verdict.addSpacing(14)
        numbers = QVBoxLayout()
        numbers.setSpacing(2)
        numbers.addWidget(self.set_label, 0, Qt.AlignmentFlag.AlignLeft)
        numbers.addWidget(self.confidence_label)
        numbers.addWidget(self.score_label)
        verdict.addLayout(numbers, 1)

        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(4)
        grid.addWidget(self.name_label, 0, 0, 1, 2)
        grid.addLayout(verdict, 1, 0, 1, 2)
        grid.addWidget(self.badge, 2, 0, 1, 2)
        grid.addWidget(self.error_label, 3, 0, 1, 2)
        grid.addWidget(self.original_caption, 4, 0)
        grid.addWidget(self.seen_caption, 4, 1)
        grid.addWidget(self.original, 5, 0)
        grid.addWidget(self.seen, 5, 1)
        # Where the model looks: one toggle for both pictures (the window's explain controller
        # drives it and hands back the overlays).
        self.heatmap = HeatmapControls(page)
        grid.addWidget(self.heatmap, 6, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(5, 1)
        self.stack.addWidget(page)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        self.result: Classification | None = None
        self.untrustworthy: str | None = None  # the session's reason no verdict may look good

    def _set_headline_scale(self, scale: float) -> None:
        big = QFont(self.top_label.font())
        big.setPointSizeF(self._base_point_size * scale)
        big.setBold(True)
        self.top_label.setFont(big)

    def _set_headline(self, text: str) -> None:
        long = len(text) > _LONG_HEADLINE
        self._set_headline_scale(_LONG_HEADLINE_SCALE if long else _HEADLINE_SCALE)
        self.top_label.setText(text)

    def follow(self, state: ViewState) -> None:
        """Show ``state.shown``: the current result at the display temperature."""
        self._state = state
        state.session_changed.connect(self._on_session)
        state.shown_changed.connect(self._on_shown)

    def _on_session(self, _session: ModelSession | None) -> None:
        self.clear()

    def _on_shown(self, shown: Classification | None) -> None:
        if shown is None:
            self.clear()
            return
        session = self._state.session
        self.untrustworthy = None if session is None else session.untrustworthy
        desc = ""
        if session is not None and session.spec.target_size:
            mode = session.spec.color_mode
            # The tensor holds blue first; the picture is turned back so colours look right.
            desc = f"{session.spec.size_text('×')}, {'bgr, shown as rgb' if mode == 'bgr' else mode}"
        # The pictures stay: whoever changes the current result sets them first.
        self.show_result(shown, session.ood.label if session else "None of the classes",
                         self.original.image(), self.seen.image(), desc)

    @property
    def showing_empty_state(self) -> bool:
        return self.stack.currentIndex() == 0

    def clear(self) -> None:
        self.result = None
        self.stack.setCurrentIndex(0)

    def show_result(
        self,
        result: Classification,
        ood_label: str,
        original: QImage | None = None,
        seen: QImage | None = None,
        input_desc: str = "",
    ) -> None:
        """Show a result; pictures may arrive later through :meth:`set_pictures`."""
        self.result = result
        self.stack.setCurrentIndex(1)
        # The parent folder too: in a labelled folder run it is the image's true class.
        path = Path(result.path)
        self.name_label.setText(f"{path.parent.name}/{path.name}" if path.parent.name else result.path)
        self.name_label.setToolTip(result.path)
        self.seen_caption.setText(f"What the model sees{f' ({input_desc})' if input_desc else ''}")
        self.set_pictures(original, seen)
        self._show_set(result)
        if not result.ok:
            self._set_headline("Not classified")  # a lone dash read as a black bar
            self.confidence_label.setText("")
            self.badge.hide()
            self.score_label.setText("")
            self.error_label.setText(f"Could not classify: {result.error}")
            self.error_label.show()
            return
        self.error_label.setText("")
        self.error_label.hide()
        conf = result.confidence or 0.0
        known = result.ood is None or result.ood.in_distribution
        # An image of none of the classes is headlined as such; the model's guess stays visible.
        self._set_headline(str(result.label) if known else ood_label)
        guess = "" if known else f"best guess <b>{result.label}</b>: "
        raw = None
        if result.raw_probabilities is not None and result.index is not None:
            raw = float(result.raw_probabilities[result.index])
        raw_text = f"<br><small>raw model output: {raw:.1%}</small>" if raw is not None else ""
        self.confidence_label.setText(
            f"{guess}<b>{conf:.1%}</b> sure <small>(calibrated, T = {result.temperature:.2f})</small>{raw_text}"
        )
        self.badge.show()
        alpha = (" · the image's transparency was dropped, as in training: the model saw the "
                 "colours under it" if result.transparency_dropped else "")
        if self.untrustworthy and known:
            # A useless model must never get the green verdict, whatever its check says.
            self.badge.setText(f"⚠ Not to be trusted: {self.untrustworthy}{alpha}")
            self.badge.setStyleSheet(_BADGE_WARN)
        elif result.ood is not None and not result.ood.checked:
            self.badge.setText("No 'none of the classes' check is set up for this model: any image "
                               "gets a label. Fit one in the None of the classes tab.")
            self.badge.setStyleSheet(_BADGE_UNCHECKED)
        elif known:
            self.badge.setText(f"✓ looks like a known class{alpha}")
            self.badge.setStyleSheet(_BADGE_WARN if alpha else _BADGE_OK)
        else:
            # One line at the default window size: a second one squeezed the pictures.
            # "None of the classes: like none of the classes" said nothing twice.
            said = "Like" if ood_label.lower() == "none of the classes" else f"{ood_label}: like"
            self.badge.setText(f"⚠ {said} none of the classes, so the best guess is "
                               f"not to be trusted{alpha}")
            self.badge.setStyleSheet(_BADGE_OOD)
        if result.ood is not None and result.ood.checked:
            op = "≥" if result.ood.in_distribution else "&lt;"
            self.score_label.setText(
                f"<small>'none of the classes' check: {result.ood.score_name} score "
                f"{result.ood.score:.3g} {op} threshold {result.ood.threshold:.3g}</small>"
            )
        else:
            self.score_label.setText("")

    def _show_set(self, result: Classification) -> None:
        """The prediction set beside the label: "90 % set: {3, 8}", styled by its width."""
        session = getattr(self, "_state", None) and self._state.session
        members = result.prediction_set if result.ok else None
        sets = None if session is None else session.sets
        if members is None or sets is None:
            self.set_label.hide()
            return
        level = f"{100.0 * (1.0 - sets.alpha):.4g} %"
        text = f"{level} set: {{{', '.join(members)}}}"
        if result.no_class and members:
            # Beside "none of the classes" a green set would read as a verdict: it is only
            # which class the image would be, were it one.
            text = f"{level} set, were it a class: {{{', '.join(members)}}}"
            style = _SET_SOME
        elif not members:
            text += " — no class is likely enough"
            style = _SET_WIDE
        elif len(members) == 1:
            style = _SET_SURE
        else:
            style = _SET_WIDE if len(members) >= WIDE_SET else _SET_SOME
        self.set_label.setText(text)
        self.set_label.setStyleSheet(style)
        self.set_label.show()

    def set_pictures(self, original: QImage | None, seen: QImage | None) -> None:
        self.original.set_image(original, "(no picture)")
        self.seen.set_image(seen, "(not available)")

    def set_overlays(self, original: QImage | None, seen: QImage | None) -> None:
        """Heat-map overlays over both pictures (None, None: the plain pictures again)."""
        self.original.set_overlay(original)
        self.seen.set_overlay(seen)
