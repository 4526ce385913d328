"""Scratch folders a killed worker left behind are swept; live ones and other folders are kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.reencoder.video.scratch import sweep_stale_scratch


def test_only_stale_video_scratch_folders_are_removed(tmp_path: Path) -> None:
    stale, live, other = tmp_path / "task-job-360p-x", tmp_path / "task-job-720p-y", tmp_path / "keep-me"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "original").write_bytes(b"x")
    hour_ago = time.time() - 3600
    for folder in (stale, other):
        os.utime(folder, (hour_ago, hour_ago))
    assert sweep_stale_scratch(tmp_path, older_than_s=600) == 1
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
