"""How a direct upload's file is cut in parts, each presigned for its exact length."""

from __future__ import annotations

import pytest

from services.frontend.direct_uploads import part_count_for, part_length
from services.frontend.upload_rules import UploadRefused

MIB = 1024 * 1024


def test_every_part_but_the_last_has_the_part_size() -> None:
    size = 20 * MIB + 3
    assert part_count_for(size, 8 * MIB) == 3
    assert [part_length(size, 8 * MIB, n) for n in (1, 2, 3)] == [8 * MIB, 8 * MIB, 4 * MIB + 3]
    # A small file is one part of its own size, under S3's minimum.
    assert part_count_for(1000, MIB) == 1
    assert part_length(1000, MIB, 1) == 1000


@pytest.mark.parametrize(
    ("size", "part_size", "says"),
    [
        (20 * MIB, MIB, "at least"),  # several parts under S3's 5 MiB minimum
        (10_001 * 5 * MIB, 5 * MIB, "at most 10000"),  # over S3's part count
        (12 * 1024 * MIB, 6 * 1024 * MIB, "parts go up to"),  # over S3's 5 GiB part
    ],
)
def test_part_sizes_storage_would_refuse_are_400(size: int, part_size: int, says: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        part_count_for(size, part_size)
    assert refused.value.status_code == 400
    assert says in refused.value.detail
