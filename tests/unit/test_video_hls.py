"""HLS playlists: segment durations, bandwidths, codec ids and the master playlist."""

from __future__ import annotations

from services.reencoder.video.hls import (
    Variant,
    avc_codec,
    bandwidths,
    master_playlist,
    segment_durations,
)

MEDIA = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:4.000000,
seg_00000.ts
#EXTINF:2.000000,
seg_00001.ts
#EXT-X-ENDLIST
"""


def test_segment_durations_and_bandwidths() -> None:
    durations = segment_durations(MEDIA)
    assert durations == {"seg_00000.ts": 4.0, "seg_00001.ts": 2.0}
    peak, average = bandwidths(durations, {"seg_00000.ts": 400_000, "seg_00001.ts": 300_000})
    assert (peak, average) == (1_200_000, 933_333)
    assert bandwidths({}, {}) == (0, 0)


def test_avc_codec_ids() -> None:
    assert avc_codec("High", 31) == "avc1.64001f"
    assert avc_codec("Main", 30) == "avc1.4d001e"
    assert avc_codec("Constrained Baseline", 30) == "avc1.42e01e"


def test_master_playlist_lists_variants_lowest_bandwidth_first() -> None:
    def variant(name: str, width: int, height: int, bandwidth: int) -> Variant:
        return Variant(
            name=name,
            width=width,
            height=height,
            bandwidth=bandwidth,
            average_bandwidth=bandwidth // 2,
            codecs="avc1.64001f,mp4a.40.2",
            frame_rate=25,
        )

    text = master_playlist(
        [variant("720p", 1280, 720, 3_000_000), variant("360p", 640, 360, 900_000)],
        {"720p": "hls/720p/index.m3u8", "360p": "hls/360p/index.m3u8"},
    )
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[-2:] == [
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=1500000,RESOLUTION=1280x720,"
        'FRAME-RATE=25.000,CODECS="avc1.64001f,mp4a.40.2"',
        "hls/720p/index.m3u8",
    ]
    assert [line for line in lines if not line.startswith("#")] == [
        "hls/360p/index.m3u8",
        "hls/720p/index.m3u8",
    ]
