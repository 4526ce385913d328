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


# -- deciding an upload from its headers, before any of its body is read ------------------------

#: How a client may say what it sends before sending it: a header, or the query's `kind`.
KIND_HEADER = "X-Upload-Kind"
KINDS = ("image", "video")


def declared_kind(header: str | None, query: str | None) -> str | None:
    """ "image", "video" or None (not said); refuses anything else (400)."""
    said = (header or query or "").strip().lower()
    if not said:
        return None
    if said not in KINDS:
        raise UploadRefused(400, f"{KIND_HEADER} (or ?kind=) must be 'image' or 'video', not {said[:20]!r}")
    return said


def limit_for(kind: str | None, part_type: str, image_bytes: int, video_bytes: int) -> int:
    """The most bytes a file may have, from the kind the client declared, else its part's declared
    content type; the largest limit when neither says. The bytes themselves confirm the kind later
    (`check_size` with the kind they show)."""
    if kind is None:
        if part_type.startswith("image/"):
            kind = "image"
        elif part_type.startswith("video/"):
            kind = "video"
    if kind == "image":
        return image_bytes
    if kind == "video":
        return video_bytes
    return max(image_bytes, video_bytes)


def check_declared_length(content_length: int | None, limit: int, framing: int) -> None:
    """413 from `Content-Length` alone, before reading the body."""
    if content_length is not None and content_length > limit + framing:
        raise UploadRefused(
            413,
            f"request body is {content_length:,} bytes, over the limit of {limit:,} bytes for this upload",
        )


def check_quota(stored_bytes: int, quota_bytes: int, incoming_bytes: int) -> None:
    """413 when `incoming_bytes` more would take the user past their stored-bytes quota."""
    if stored_bytes + incoming_bytes > quota_bytes:
        raise UploadRefused(
            413,
            f"your uploads already use {stored_bytes:,} of your {quota_bytes:,} bytes; "
            f"this one ({incoming_bytes:,} bytes) does not fit: delete some uploads first",
        )
