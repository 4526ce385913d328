"""Object storage for media, through the MinIO SDK. Kafka messages only carry these object keys.

The SDK is blocking: async callers run these methods with `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from minio import Minio
from minio.commonconfig import CopySource
from minio.error import S3Error

from shared.multipart import MultipartUploads
from shared.settings import StorageSettings
from shared.storage_correlation import minio_http_client

log = logging.getLogger(__name__)

_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"}


def belongs_to_job(job_id: str, key: str) -> bool:
    """Whether object `key` lies under job `job_id`'s own prefix (`<job_id>/...`, no `..` segment).

    Every object of a job, its original and every rendition, is stored under that prefix; a key
    outside it in an event is refused, so that an event cannot point one job at another's objects.
    """
    if not job_id or "/" in job_id or not key.startswith(f"{job_id}/"):
        return False
    return all(segment not in ("", ".", "..") for segment in key.split("/")[1:])


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str


class MediaStore:
    """The uploads bucket (originals) and the renditions bucket (outputs) of the site."""

    def __init__(self, settings: StorageSettings) -> None:
        self.uploads_bucket = settings.uploads_bucket
        self.renditions_bucket = settings.renditions_bucket
        self._client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
            # Sends the correlation id in hand, so MinIO's audit entries join the upload's trace.
            http_client=minio_http_client(),
        )
        #: Direct uploads of originals, in parts sent by the clients themselves.
        self.multipart = MultipartUploads(settings, settings.uploads_bucket)

    def ensure_buckets(self) -> None:
        """Create the site's buckets if they do not exist (idempotent)."""
        for bucket in (self.uploads_bucket, self.renditions_bucket):
            if not self._client.bucket_exists(bucket):
                self._client.make_bucket(bucket)
                log.info("created bucket %s", bucket)

    def put_stream(self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str) -> None:
        """Upload `length` bytes from `stream` without holding them all in memory."""
        self._client.put_object(bucket, key, stream, length, content_type=content_type)

    def copy(self, bucket: str, source_key: str, target_key: str) -> None:
        """Server-side copy within `bucket`: the bytes never travel through this process."""
        self._client.copy_object(bucket, target_key, CopySource(bucket, source_key))

    def put_file(self, bucket: str, key: str, path: Path, content_type: str) -> None:
        self._client.fput_object(bucket, key, str(path), content_type=content_type)

    def put_json(self, bucket: str, key: str, document: Any) -> None:
        data = json.dumps(document).encode()
        self._client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/json")

    def get_json(self, bucket: str, key: str) -> Any | None:
        """The JSON document at `key`, or None if there is none."""
        data = self.get_bytes(bucket, key)
        return None if data is None else json.loads(data)

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        """A small object's bytes (one GET), or None if there is none."""
        try:
            response = self._client.get_object(bucket, key)
        except S3Error as error:
            if error.code in _MISSING_CODES:
                return None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def download(self, bucket: str, key: str, path: Path) -> None:
        """Write the object to `path`: one GET, no stat first (the SDK's `fget_object` sends both).
        A missing object raises `S3Error` (NoSuchKey); a partial download never appears at `path`."""
        self._get_to_file(bucket, key, path)

    def download_if_exists(self, bucket: str, key: str, path: Path) -> bool:
        """`download`, with a missing object as an answer rather than an error: False, and no file
        written. One GET either way, where asking `stat` first would cost a second call."""
        try:
            self._get_to_file(bucket, key, path)
        except S3Error as error:
            if error.code in _MISSING_CODES:
                return False
            raise
        return True

    def _get_to_file(self, bucket: str, key: str, path: Path) -> None:
        """Stream one GET into a temporary file beside `path`, renamed to `path` once complete, so
        that a download cut short (urllib3 checks the length) never looks like the whole file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        response = self._client.get_object(bucket, key)
        partial: Path | None = None
        try:
            with tempfile.NamedTemporaryFile(
                dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
            ) as file:
                partial = Path(file.name)
                for chunk in response.stream(1024 * 1024):
                    file.write(chunk)
            os.replace(partial, path)
            partial = None
        finally:
            if partial is not None:
                partial.unlink(missing_ok=True)
            response.close()
            response.release_conn()

    def stat(self, bucket: str, key: str) -> StoredObject | None:
        """Size and type of an object, or None if it does not exist."""
        try:
            info = self._client.stat_object(bucket, key)
        except S3Error as error:
            if error.code in _MISSING_CODES:
                return None
            raise
        return StoredObject(key=key, size=info.size or 0, content_type=info.content_type or "")

    def iter_chunks(self, bucket: str, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """Stream an object's bytes (for downloads through the frontend)."""
        response = self._client.get_object(bucket, key)
        try:
            yield from response.stream(chunk_size)
        finally:
            response.close()
            response.release_conn()

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        """`length` bytes of an object from `offset` (fewer at its end): one ranged GET."""
        response = self._client.get_object(bucket, key, offset=offset, length=length)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def open_ranged(self, bucket: str, key: str, size: int, block: int = 64 * 1024) -> BinaryIO:
        """A seekable, read-only file over an object of `size` bytes that fetches only the blocks read
        (ranged GETs): header sniffing reads a few KiB of a file of GiBs."""
        raw = _RangedObject(self, bucket, key, size)
        return io.BufferedReader(raw, buffer_size=block)

    def internal_get_url(self, bucket: str, key: str, expires_s: int) -> str:
        """A presigned GET URL of `key` for the endpoint this process itself reaches storage at (not
        the public one clients get): a worker's ffmpeg reads an original through it with ranged
        GETs. Signing is local; the URL stays valid for `expires_s` seconds."""
        return self._client.presigned_get_object(bucket, key, expires=timedelta(seconds=expires_s))

    def remove(self, bucket: str, key: str) -> None:
        self._client.remove_object(bucket, key)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return [obj.object_name for obj in self._client.list_objects(bucket, prefix=prefix, recursive=True)]

    def top_level_keys(self, bucket: str, prefix: str) -> set[str]:
        """The keys directly under `prefix`, each sub-folder as one entry ending in "/": one LIST
        (per 1000 entries), however many objects the sub-folders hold."""
        listed = self._client.list_objects(bucket, prefix=prefix, recursive=False)
        return {obj.object_name for obj in listed if obj.object_name is not None}

    def list_job_ids(self, bucket: str) -> set[str]:
        """The jobs that have objects in `bucket` (the top-level prefixes: one listing page per 1000
        jobs, however many objects each holds)."""
        return {key.rstrip("/") for key in self.top_level_keys(bucket, "") if key.endswith("/")}

    def remove_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many there were."""
        keys = self.list_keys(bucket, prefix)
        for key in keys:
            self._client.remove_object(bucket, key)
        return len(keys)


class _RangedObject(io.RawIOBase):
    """The raw side of `MediaStore.open_ranged`: each read is a ranged GET."""

    def __init__(self, store: MediaStore, bucket: str, key: str, size: int) -> None:
        self._store, self._bucket, self._key, self._size = store, bucket, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        data = self._store.read_range(self._bucket, self._key, self._position, wanted)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
