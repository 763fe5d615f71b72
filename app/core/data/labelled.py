"""Data sets for fitting and evaluating: labelled folders, unlabelled folders and ``.npz`` files.

Labelled folders follow Keras' convention: one sub-folder per class, named as in the
card's ``classes``. An ``.npz`` holds ``images`` (uint8 pixels that go through the card's
preprocessing, or float32 model inputs taken as they are) or ``logits``, plus ``labels``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.errors import DataError
from app.core.images.decoding import is_image_path
from app.core.images.files import class_folders, collect_image_files


@dataclass
class DataSet:
    """Images (as files or an array) or precomputed logits, with labels when known."""

    name: str
    files: list[Path] = field(default_factory=list)
    images: np.ndarray | None = None
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    labels: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        for part in (self.logits, self.images, self.labels):
            if part is not None:
                return len(part)
        return len(self.files)

    def fingerprint(self) -> str:
        """A content key for caching model outputs: changes when any file or array changes."""
        h = hashlib.sha256(self.name.encode())
        for f in self.files:
            st = f.stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
        for arr in (self.images, self.logits):
            if arr is not None:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:32]


def load_labelled_folder(path: str | os.PathLike[str], classes: list[str]) -> DataSet:
    """Read a Keras-style labelled folder, checking sub-folder names against the classes.

    Raises
    ------
    DataError
        Missing folder, no class sub-folders, names that are not classes, or no images.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    folders = class_folders(root)
    if not folders:
        raise DataError(f"{root.name}: expected one sub-folder per class ({_some(classes, 5)})")
    problem = sub_folder_problem(root, classes)
    if problem:
        raise DataError(problem)
    files: list[Path] = []
    labels: list[int] = []
    for folder in folders:
        found = sorted(q for q in folder.rglob("*") if q.is_file() and is_image_path(q))
        files += found
        labels += [classes.index(folder.name)] * len(found)
    if not files:
        raise DataError(f"{root.name}: the class folders contain no images")
    data = DataSet(root.name, files=files, labels=np.asarray(labels, dtype=np.int64))
    missing = [c for c in classes if c not in {f.name for f in folders}]
    if missing:
        data.notes.append(f"no images for class(es) {_some(missing, 6)}")
    return data


def sub_folder_problem(path: str | os.PathLike[str], classes: list[str]) -> str | None:
    """Why a folder's sub-folders do not label its images (some are not classes), or None.

    None too for a folder without sub-folders: that is a plain folder of images, not a
    labelled one gone wrong.
    """
    root = Path(path)
    folders = class_folders(root)
    unknown = [f.name for f in folders if f.name not in classes]
    if not unknown:
        return None
    unnamed = classes == [str(i) for i in range(len(classes))] and len(folders) == len(classes)
    hint = (f"; its card does not name them: probscope card init MODEL --like "
            f"idg|dataset|arrays --class-dir {root}" if unnamed else "")
    return (f"{root.name}: sub-folder(s) {_some(unknown, 6)} are not classes of this model "
            f"(classes: {_some(classes, 12)}){hint}")


def _some(names: list[str], limit: int) -> str:
    """The first ``limit`` names, and how many there are when that is not all of them."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}… ({len(names)} in all)"


def load_image_folder(path: str | os.PathLike[str]) -> DataSet:
    """Read every image below a folder, without labels (e.g. images of no class)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    try:
        files = collect_image_files([root])
    except Exception as exc:
        raise DataError(str(exc)) from None
    return DataSet(root.name, files=files)


def load_npz(path: str | os.PathLike[str], n_classes: int | None = None, need_labels: bool = True) -> DataSet:
    """Read ``images``/``logits`` (+ ``labels``, optional ``features``) from an ``.npz``."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{p.name}: not a readable .npz file ({exc})") from None
    data = DataSet(p.name)
    if "logits" in arrays:
        data.logits = np.asarray(arrays["logits"], dtype=np.float64)
        if data.logits.ndim != 2:
            raise DataError(f"{p.name}: 'logits' must be a 2-D array (samples, classes)")
        if n_classes is not None and data.logits.shape[1] != n_classes:
            raise DataError(f"{p.name}: logits have {data.logits.shape[1]} classes, the model {n_classes}")
        if "features" in arrays:
            data.features = np.asarray(arrays["features"], dtype=np.float32)
    elif "images" in arrays:
        images = arrays["images"]
        if images.ndim not in (3, 4):
            raise DataError(f"{p.name}: 'images' must be (n, height, width[, channels])")
        data.images = images
    else:
        raise DataError(f"{p.name}: expected an 'images' or a 'logits' array (found {', '.join(arrays)})")
    if "labels" in arrays:
        labels = np.asarray(arrays["labels"])
        if labels.ndim != 1 or len(labels) != len(data):
            raise DataError(f"{p.name}: 'labels' must be one integer per sample")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{p.name}: 'labels' must be integers (class indices)")
        if n_classes is not None and len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise DataError(f"{p.name}: labels must be class indices 0..{n_classes - 1}")
        data.labels = labels.astype(np.int64)
    elif need_labels:
        raise DataError(f"{p.name}: has no 'labels' array")
    return data


def load_data(
    path: str | os.PathLike[str], classes: list[str], labelled: bool = True
) -> DataSet:
    """A labelled folder, an unlabelled folder or an ``.npz``, by what ``path`` is."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_file():
        if p.suffix.lower() != ".npz":
            raise DataError(f"{p.name}: expected a folder of images or an .npz file")
        return load_npz(p, len(classes), need_labels=labelled)
    if labelled:
        return load_labelled_folder(p, classes)
    return load_image_folder(p)
