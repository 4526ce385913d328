"""Object storage as an operator sees it: MinIO's health, the buckets, their objects and bytes.

Uses its own MinIO client with short timeouts and few retries: the site's client waits patiently
for a slow server, a monitor must report it instead. Blocking: the caller runs `look` in a thread.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx
import urllib3
from minio import Minio

from services.monitoring.alerts import Finding
from shared.events import AlertSeverity, utc_now
from shared.settings import StorageSettings

SOURCE = "storage"


@dataclass
class StorageLook:
    view: dict[str, Any]
    findings: list[Finding]


class StorageWatcher:
    def __init__(
        self, settings: StorageSettings, max_objects: int = 100_000, bucket_refresh_s: float = 30.0
    ) -> None:
        self._settings = settings
        self._max_objects = max_objects
        # Counting objects means listing them all: done now and then, not at every look.
        self._bucket_refresh_s = bucket_refresh_s
        self._buckets: list[dict[str, Any]] = []
        self._buckets_at = float("-inf")
        scheme = "https" if settings.secure else "http"
        self._health_url = f"{scheme}://{settings.endpoint}/minio/health/live"
        self._client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=3.0, read=10.0),
                retries=urllib3.Retry(total=1, backoff_factor=0.2),
            ),
        )
        #: The last errors met while looking, newest first, for the page.
        self.recent_errors: deque[dict[str, str]] = deque(maxlen=20)

    def look(self) -> StorageLook:
        view: dict[str, Any] = {"endpoint": self._settings.endpoint, "recent_errors": []}
        try:
            live = httpx.get(self._health_url, timeout=3.0)
            view["live"] = live.status_code == 200
            if not view["live"]:
                raise RuntimeError(f"{self._health_url} answered {live.status_code}")
            view["buckets"] = self._bucket_figures()
            view["reachable"] = True
            findings: list[Finding] = []
        except Exception as error:
            return self.unreachable(f"{type(error).__name__}: {error}", view)
        view["recent_errors"] = list(self.recent_errors)
        return StorageLook(view, findings)

    def unreachable(self, reason: str, view: dict[str, Any] | None = None) -> StorageLook:
        self.recent_errors.appendleft({"at": utc_now().isoformat(), "error": reason})
        view = view or {"endpoint": self._settings.endpoint}
        view.update(reachable=False, error=reason, recent_errors=list(self.recent_errors))
        view.setdefault("live", False)
        finding = Finding(
            "storage.unreachable",
            SOURCE,
            AlertSeverity.CRITICAL,
            f"object storage at {self._settings.endpoint} is not healthy: {reason}",
        )
        return StorageLook(view, [finding])

    def _bucket_figures(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._buckets_at >= self._bucket_refresh_s:
            self._buckets = [self._bucket(bucket.name) for bucket in self._client.list_buckets()]
            self._buckets_at = time.monotonic()
        return self._buckets

    def _bucket(self, name: str) -> dict[str, Any]:
        count = size = 0
        truncated = False
        for item in self._client.list_objects(name, recursive=True):
            if count >= self._max_objects:
                truncated = True
                break
            count += 1
            size += item.size or 0
        return {"name": name, "objects": count, "bytes": size, "truncated": truncated}
