"""Reading an upload's multipart body as it streams in, once the caller and the limits are decided.

The upload route takes the raw request (no `File()` parameter), so FastAPI reads nothing before
the caller is authenticated, the CSRF token checked and the quota asked: an anonymous client's body
is never parsed, let alone spooled. This reader then parses the body with python-multipart's
streaming parser and writes the file's bytes to a spool only after its part headers have been
seen and judged (a plain file name, a size limit chosen by the kind the client declares); it cuts
the file at that limit, bounds the number of parts and the size of their headers, and keeps
nothing of other fields beyond a few bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.frontend.middleware.body_size import MULTIPART_ALLOWANCE
from services.frontend.upload_rules import UploadRefused, check_declared_length, check_filename

#: The file plus a few small form fields (scripts and forms may add some); more is not an upload.
MAX_PARTS = 8
#: Headers per part, and the longest header line (python-multipart refuses more).
MAX_PART_HEADERS = 8
MAX_HEADER_LINE = 4096
#: A form field other than the file is read into memory only up to this many bytes.
MAX_FIELD_BYTES = 1024
#: The file stays in memory up to this size, then goes to a temporary file.
SPOOL_IN_MEMORY = 1024 * 1024
FILE_FIELD = "file"


@dataclass
class ReceivedFile:
    """The upload's file, spooled: its client-side name, the type its part declared, its size."""

    filename: str
    declared_type: str
    spool: BinaryIO
    size: int = 0

    def close(self) -> None:
        self.spool.close()


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    name: bytes = b""
    value: bytes = b""


def multipart_boundary(request: Request) -> bytes:
    """The body's boundary; refuses anything that is not multipart/form-data (before reading it)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    if content_type != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise UploadRefused(422, f"send the file as multipart/form-data, in a field named {FILE_FIELD!r}")
    return boundary


async def receive_file(request: Request, boundary: bytes, limit_for: Callable[[str], int]) -> ReceivedFile:
    """Stream the body, spooling the one file part; `limit_for(declared content type)` is the most
    bytes that file may have. Raises `UploadRefused` (400, 413, 422) and cleans up after itself."""
    reader = _Reader(limit_for, _content_length(request))
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_headers_finished": reader.on_headers_finished,
            "on_part_data": reader.on_part_data,
        },
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_HEADER_LINE,
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await reader.flush()
        parser.finalize()
        if reader.file is None:
            raise UploadRefused(422, f"the upload has no file in a field named {FILE_FIELD!r}")
        reader.file.spool.seek(0)
        return reader.file
    except MultipartParseError as error:
        reader.discard()
        raise UploadRefused(400, f"the multipart body is malformed: {error}") from None
    except BaseException:
        reader.discard()
        raise


class _Reader:
    """python-multipart's callbacks: what each part is, and where its bytes go."""

    def __init__(self, limit_for: Callable[[str], int], content_length: int | None) -> None:
        self.limit_for = limit_for
        self.content_length = content_length
        self.parts = 0
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.file: ReceivedFile | None = None
        self.file_limit = 0
        self.in_file = False
        self.pending: list[bytes] = []

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadRefused(413, f"the upload has more than {MAX_PARTS} parts")
        self.part = _Part()
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.decode("latin-1").lower()] = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get("content-disposition", b""))
        self.part.name = options.get(b"name", b"")
        if b"filename" not in options and self.part.name != FILE_FIELD.encode():
            return  # a small form field
        if self.file is not None:
            raise UploadRefused(400, "one file per upload")
        filename = check_filename(options.get(b"filename", b"").decode("utf-8", "replace"))
        declared = self.part.headers.get("content-type", b"").decode("latin-1").strip().lower()
        self.file_limit = self.limit_for(declared)
        check_declared_length(self.content_length, self.file_limit, MULTIPART_ALLOWANCE)
        spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115 (closed by its owner)
        self.file = ReceivedFile(filename, declared, spool)
        self.in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            if len(self.part.value) + end - start > MAX_FIELD_BYTES:
                raise UploadRefused(413, f"a form field is over {MAX_FIELD_BYTES:,} bytes")
            self.part.value += data[start:end]
            return
        assert self.file is not None
        self.file.size += end - start
        if self.file.size > self.file_limit:
            raise UploadRefused(413, f"file is over the limit of {self.file_limit:,} bytes")
        self.pending.append(data[start:end])

    async def flush(self) -> None:
        """Write what the last chunk brought to the spool (off the event loop once it is on disk)."""
        if not self.pending or self.file is None:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        spool = self.file.spool
        if getattr(spool, "_rolled", True) or self.file.size > SPOOL_IN_MEMORY:
            await asyncio.to_thread(spool.write, data)
        else:
            spool.write(data)

    def discard(self) -> None:
        if self.file is not None:
            with contextlib.suppress(Exception):
                self.file.close()
            self.file = None


def _content_length(request: Request) -> int | None:
    text = request.headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None
