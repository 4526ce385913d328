from pathlib import Path

import pytest
from PIL import Image

from services.reencoder.image_encoder import encode_image
from shared.media import CorruptImage
from tests.media_samples import image_bytes, truncated


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "original"
    path.write_bytes(data)
    return path


def test_renditions_are_written_in_their_formats_and_sizes(tmp_path: Path) -> None:
    files = encode_image(_write(tmp_path, image_bytes(3000, 2000)), tmp_path / "out", 100_000_000)
    by_name = {f.spec.name: f for f in files}
    assert (by_name["thumbnail"].width, by_name["thumbnail"].height) == (320, 213)
    assert (by_name["large"].width, by_name["large"].height) == (2560, 1707)
    assert (by_name["large-avif"].width, by_name["large-avif"].height) == (2560, 1707)
    assert by_name["large-avif"].spec.format == "AVIF"
    for file in files:
        with Image.open(file.path) as image:
            assert image.format == file.spec.format
            assert image.size == (file.width, file.height)
            assert file.bytes == file.path.stat().st_size


def test_exif_orientation_is_applied_and_metadata_is_stripped(tmp_path: Path) -> None:
    # Orientation 6 = rotate 90°: a 400x200 sensor image is shown 200x400.
    source = _write(tmp_path, image_bytes(400, 200, orientation=6, with_gps=True))
    files = encode_image(source, tmp_path / "out", 100_000_000)
    for file in files:
        with Image.open(file.path) as image:
            assert image.size == (200, 400) or max(image.size) == 320
            assert image.height > image.width
            assert not image.getexif(), f"{file.spec.name} still carries EXIF"


def test_transparent_png_keeps_alpha_in_webp_and_is_flattened_in_jpeg(tmp_path: Path) -> None:
    files = encode_image(_write(tmp_path, image_bytes(300, 300, "PNG", mode="RGBA")), tmp_path / "o", 10**8)
    modes = {}
    for file in files:
        with Image.open(file.path) as image:
            modes[file.spec.name] = image.mode
    assert modes["thumbnail"] == "RGBA"
    assert modes["thumbnail-avif"] == "RGBA"
    assert modes["fallback"] == "RGB"


def test_a_truncated_image_is_refused_as_corrupt(tmp_path: Path) -> None:
    source = _write(tmp_path, truncated(image_bytes(800, 600, "PNG")))
    with pytest.raises(CorruptImage, match="truncated or corrupt"):
        encode_image(source, tmp_path / "out", 100_000_000)
