"""The one atomic write: unique temporaries, permissions kept, links written through."""

from __future__ import annotations

import os
import time

import pytest

from app.core.files import STALE_SECONDS, atomic_write


def test_replaces_content_and_keeps_the_mode(tmp_path):
    target = tmp_path / "card.json"
    target.write_text("old")
    target.chmod(0o644)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".card.json.*.tmp"))


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "stats.npz"
    target.write_bytes(b"old")

    def broken(stream):
        stream.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".stats.npz.*.tmp"))


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "shared" / "card.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "card.json"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    target = tmp_path / "card.json"
    stale = tmp_path / ".card.json.abc123.tmp"
    fresh = tmp_path / ".card.json.def456.tmp"
    stale.write_text("x")
    fresh.write_text("x")
    old = time.time() - STALE_SECONDS - 5
    os.utime(stale, (old, old))
    atomic_write(target, "new")
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer that is still running
