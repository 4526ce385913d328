"""What an original really is, from its first bytes: shared by uploads through the frontend and
direct uploads (checked in storage with ranged reads)."""

from __future__ import annotations

from typing import BinaryIO

from services.frontend.upload_rules import check_size
from shared.events import MediaKind
from shared.media import NotAnImage, identify_video, inspect_image
from shared.settings import MediaLimits, VideoLimits


def identify_media(
    file: BinaryIO, size: int, limits: MediaLimits, video: VideoLimits
) -> tuple[MediaKind, str]:
    """Image or video, and its MIME type, from the file's first bytes; refuses what is over the limits.

    Videos are recognised by their container's structure here (headers only; `DamagedVideo` for a file
    that only starts like one): the workers probe the streams (ffprobe) and fail the job with the
    reason if they do not decode. Raises `UploadRefused` (size) or `MediaRejected` (type).
    """
    file.seek(0)
    video_type = identify_video(file, size)
    if video_type is not None:
        check_size(size, video.max_upload_bytes)
        return MediaKind.VIDEO, video_type
    check_size(size, limits.max_upload_bytes)
    try:
        info = inspect_image(file, limits.max_image_pixels)
    except NotAnImage as error:
        raise NotAnImage(f"{error}, or a video (MP4, MOV, MKV, WebM or AVI)") from error
    return MediaKind.IMAGE, info.content_type
