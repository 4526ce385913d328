"""Names from clients: HLS file names match whole, and upload names carry no invisible formatting."""

from __future__ import annotations

import pytest

from services.frontend.api.media import is_hls_file
from services.frontend.upload_rules import UploadRefused, check_filename


@pytest.mark.parametrize(("variant", "file"), [("720p", "index.m3u8"), ("v1080p", "seg_00012.ts")])
def test_hls_names_of_a_package_are_allowed(variant: str, file: str) -> None:
    assert is_hls_file(variant, file)


@pytest.mark.parametrize(
    ("variant", "file"),
    [
        ("720p", "index.m3u8\n"),  # `$` matched before a trailing newline
        ("720p\n", "index.m3u8"),
        ("720p", "seg_00012.ts\n"),
        ("720p", "../index.m3u8"),
        ("720P", "index.m3u8"),
    ],
)
def test_hls_names_with_anything_more_are_refused(variant: str, file: str) -> None:
    assert not is_hls_file(variant, file)


@pytest.mark.parametrize(
    "name",
    [
        "cat\u202egpj.exe",  # right-to-left override: shown as "catexe.jpg"
        "cat\u200b.jpg",  # zero-width space
        "\ufeffcat.jpg",  # byte-order mark
        "cat\u2066.jpg",  # left-to-right isolate
    ],
)
def test_file_names_with_invisible_formatting_characters_are_refused(name: str) -> None:
    with pytest.raises(UploadRefused, match="invisible formatting characters") as refused:
        check_filename(name)
    assert refused.value.status_code == 400


def test_file_names_in_any_script_are_kept() -> None:
    for name in ("chat noir.jpg", "猫.png", "кот.webp", "قطة.gif"):
        assert check_filename(name) == name
