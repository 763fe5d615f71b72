"""Expand the files and folders a user names into the image files to classify."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from app.core.errors import ImageError
from app.core.images.decoding import is_image_path


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
