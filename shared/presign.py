"""Presigned downloads: URLs that let a client read one object straight from storage for a while.

The site checks who may see an object, then hands out such a URL (a redirect), so the bytes never
pass through a Python process and storage answers `Range` requests itself (206, seeking, resumed
downloads). A signature covers the host the URL names, so URLs are signed for the address clients
reach storage at (`STORAGE_PUBLIC_ENDPOINT`: locally MinIO's own port; in compose, nginx exposes the
buckets under the site's own address, keeping the Host header so signatures match). Signing is a
local computation: the signing client never opens a connection.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from minio import Minio

from shared.settings import StorageSettings


def signing_time(now: datetime, expires_s: int) -> datetime:
    """`now` rounded down to a window of half the expiry, so that the URLs of one object signed within
    a window are the same URL (a browser's cache can keep its bytes) and stay valid for at least
    half of `expires_s` after they are handed out."""
    window = expires_s // 2
    if window < 1:
        return now
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window, UTC)


class DownloadSigner:
    """Signs GET URLs for the public address of storage."""

    def __init__(self, settings: StorageSettings) -> None:
        self._client = Minio(
            settings.public_address,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.public_is_secure,
            # Given, so signing never asks the server for the bucket's region.
            region=settings.region,
        )

    def get_url(
        self,
        bucket: str,
        key: str,
        expires_s: int,
        *,
        signed_at: datetime | None = None,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL that reads `key` until `signed_at + expires_s` (`signed_at`: now); storage then
        answers with `filename` as the download's name and `content_type` as its type, when given."""
        headers: dict[str, str | list[str] | tuple[str]] = {}
        if filename is not None:
            headers["response-content-disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
        if content_type is not None:
            headers["response-content-type"] = content_type
        return self._client.presigned_get_object(
            bucket,
            key,
            expires=timedelta(seconds=expires_s),
            response_headers=headers or None,
            request_date=signed_at,
        )
