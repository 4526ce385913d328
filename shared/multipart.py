"""S3 multipart uploads whose bytes go from the client straight to storage (boto3).

The `minio` SDK that `shared/storage.py` uses for everything else keeps its multipart calls private,
so this one part of the storage layer uses boto3, the AWS SDK, whose S3 client has them all as public,
documented calls (create, presign UploadPart, ListParts, complete, abort). `MediaStore.multipart`
exposes it; nothing else imports boto3.

Two clients: one talks to storage at the address this process reaches (`endpoint`), the other only
signs URLs for the address browsers and other clients reach (`public_endpoint`): a presigned URL's
signature covers its host, so it must be signed for the host that will receive it. Signing is a
local computation: the signing client never opens a connection.

The SDK is blocking: async callers run these methods with `asyncio.to_thread`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.settings import StorageSettings
from shared.storage_correlation import correlate_boto3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3's own bounds on a multipart upload.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_BYTES = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000

_GONE_CODES = {"NoSuchUpload", "NoSuchKey", "404"}
_BAD_PARTS_CODES = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML", "InvalidArgument"}


class UploadGone(Exception):
    """The multipart upload no longer exists (completed, aborted or expired)."""


class PartsRefused(Exception):
    """Storage refused to assemble the parts the client named (a wrong ETag, a missing part, a part
    under the minimum size); the message says which."""


@dataclass(frozen=True)
class StoredPart:
    number: int
    etag: str
    size: int


def part_plan(size: int, preferred_part_bytes: int) -> tuple[int, int]:
    """(part size, part count) for a file of `size` bytes: the preferred size, or larger when the
    file would otherwise need more than S3's 10 000 parts (rounded up to whole MiB)."""
    part = max(preferred_part_bytes, MIN_PART_BYTES)
    if size > part * MAX_PARTS:
        mib = 1024 * 1024
        part = -(-size // MAX_PARTS // mib) * mib
    count = max(1, -(-size // part))
    return part, count


def _client(endpoint: str, secure: bool, settings: StorageSettings) -> S3Client:
    scheme = "https" if secure else "http"
    return boto3.client(
        "s3",
        endpoint_url=f"{scheme}://{endpoint}",
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
        config=Config(
            signature_version="s3v4",
            # MinIO serves buckets under the path, not as sub-domains.
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


class MultipartUploads:
    """Multipart uploads into one bucket."""

    def __init__(self, settings: StorageSettings, bucket: str) -> None:
        self.bucket = bucket
        self._client = _client(settings.endpoint, settings.secure, settings)
        # Not the signer: a presigned URL must not depend on a header its user does not send.
        correlate_boto3_client(self._client)
        self._signer = _client(settings.public_address, settings.public_is_secure, settings)

    def create(self, key: str, content_type: str) -> str:
        """Start a multipart upload of `key`; returns its upload id."""
        answer = self._client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return answer["UploadId"]

    def presign_part(
        self, key: str, upload_id: str, part_number: int, expires_s: int, content_length: int | None = None
    ) -> str:
        """A URL that lets its holder PUT part `part_number` of the upload, for `expires_s` seconds.
        With `content_length`, the length is signed into the URL (`Content-Length` among its signed
        headers): storage refuses a PUT of any other length, so a client cannot store more than it
        declared."""
        params: dict[str, str | int] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        if content_length is not None:
            params["ContentLength"] = content_length
        return self._signer.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=expires_s, HttpMethod="PUT"
        )

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        """The parts stored so far, by number (every page of the listing)."""
        parts: list[StoredPart] = []
        marker = 0
        while True:
            try:
                page = self._client.list_parts(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000
                )
            except ClientError as error:
                raise _translated(error) from error
            parts += [
                StoredPart(number=p["PartNumber"], etag=p["ETag"], size=p["Size"])
                for p in page.get("Parts", [])
            ]
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the upload from `(part number, ETag)` pairs, in order."""
        try:
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts)]},
            )
        except ClientError as error:
            raise _translated(error) from error

    def abort(self, key: str, upload_id: str) -> bool:
        """Drop the upload and the parts stored so far; False when it was already gone."""
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if isinstance(_translated(error), UploadGone):
                return False
            raise
        return True

    def open_uploads(self, key: str) -> list[str]:
        """The ids of the multipart uploads of `key` not completed or aborted yet (MinIO lists them
        by exact key only)."""
        listed = self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        return [upload["UploadId"] for upload in listed.get("Uploads", []) if upload.get("Key") == key]

    def put_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        """Store one part from this process (benchmarks and tests); returns its ETag."""
        answer = self._client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=data
        )
        return answer["ETag"]


def _translated(error: ClientError) -> Exception:
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = str(error.response.get("Error", {}).get("Message", "")) or code
    if code in _GONE_CODES:
        return UploadGone(message)
    if code in _BAD_PARTS_CODES:
        return PartsRefused(message)
    return error
