import pytest

from services.frontend.upload_rules import UploadRefused, check_filename, check_size


@pytest.mark.parametrize("name", ["photo.jpg", "Ferien 2024 (1).PNG", "снимок.webp"])
def test_plain_names_are_kept(name: str) -> None:
    assert check_filename(name) == name


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..\\boot.ini", "/abs/path.jpg", "dir/photo.jpg", "..", "a\x00b.jpg", "", "   "],
)
def test_names_with_paths_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        check_filename(name)
    assert refused.value.status_code == 400


def test_overlong_names_are_refused() -> None:
    with pytest.raises(UploadRefused):
        check_filename("a" * 300 + ".jpg")


def test_empty_and_oversized_files_are_refused_with_their_status() -> None:
    with pytest.raises(UploadRefused) as empty:
        check_size(0, 100)
    assert empty.value.status_code == 400
    with pytest.raises(UploadRefused) as big:
        check_size(101, 100)
    assert big.value.status_code == 413
    check_size(100, 100)
