"""Object storage as an operator sees it: MinIO's health, the buckets, their objects and bytes.

Uses its own MinIO client with short timeouts and few retries: the site's client waits patiently
for a slow server, a monitor must report it instead. Blocking: the caller runs `look` in a thread.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

import urllib3
from minio import Minio
from pydantic import BaseModel

from services.monitoring.alerts import Finding
from shared.events import AlertSeverity, utc_now
from shared.settings import StorageSettings

SOURCE = "storage"


class BucketFigures(BaseModel):
    name: str
    objects: int
    bytes: int
    #: True when the bucket holds more objects than were counted (`max_objects_per_bucket`).
    truncated: bool


class StorageError(BaseModel):
    at: datetime
    error: str


class StorageView(BaseModel):
    """Object storage for the page: health, buckets, and the last errors met while looking."""

    endpoint: str
    reachable: bool
    #: MinIO's liveness probe answered 200.
    live: bool
    #: Counted now and then (`bucket_refresh_s`), not at every look; empty while unreachable.
    buckets: list[BucketFigures] = []
    #: Why the storage could not be examined (only when `reachable` is false).
    error: str | None = None
    #: Newest first.
    recent_errors: list[StorageError] = []


@dataclass
class StorageLook:
    view: StorageView
    findings: list[Finding]


class StorageWatcher:
    def __init__(
        self, settings: StorageSettings, max_objects: int = 100_000, bucket_refresh_s: float = 30.0
    ) -> None:
        self._settings = settings
        self._max_objects = max_objects
        # Counting objects means listing them all: done now and then, not at every look.
        self._bucket_refresh_s = bucket_refresh_s
        self._buckets: list[BucketFigures] = []
        self._buckets_at = float("-inf")
        scheme = "https" if settings.secure else "http"
        self._health_url = f"{scheme}://{settings.endpoint}/minio/health/live"
        # One pool for every look: a client built per look (httpx.get) made a TLS context each time,
        # a quarter of monitoring's CPU in the benchmark's profile (docs/benchmarks.md).
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3.0, read=10.0),
            retries=urllib3.Retry(total=1, backoff_factor=0.2),
        )
        self._client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
            http_client=self._http,
        )
        #: The last errors met while looking, newest first, for the page.
        self.recent_errors: deque[StorageError] = deque(maxlen=20)

    def look(self) -> StorageLook:
        live = False
        try:
            answer = self._http.request("GET", self._health_url, timeout=3.0, retries=False)
            live = answer.status == 200
            if not live:
                raise RuntimeError(f"{self._health_url} answered {answer.status}")
            buckets = self._bucket_figures()
        except Exception as error:
            return self.unreachable(f"{type(error).__name__}: {error}", live=live)
        view = StorageView(
            endpoint=self._settings.endpoint,
            reachable=True,
            live=True,
            buckets=buckets,
            recent_errors=list(self.recent_errors),
        )
        return StorageLook(view, [])

    def unreachable(self, reason: str, live: bool = False) -> StorageLook:
        """`live`: the liveness probe answered, and a later step (listing the buckets) failed."""
        self.recent_errors.appendleft(StorageError(at=utc_now(), error=reason))
        view = StorageView(
            endpoint=self._settings.endpoint,
            reachable=False,
            live=live,
            error=reason,
            recent_errors=list(self.recent_errors),
        )
        finding = Finding(
            "storage.unreachable",
            SOURCE,
            AlertSeverity.CRITICAL,
            f"object storage at {self._settings.endpoint} is not healthy: {reason}",
        )
        return StorageLook(view, [finding])

    def _bucket_figures(self) -> list[BucketFigures]:
        if time.monotonic() - self._buckets_at >= self._bucket_refresh_s:
            self._buckets = [self._bucket(bucket.name) for bucket in self._client.list_buckets()]
            self._buckets_at = time.monotonic()
        return self._buckets

    def _bucket(self, name: str) -> BucketFigures:
        count = size = 0
        truncated = False
        for item in self._client.list_objects(name, recursive=True):
            if count >= self._max_objects:
                truncated = True
                break
            count += 1
            size += item.size or 0
        return BucketFigures(name=name, objects=count, bytes=size, truncated=truncated)
