"""A real MinIO server (S3-compatible object storage) as a local process.

MinIO's community edition is published as source code only, so the server is built from a pinned
version with `go install` once (a few minutes on a cold Go cache) and kept in the cache folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra.local.processes import ManagedProcess, wait_for_port

MINIO_MODULE = "github.com/minio/minio"
#: A pseudo-version of MinIO's main branch: the project tags no Go-module releases.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


def ensure_minio_binary(cache_dir: Path) -> Path:
    """The `minio` executable: from the cache, else from the PATH, else built into the cache."""
    cached = cache_dir / "bin" / "minio"
    if cached.is_file():
        return cached
    on_path = shutil.which("minio")
    if on_path is not None:
        return Path(on_path)
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("Go is needed once, to build the MinIO server; please install it (go.dev/dl)")
    print(
        f"Building MinIO {MINIO_VERSION} with 'go install' (once, a few minutes) into {cached.parent}",
        file=sys.stderr,
    )
    result = subprocess.run(
        [go, "install", f"{MINIO_MODULE}@{MINIO_VERSION}"],
        env=os.environ | {"GOBIN": str(cached.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not cached.is_file():
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise RuntimeError(f"'go install {MINIO_MODULE}' failed ({result.returncode}):\n{output}")
    return cached


class MinioServer:
    """One single-drive MinIO server on 127.0.0.1, its data in `data_dir`."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        port: int,
        console_port: int,
        access_key: str,
        secret_key: str,
        log_path: Path | None = None,
        cors_allow_origins: tuple[str, ...] = ("*",),
    ) -> None:
        if len(secret_key) < 8:
            raise ValueError("MinIO refuses secret keys shorter than 8 characters")
        self.data_dir = data_dir
        self.port = port
        self.console_port = console_port
        env = os.environ | {
            "MINIO_ROOT_USER": access_key,
            "MINIO_ROOT_PASSWORD": secret_key,
            # No phoning home: the server must start the same with or without a network.
            "MINIO_UPDATE": "off",
            # As in compose: Prometheus reads /minio/v2/metrics/cluster without a token.
            "MINIO_PROMETHEUS_AUTH_TYPE": "public",
            # Browsers PUT the parts of direct uploads straight to MinIO from the site's pages: only
            # the site's origins may (MinIO answers the preflight and exposes the ETag header the
            # browser reads to complete the upload).
            "MINIO_API_CORS_ALLOW_ORIGIN": ",".join(cors_allow_origins),
        }
        self.process = ManagedProcess(
            name="minio",
            argv=[
                str(binary),
                "server",
                str(data_dir),
                "--address",
                f"127.0.0.1:{port}",
                "--console-address",
                f"127.0.0.1:{console_port}",
                # Errors are still logged; the banner only repeats the settings above.
                "--quiet",
            ],
            log_path=log_path or data_dir.parent / "logs" / "minio.log",
            env=env,
        )

    @property
    def endpoint(self) -> str:
        """host:port, as the `minio` SDK's `Minio(endpoint, secure=False)` takes it."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once the liveness endpoint answers 200 (the port opens a little earlier)."""
        deadline = time.monotonic() + timeout
        wait_for_port("127.0.0.1", self.port, timeout, self.process)
        url = f"http://{self.endpoint}/minio/health/live"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if not self.process.is_running or time.monotonic() > deadline:
                raise RuntimeError(
                    f"MinIO not healthy at {url} (exit code {self.process.returncode}); "
                    f"last lines of {self.process.log_path}:\n{self.process.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> None:
        self.process.stop(timeout)
