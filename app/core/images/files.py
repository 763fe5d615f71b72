"""Expand the files and folders a user names into the image files to classify."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from app.core.errors import ImageError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
     ".pgm", ".pbm", ".pnm"}
)


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` has an image file extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _natural_key(path: Path) -> list[object]:
    # "img2.png" before "img10.png", as a file manager sorts them.
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def collect_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given (any extension, so a bad file gets its own error) and folders' images.

    Folders are searched recursively for image extensions and sorted naturally; the
    order of the arguments is kept.

    Raises
    ------
    ImageError
        A path does not exist, or a folder holds no images.
    """
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise ImageError(f"{raw}: no such file or folder")
        if p.is_dir():
            found = sorted(
                (q for q in p.rglob("*") if q.is_file() and is_image_path(q) and not q.name.startswith(".")),
                key=_natural_key,
            )
            if not found:
                raise ImageError(f"{raw}: the folder contains no images")
            files.extend(found)
        else:
            files.append(p)
    return files


def class_folders(root: str | os.PathLike[str]) -> list[Path]:
    """A folder's class sub-folders, sorted as Keras sorts them.

    Hidden folders (``.ipynb_checkpoints``, ``.git``…) are skipped, as Keras' own
    ``image_dataset_from_directory`` does; a folder that cannot be listed has none.
    """
    try:
        return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def is_labelled_folder(path: str | os.PathLike[str], classes: Iterable[str]) -> bool:
    """Whether ``path`` is a labelled folder of these classes: one sub-folder per class.

    Every (non-hidden) sub-folder must be named like a class; not every class needs one.
    """
    names = {p.name for p in class_folders(path)}
    return bool(names) and names <= set(classes)
