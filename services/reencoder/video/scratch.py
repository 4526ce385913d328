"""Per-task scratch folders: created under one root, removed when the task ends, swept at start-up.

A task's `TemporaryDirectory` is removed on success, failure, timeout and graceful shutdown; only a
worker killed outright (SIGKILL, power loss) leaves one behind. Such a folder is older than any task
can run, so the next worker to start on the machine removes it without touching live ones.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Prefixes of the folders video work creates (see planner and task_handler).
SCRATCH_PREFIXES = ("task-", "probe-")


def sweep_stale_scratch(root: Path | None, older_than_s: float) -> int:
    """Remove scratch folders under `root` (the temp dir if None) untouched for `older_than_s`."""
    base = root or Path(tempfile.gettempdir())
    cutoff = time.time() - older_than_s
    removed = 0
    for prefix in SCRATCH_PREFIXES:
        for folder in base.glob(f"{prefix}*"):
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue  # removed meanwhile by its owner
    if removed:
        log.info("removed %d stale scratch folders under %s", removed, base)
    return removed
