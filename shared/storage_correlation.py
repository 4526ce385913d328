"""Every call this process makes to MinIO carries the correlation id in hand as `X-Correlation-Id`.

MinIO's audit log keeps the request headers, so its entry for the call (on `storage.audit`) names
the upload it served, and monitoring's trace of that correlation id shows the storage calls beside
the services' lines. The header is added after signing: S3 ignores unsigned non-`x-amz-` headers,
and a presigned URL (signed for someone else to use) must never depend on it.

Both storage clients use this one place: the minio SDK (`shared/storage.py`, through its
`http_client`) and boto3 for multipart uploads (`shared/multipart.py`, through its event hooks).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import certifi
import urllib3
from urllib3 import BaseHTTPResponse, Retry
from urllib3.util import Timeout

from shared.logs import current_correlation_id

CORRELATION_HEADER = "X-Correlation-Id"


def correlation_headers() -> dict[str, str]:
    """The header naming the correlation id in hand, or none outside any correlation scope."""
    correlation_id = current_correlation_id()
    return {CORRELATION_HEADER: correlation_id} if correlation_id else {}


class CorrelatedPoolManager(urllib3.PoolManager):
    """The minio SDK's HTTP client: its own defaults, plus the correlation header on each request."""

    # urllib3's own PoolManager narrows this signature the same way.
    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> BaseHTTPResponse:
        extra = correlation_headers()
        if extra:
            headers = kw.get("headers")
            merged = urllib3.HTTPHeaderDict(headers) if headers is not None else urllib3.HTTPHeaderDict()
            for name, value in extra.items():
                merged[name] = value
            kw["headers"] = merged
        return super().urlopen(method, url, redirect=redirect, **kw)


def minio_http_client(cert_check: bool = True) -> CorrelatedPoolManager:
    """What `Minio()` would build by default (minio 7.2), as a `CorrelatedPoolManager`."""
    timeout = int(timedelta(minutes=5).total_seconds())
    return CorrelatedPoolManager(
        timeout=Timeout(connect=timeout, read=timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED" if cert_check else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _add_correlation_header(request: Any, **_: Any) -> None:
    for name, value in correlation_headers().items():
        request.headers[name] = value


def correlate_boto3_client(client: Any) -> None:
    """Make a boto3 S3 client send the correlation header on every request it sends itself
    (`before-send` runs after signing; presigned URLs never pass through it)."""
    client.meta.events.register("before-send.s3", _add_correlation_header)
