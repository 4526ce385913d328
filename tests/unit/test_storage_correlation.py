"""Storage calls carry the correlation id in hand as `X-Correlation-Id` (both the minio SDK and boto3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from shared.logs import correlation_scope
from shared.multipart import MultipartUploads
from shared.settings import StorageSettings
from shared.storage import MediaStore
from shared.storage_correlation import CORRELATION_HEADER


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in S3 that answers every request with an empty 200 and remembers its headers."""

    seen: ClassVar[list[dict[str, str]]] = []

    def _answer(self) -> None:
        _Recorder.seen.append(dict(self.headers.items()))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("ETag", '"etag"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_s3() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _settings(endpoint: str) -> StorageSettings:
    return StorageSettings(endpoint=endpoint, access_key="key", secret_key="secret-key", secure=False)


def test_the_minio_client_sends_the_correlation_id_in_hand(fake_s3: str) -> None:
    store = MediaStore(_settings(fake_s3))
    with correlation_scope("abc123"):
        store.put_json(store.renditions_bucket, "job/manifest.json", {"a": 1})
    store.put_json(store.renditions_bucket, "job/other.json", {"b": 2})

    correlated, uncorrelated = _Recorder.seen[-2:]
    assert correlated[CORRELATION_HEADER] == "abc123"
    assert CORRELATION_HEADER not in uncorrelated


def test_the_multipart_client_sends_it_but_presigned_urls_do_not_need_it(fake_s3: str) -> None:
    uploads = MultipartUploads(_settings(fake_s3), "uploads")
    with correlation_scope("def456"):
        uploads.put_part("job/original", "upload-1", 1, b"bytes")
        url = uploads.presign_part("job/original", "upload-1", 2, 60)

    assert _Recorder.seen[-1][CORRELATION_HEADER] == "def456"
    assert "x-correlation-id" not in url.lower()
