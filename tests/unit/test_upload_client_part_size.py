"""`reencode upload` resumes with the part size its stored parts were cut in, whatever the site
prefers today: every sign request names that size, and each part URL takes exactly that length.

The site and storage here are a small in-memory model of the protocol (services/frontend/
direct_uploads.py signs each URL for its part's exact length; storage refuses any other length).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from infra.ops.upload_client import ResumableUploader

MIB = 1024 * 1024
SIZE = 23 * MIB + 7


@dataclass
class FakeSite:
    """The site's multipart routes and storage's part PUTs, for one upload."""

    #: The site's preferred part size, as in DIRECT_UPLOADS_PART_BYTES (may change between runs).
    part_bytes: int
    parts: dict[int, bytes] = field(default_factory=dict)
    signed_sizes: list[int | None] = field(default_factory=list)
    assembled: bytes | None = None

    def site(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if method == "POST" and path == "/api/uploads/multipart":
            size = json.loads(request.content)["size"]
            count = -(-size // self.part_bytes)
            started = {
                "job_id": "j1",
                "key": "j1/original",
                "part_size": self.part_bytes,
                "part_count": count,
            }
            return httpx.Response(201, json=started)
        if method == "GET" and path == "/api/uploads/multipart/j1/parts":
            listed = [
                {"part_number": n, "etag": f'"{n}"', "size": len(b)} for n, b in sorted(self.parts.items())
            ]
            return httpx.Response(200, json={"parts": listed})
        if method == "POST" and path == "/api/uploads/multipart/j1/parts/sign":
            body = json.loads(request.content)
            part_size = body.get("part_size")
            self.signed_sizes.append(part_size)
            cut = part_size or self.part_bytes
            urls = {
                str(n): f"http://storage/j1?partNumber={n}&length={min(cut, SIZE - (n - 1) * cut)}"
                for n in body["part_numbers"]
            }
            return httpx.Response(200, json={"urls": urls})
        if method == "POST" and path == "/api/uploads/multipart/j1/complete":
            numbers = [p["part_number"] for p in json.loads(request.content)["parts"]]
            self.assembled = b"".join(self.parts[n] for n in numbers)
            return httpx.Response(202, json={"id": "j1", "status": "queued"})
        return httpx.Response(404, json={"detail": f"no route {method} {path}"})

    def storage(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        number, length = int(query["partNumber"][0]), int(query["length"][0])
        if len(request.content) != length:  # the signed Content-Length
            return httpx.Response(403, text="SignatureDoesNotMatch")
        self.parts[number] = request.content
        return httpx.Response(200, headers={"ETag": f'"{number}"'})


def uploader(fake: FakeSite, state_dir: Path) -> ResumableUploader:
    site = httpx.Client(base_url="http://site", transport=httpx.MockTransport(fake.site))
    return ResumableUploader(
        site, state_dir=state_dir, parallel=2, storage_transport=httpx.MockTransport(fake.storage)
    )


def a_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)
    path = tmp_path / "movie.mp4"
    path.write_bytes(data)
    return path, data


def test_a_rerun_after_the_site_changed_its_part_size_keeps_the_uploads_own(tmp_path: Path) -> None:
    path, data = a_file(tmp_path)
    fake = FakeSite(part_bytes=5 * MIB)

    def stop_after_two(sent: int) -> None:
        if sent >= 2:
            raise KeyboardInterrupt

    first = uploader(fake, tmp_path / "state")
    with pytest.raises(KeyboardInterrupt):
        first.upload(path, after_part=stop_after_two)
    stored = set(fake.parts)
    assert stored
    # Parts already in flight when the run stopped finish too (the last one, short, among them).
    assert all(len(fake.parts[n]) == min(5 * MIB, SIZE - (n - 1) * 5 * MIB) for n in stored)

    fake.part_bytes = 8 * MIB  # the site was redeployed with larger parts
    outcome = uploader(fake, tmp_path / "state").upload(path)

    assert set(fake.signed_sizes) == {5 * MIB}
    assert outcome.parts_already_stored == len(stored)
    assert outcome.parts_sent == 5 - len(stored)
    assert fake.assembled == data


def test_saved_state_that_disagrees_with_the_stored_parts_follows_storage(tmp_path: Path) -> None:
    path, data = a_file(tmp_path)
    fake = FakeSite(part_bytes=6 * MIB)
    # A first run cut parts of 6 MiB; its saved state claims 5 MiB (written by another version).
    first = uploader(fake, tmp_path / "state")

    def stop_after_one(sent: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        first.upload(path, after_part=stop_after_one)
    (state_file,) = (tmp_path / "state").glob("*.json")
    saved = json.loads(state_file.read_text())
    state_file.write_text(json.dumps(saved | {"part_size": 5 * MIB, "part_count": 5}))

    outcome = uploader(fake, tmp_path / "state").upload(path)

    assert set(fake.signed_sizes) == {6 * MIB}
    assert outcome.part_count == 4
    assert fake.assembled == data
