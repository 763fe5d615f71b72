"""Expand the files and folders a user names into the image files to classify."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PathProblem:
    """A path given or found that yields no image to read: why, in one line naming it."""

    path: str
    message: str


def _walk_folder(folder: Path, found: list[Path], problems: list[PathProblem],
                 seen: set[tuple[int, int]]) -> None:
    # Symbolic links to folders are followed (a data set assembled from links is common);
    # a link back to a folder already searched would loop forever, so it is reported instead.
    try:
        info = folder.stat()
        if (info.st_dev, info.st_ino) in seen:
            problems.append(PathProblem(str(folder), f"{folder}: symbolic link loop (the folder "
                                        "is already being searched), skipped"))
            return
        seen.add((info.st_dev, info.st_ino))
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(PathProblem(str(folder), f"{folder}: the folder cannot be read "
                                    f"({exc.strerror or exc})"))
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            # Hidden folders hold copies (.ipynb_checkpoints, a file manager's .thumbnails)
            # or no images at all (.git): skipped, as class_folders and Keras skip them.
            if not entry.name.startswith("."):
                _walk_folder(path, found, problems, seen)
            continue
        if entry.name.startswith(".") or not is_image_path(path):
            continue
        try:
            if entry.is_file() or entry.is_symlink():
                # A broken link or a link loop is kept: reading it gives the error record
                # that says so, instead of the file vanishing from the run.
                found.append(path)
        except OSError:
            found.append(path)


def find_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path | PathProblem]:
    """Files as given and folders' images, with a :class:`PathProblem` where there are none.

    A file is kept as given even when it is missing or not an image, so that it gets its
    own error record when read; folders are searched recursively for image extensions
    and sorted naturally; the order of the arguments is kept. Nothing is raised: a folder
    that cannot be read, holds no images or loops back through a symbolic link is a
    :class:`PathProblem`, and the other paths are still found.

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders, as a user names them.

    Returns
    -------
    list of Path or PathProblem
        In argument order.
    """
    out: list[Path | PathProblem] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            out.append(p)
            continue
        found: list[Path] = []
        problems: list[PathProblem] = []
        _walk_folder(p, found, problems, set())
        if not found and not problems:
            problems.append(PathProblem(str(raw), f"{raw}: the folder contains no images"))
        out.extend(problems)
        out.extend(sorted(found, key=_natural_key))
    return out


def collect_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The image files of :func:`find_image_files`, raising for a path that gives none.

    Raises
    ------
    ImageError
        A path does not exist, or a folder cannot be read or holds no images. Problems
        inside a folder that still gave images (a link loop) are left out.
    """
    files: list[Path] = []
    for raw in paths:
        if not os.path.lexists(raw):
            raise ImageError(f"{raw}: no such file or folder")
        entries = find_image_files([raw])
        found = [e for e in entries if isinstance(e, Path)]
        if not found:
            raise ImageError(next(e.message for e in entries if isinstance(e, PathProblem)))
        files.extend(found)
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
