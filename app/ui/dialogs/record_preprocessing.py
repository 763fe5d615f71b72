"""Record preprocessing…: the window's ``probscope card init``, with a live tensor preview.

A card-less model gets guessed preprocessing, and a wrong guess (0–255 pixels for a model
trained on 0–1, BGR for RGB) makes every answer wrong. The dialog offers the same presets as
``card init`` (idg, dataset, arrays, keras.applications names), shows what the model would
receive for a sample image as the user changes scale (fractions like ``1/255``), size, colour
mode and resize, and writes the card with the core's ``save_card_for_model``. Preprocessing
one image is a few milliseconds, so the preview runs on the GUI thread, no model involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core import ProbscopeError
from app.ui.widgets.checker import show_checker_behind
from app.ui.widgets.qt_images import rgb_to_qimage

BASE_PRESETS = (("idg", "ImageDataGenerator.flow_from_directory"),
                ("dataset", "image_dataset_from_directory"),
                ("arrays", "NumPy arrays fed to fit()"))
if TYPE_CHECKING:
    from app.core import Classification, ModelSession

DEFAULT = "(preset default)"
PREVIEW_SIDE = 192


def scale_text(scale: float) -> str:
    """``1/255`` rather than ``0.00392157``; plain numbers as they are."""
    if scale and abs(1 / scale - round(1 / scale)) < 1e-6 and round(1 / scale) > 1:
        return f"1/{round(1 / scale)}"
    return f"{scale:g}"


def parse_number(text: str) -> float | None:
    """A number or a fraction like ``1/255`` (as Keras code writes it); None when blank.

    Raises ValueError for anything else.
    """
    text = text.strip()
    if not text:
        return None
    top, _, bottom = text.partition("/")
    value = float(top) / float(bottom) if bottom else float(top)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


class RecordPreprocessingDialog(QDialog):
    """Build a card from a preset and options, preview its tensor, save it beside the model.

    ``on_saved(card_path)`` is called after the card was written (the window reloads the
    model with it).
    """

    def __init__(self, model_path: str, classes: list[str], sample: str | None,
                 input_size: tuple[int | None, int | None] = (None, None),
                 on_saved: Callable[[str], None] | None = None,
                 parent: QWidget | None = None, scale: float = 1 / 255,
                 warnings_for: Callable[[dict[str, object]], list[str]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record preprocessing")
        self.model_path, self.classes, self.sample = model_path, list(classes), sample
        self.on_saved, self.warnings_for = on_saved, warnings_for
        self.tensor: np.ndarray | None = None  # what the model would receive for the sample
        self.saved_path: str | None = None
        h, w = input_size

        self.preset = QComboBox(self)
        for key, text in BASE_PRESETS:
            self.preset.addItem(f"{key} — {text}", key)
        from app.core.preprocessing import preset_names

        for name in preset_names():
            self.preset.addItem(f"{name} — keras.applications", name)
        self.classes_edit = QLineEdit(",".join(self.classes), self)
        self.classes_edit.setToolTip("Class names in output order, comma-separated")
        self.height, self.width = QSpinBox(self), QSpinBox(self)
        for box, value in ((self.height, h), (self.width, w)):
            box.setRange(1, 4096)
            box.setValue(int(value or 224))
        self.color = self._combo(("rgb", "bgr", "grayscale"), default=False)
        self.scale = QLineEdit(scale_text(scale), self)
        self.scale.setToolTip("Multiply pixels by this: a number or a fraction like 1/255")
        self.offset = QLineEdit("", self)
        self.offset.setPlaceholderText("0 (e.g. -1 for [-1, 1])")
        self.interpolation = self._combo(("nearest", "bilinear", "bicubic", "area", "lanczos"))
        self.backend = self._combo(("pil", "tf", "opencv"))

        form = QFormLayout()
        form.addRow("Trained with", self.preset)
        form.addRow("Classes", self.classes_edit)
        size = QHBoxLayout()
        size.addWidget(self.height)
        size.addWidget(QLabel("×", self))
        size.addWidget(self.width)
        form.addRow("Size (H × W)", size)
        form.addRow("Colour mode", self.color)
        form.addRow("Scale", self.scale)
        form.addRow("Offset", self.offset)
        form.addRow("Resize filter", self.interpolation)
        form.addRow("Resize with", self.backend)

        self.preview = QLabel(self)
        self.preview.setFixedSize(PREVIEW_SIDE + 12, PREVIEW_SIDE + 12)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        show_checker_behind(self.preview)
        self.values = QLabel(self)
        self.values.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color:#b42318; font-weight:600;")
        right = QVBoxLayout()
        right.addWidget(QLabel(f"What the model sees ({Path(sample).name if sample else 'no sample'})", self))
        right.addWidget(self.preview)
        right.addWidget(self.values)
        right.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addLayout(right)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.save_button = QPushButton("Save card and reload", self)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"How was <b>{Path(model_path).name}</b> fed in training? This writes "
                             "its model card, as <tt>probscope card init</tt> does.", self))
        lay.addLayout(top)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

        for edit in (self.classes_edit, self.scale, self.offset):
            edit.textChanged.connect(self.refresh)
        for box in (self.preset, self.color, self.interpolation, self.backend):
            box.currentIndexChanged.connect(self.refresh)
        for spin in (self.height, self.width):
            spin.valueChanged.connect(self.refresh)
        self.refresh()

    def _combo(self, items: tuple[str, ...], default: bool = True) -> QComboBox:
        box = QComboBox(self)
        if default:
            box.addItem(DEFAULT, None)
        for item in items:
            box.addItem(item, item)
        return box

    # -- the card the fields describe ---------------------------------------------------------
    def options(self) -> dict[str, object]:
        """``card_from_preset`` options from the fields (ValueError for a bad number)."""
        like = str(self.preset.currentData())
        applications = like not in dict(BASE_PRESETS)
        # keras.applications models bring their own value scaling; arrays are fed as given.
        self.scale.setEnabled(not applications)
        self.offset.setEnabled(not applications)
        return {
            "classes": self.classes_edit.text() or None,
            "target_size": (self.height.value(), self.width.value()),
            "color_mode": self.color.currentData(),
            "interpolation": self.interpolation.currentData(),
            "resize_backend": self.backend.currentData(),
            "rescale": None if applications else parse_number(self.scale.text()),
            "offset": None if applications else parse_number(self.offset.text()),
        }

    def card(self):  # type: ignore[no-untyped-def]  # app.core.ModelCard; raises on bad input
        from app.core.cards import card_from_preset

        try:
            options = self.options()
        except (ValueError, ZeroDivisionError):
            raise ValueError("scale and offset must be numbers or fractions like 1/255") from None
        return card_from_preset(str(self.preset.currentData()), self.model_path,
                                default_classes=self.classes, **options)

    def refresh(self) -> None:
        """Rebuild the card from the fields and preview the sample's tensor."""
        try:
            card = self.card()
            self.save_button.setEnabled(True)
        except (ProbscopeError, ValueError) as exc:
            self.error.setText(getattr(exc, "message", None) or str(exc))
            self.save_button.setEnabled(False)
            return
        # Said before saving, not after: a card that scales what the model scales again.
        warnings = self.warnings_for(card.preprocessing) if self.warnings_for else []
        self.error.setText("; ".join(f"Careful: {w}" for w in warnings))
        self._preview(card.preprocessing)

    def _preview(self, preprocessing: dict[str, object]) -> None:
        if self.sample is None:
            self.values.setText("Drop or open an image first to see the tensor.")
            return
        from app.core.preprocessing import PreprocessingSpec, input_to_display, prepare_input

        try:
            spec = PreprocessingSpec.from_dict(preprocessing)
            x = prepare_input(self.sample, spec)
        except ProbscopeError as exc:
            self.values.setText(exc.message)
            return
        self.tensor = x
        image: QImage = rgb_to_qimage(input_to_display(x, spec))
        self.preview.setPixmap(QPixmap.fromImage(image.scaled(
            PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation)))
        self.values.setText(f"tensor {' × '.join(str(d) for d in x.shape)}, values "
                            f"{float(x.min()):.4g} … {float(x.max()):.4g} (mean {float(x.mean()):.3g})")

    def save(self) -> None:
        """Write the card beside the model and hand it on to be reloaded."""
        from app.core.cards import save_card_for_model

        try:
            path = str(save_card_for_model(self.card(), self.model_path))
        except (ProbscopeError, ValueError, OSError) as exc:
            self.error.setText(f"Not saved: {getattr(exc, 'message', None) or exc}")
            return
        self.saved_path = path
        if self.on_saved is not None:
            self.on_saved(path)
        self.accept()


def dialog_for_session(session: ModelSession, current: Classification | None,
                       reload: Callable[[str], None], parent: QWidget | None,
                       again: Callable[[list[str]], None] | None = None) -> RecordPreprocessingDialog:
    """The dialog for ``session``'s model, previewing the current image; saving reloads.

    ``again`` is handed the previewed image after the reload, to answer it under the new card.
    """
    sample = current.path if current is not None and Path(current.path).is_file() else None

    def saved(_card: str) -> None:
        reload(path)
        if again is not None and sample is not None:
            again([sample])

    path = str(session.loaded.path)
    h, w = session.loaded.input_shape[:2]

    def warnings_for(preprocessing: dict[str, object]) -> list[str]:
        from app.core.cards import double_preprocessing_warnings
        from app.core.preprocessing import PreprocessingSpec

        return double_preprocessing_warnings(PreprocessingSpec.from_dict(preprocessing), session.loaded)

    # It starts from what the model is fed now: with a Rescaling layer inside, that is scale 1.
    return RecordPreprocessingDialog(path, session.classes, sample, (h, w), saved, parent,
                                     scale=session.spec.scale, warnings_for=warnings_for)
