"""Delivery's pure parts: playlists rewritten with presigned media URLs, signing windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from services.frontend.delivery import media_files_of, rewrite_playlist
from shared.presign import DownloadSigner, signing_time
from shared.settings import StorageSettings

TS_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:4.000000,
seg_00000.ts
#EXTINF:1.5,
seg_00001.ts
#EXT-X-ENDLIST
"""

CMAF_PLAYLIST = """#EXTM3U
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.0,
seg_00000.m4s
#EXTINF:4.0,
../evil.m4s
#EXT-X-ENDLIST
"""


def test_every_segment_line_is_replaced_and_every_tag_kept() -> None:
    urls = {name: f"https://storage.example/{name}?X-Amz-Signature=s" for name in media_files_of(TS_PLAYLIST)}
    rewritten = rewrite_playlist(TS_PLAYLIST, urls)
    lines = rewritten.splitlines()
    assert lines.count("#EXTINF:4.000000,") == 1
    assert "https://storage.example/seg_00000.ts?X-Amz-Signature=s" in lines
    assert "https://storage.example/seg_00001.ts?X-Amz-Signature=s" in lines
    assert "seg_00000.ts" not in lines
    assert lines[-1] == "#EXT-X-ENDLIST"


def test_a_cmaf_init_segment_is_presigned_and_foreign_names_are_not() -> None:
    assert media_files_of(CMAF_PLAYLIST) == {"init.mp4", "seg_00000.m4s"}
    rewritten = rewrite_playlist(CMAF_PLAYLIST, {"init.mp4": "https://s/i", "seg_00000.m4s": "https://s/0"})
    assert '#EXT-X-MAP:URI="https://s/i"' in rewritten
    assert "https://s/0" in rewritten.splitlines()
    assert "../evil.m4s" in rewritten.splitlines()  # left as it was: it names no file of ours


def test_urls_signed_within_a_window_are_identical_and_stay_valid_half_the_expiry() -> None:
    start = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert signing_time(start + timedelta(seconds=10), 300) == signing_time(
        start + timedelta(seconds=140), 300
    )
    for offset in range(0, 600, 7):
        now = start + timedelta(seconds=offset)
        signed = signing_time(now, 300)
        assert signed <= now
        assert signed + timedelta(seconds=300) - now >= timedelta(seconds=150)
    assert signing_time(start, 1) == start  # no window below two seconds


def test_urls_are_signed_for_the_public_address_with_the_expiry_and_download_name() -> None:
    signer = DownloadSigner(StorageSettings(endpoint="minio:9000", public_endpoint="media.example:8443"))
    url = signer.get_url("renditions", "job/video/720p.mp4", 120, filename="my clip-720p.mp4")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("media.example:8443", "/renditions/job/video/720p.mp4")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"] == ["inline; filename*=UTF-8''my%20clip-720p.mp4"]
