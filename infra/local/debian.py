"""Tools the test suite needs from Debian's packages (Chromium for screenshots, Prometheus), installed once.

Like PostgreSQL (infra/local/postgres.py), nothing is downloaded from elsewhere: apt-get installs the
package when its binary is missing, and a machine without apt or root gets a clear error instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

# One apt-get at a time from this process; other processes wait on dpkg's own lock (timeout below).
_APT_LOCK = threading.Lock()


def ensure_debian_binary(binary: str, package: str) -> str:
    """The path of `binary`; installs Debian's `package` with apt-get when it is not on the PATH."""
    found = shutil.which(binary)
    if found:
        return found
    with _APT_LOCK:
        found = shutil.which(binary)
        if found:
            return found
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise RuntimeError(f"{binary} is not installed; please install it (apt-get install {package})")
        print(f"Installing {package} with apt-get (once)", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # Other engineers' test runs may hold dpkg's lock: wait for it rather than fail.
        lock_wait = ["-o", "DPkg::Lock::Timeout=600"]
        subprocess.run(["apt-get", *lock_wait, "update"], env=env, check=True, stdout=sys.stderr)
        install = ["apt-get", *lock_wait, "install", "--yes", "--no-install-recommends", package]
        subprocess.run(install, env=env, check=True, stdout=sys.stderr)
    found = shutil.which(binary)
    if not found:
        raise RuntimeError(f"apt-get installed {package}, yet {binary} is not on the PATH")
    return found


def chromium_path() -> str:
    """Debian's Chromium, for Playwright's `executable_path` (Playwright never downloads a browser here)."""
    return ensure_debian_binary("chromium", "chromium")


def prometheus_path() -> str:
    """Debian's Prometheus server binary."""
    return ensure_debian_binary("prometheus", "prometheus")
