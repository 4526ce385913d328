"""Checks on an upload that need no decoding: its name and its size."""

from __future__ import annotations

import unicodedata

MAX_FILENAME_LENGTH = 255


class UploadRefused(Exception):
    """An upload the site refuses before storing anything; carries the HTTP status to answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def check_filename(name: str | None) -> str:
    """The client's file name if it is a plain name; refuses paths, control and invisible formatting
    characters (Unicode categories Cc and Cf), and dot-names.

    The name is only ever shown to users (objects are stored under the job id), but a name that tries
    to climb directories is a sign of a broken or hostile client, so it is refused outright.
    """
    if not name or not name.strip():
        raise UploadRefused(400, "the upload has no file name")
    if len(name) > MAX_FILENAME_LENGTH:
        raise UploadRefused(400, f"file name is longer than {MAX_FILENAME_LENGTH} characters")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        raise UploadRefused(400, "file name must not contain a path (no '/', '\\' or '..')")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise UploadRefused(400, "file name must not contain control characters")
    # Invisible format characters: a right-to-left override shows "cat\u202egpj.exe" as "catexe.jpg",
    # zero-width ones make two names that look the same.
    if any(unicodedata.category(char) == "Cf" for char in name):
        raise UploadRefused(400, "file name must not contain invisible formatting characters")
    return name


def check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise UploadRefused(400, "the file is empty")
    if size > max_bytes:
        raise UploadRefused(413, f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes")
