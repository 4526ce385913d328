"""Media the simulated users upload: generated images (Pillow) and short videos (ffmpeg's lavfi).

Generated once per run into a small pool and reused under fresh file names: on a two-core machine
the simulator should spend its CPU on driving the site, not on drawing pictures.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Sample:
    filename: str
    data: bytes
    content_type: str


def generated_image(rng: random.Random, index: int) -> Sample:
    """A photo-sized picture: a colour gradient with a few shapes, as JPEG or PNG."""
    width, height = rng.choice([(640, 480), (1024, 768), (1600, 1200), (800, 800), (480, 720)])
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(image, tint, 0.5)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, max(21, min(width, height) // 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    fmt, content_type, ext = rng.choice([("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png")])
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return Sample(f"sim-{index}.{ext}", buffer.getvalue(), content_type)


def generated_video(seconds: int = 2) -> Sample | None:
    """A short MP4 from ffmpeg's test source; None where ffmpeg is not installed or fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    command = [
        ffmpeg, "-loglevel", "error", "-f", "lavfi",
        "-i", f"testsrc=duration={seconds}:size=320x240:rate=15",
        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
        "-movflags", "frag_keyframe+empty_moov", "-f", "mp4", "pipe:1",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return Sample("sim-clip.mp4", result.stdout, "video/mp4")


def sample_pool(seed: int, images: int = 8) -> list[Sample]:
    rng = random.Random(seed)
    return [generated_image(rng, index) for index in range(images)]
