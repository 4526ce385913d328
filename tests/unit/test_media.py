import io

import pytest

from shared.media import CorruptImage, ImageTooLarge, NotAnImage, inspect_image
from tests.media_samples import bomb_png, image_bytes


@pytest.mark.parametrize(
    ("format", "content_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("TIFF", "image/tiff"),
        ("AVIF", "image/avif"),
    ],
)
def test_every_accepted_format_is_identified(format: str, content_type: str) -> None:
    info = inspect_image(io.BytesIO(image_bytes(64, 48, format)), max_pixels=10_000)
    assert (info.content_type, info.width, info.height) == (content_type, 64, 48)


def test_text_is_not_an_image() -> None:
    with pytest.raises(NotAnImage, match="not a supported image"):
        inspect_image(io.BytesIO(b"hello, I am a text file\n" * 10), max_pixels=10_000)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(ImageTooLarge, match="too large"):
        inspect_image(io.BytesIO(bomb_png()), max_pixels=50_000_000)


def test_a_damaged_header_is_reported_as_corrupt_or_unrecognised() -> None:
    data = image_bytes(64, 48, "PNG")
    with pytest.raises((CorruptImage, NotAnImage)):
        inspect_image(io.BytesIO(data[:20]), max_pixels=10_000)
