"""The simulator's pure parts: durations and the generated media."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from services.simulator.media import generated_image
from services.simulator.run import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("1.5h", 5400), ("500ms", 0.5)]
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_duration_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 30s, 5m, 1h"):
        parse_duration("soon")


def test_generated_images_are_real_images() -> None:
    sample = generated_image(random.Random(3), 0)
    with Image.open(io.BytesIO(sample.data)) as image:
        assert image.width >= 480
    assert sample.content_type in ("image/jpeg", "image/png")
