"""Scratch folders a killed worker left behind are swept, of every kind; live ones and others are kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.reencoder.scratch import ScratchKind, scratch_folder, sweep_stale_scratch


def _age(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_only_stale_video_scratch_folders_are_removed(tmp_path: Path) -> None:
    stale, live, other = tmp_path / "task-job-360p-x", tmp_path / "task-job-720p-y", tmp_path / "keep-me"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "original").write_bytes(b"x")
    for folder in (stale, other):
        _age(folder, 3600)
    assert sweep_stale_scratch(tmp_path, older_than_s=600) == 1
    assert not stale.exists()
    assert live.exists()
    assert other.exists()


def test_a_killed_image_workers_folder_is_swept_like_the_video_ones(tmp_path: Path) -> None:
    left = []
    for kind in ScratchKind:
        folder = tmp_path / f"{kind.value}abc123-x"  # as `scratch_folder` names it, then abandoned
        folder.mkdir()
        (folder / "original").write_bytes(b"x")
        _age(folder, 3600)
        left.append(folder)
    assert sweep_stale_scratch(tmp_path, older_than_s=600) == len(ScratchKind)
    assert not any(folder.exists() for folder in left)


def test_every_kind_of_folder_carries_its_swept_prefix(tmp_path: Path) -> None:
    for kind in ScratchKind:
        with scratch_folder(kind, "j1", tmp_path) as made:
            assert Path(made).name.startswith(f"{kind.value}j1-")
