"""Scratch folders of every kind of work: made here, removed when the work ends, swept at start-up.

Image jobs, video probes and video tasks each work in a `TemporaryDirectory` that is removed on
success, failure, timeout and graceful shutdown; only a worker killed outright (SIGKILL, the OOM
killer, power loss) leaves one behind. Such a folder is older than any work can run, so the next
worker to start on the machine removes it without touching live ones. Every kind is named here, so
a new kind of work cannot forget to be swept.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)


class ScratchKind(StrEnum):
    """The prefix of each kind of scratch folder."""

    IMAGE_JOB = "job-"
    VIDEO_PROBE = "probe-"
    VIDEO_TASK = "task-"


def scratch_folder(kind: ScratchKind, name: str, root: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A fresh folder for one piece of work, under `root` (the temp dir if None)."""
    return tempfile.TemporaryDirectory(prefix=f"{kind.value}{name}-", dir=root)


def sweep_stale_scratch(root: Path | None, older_than_s: float) -> int:
    """Remove scratch folders of every kind under `root` (the temp dir if None) untouched for
    `older_than_s`; returns how many."""
    base = root or Path(tempfile.gettempdir())
    cutoff = time.time() - older_than_s
    removed = 0
    for kind in ScratchKind:
        for folder in base.glob(f"{kind.value}*"):
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue  # removed meanwhile by its owner
    if removed:
        log.info("removed %d stale scratch folders under %s", removed, base)
    return removed
