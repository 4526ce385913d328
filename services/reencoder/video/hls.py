"""HLS playlists: what a variant's segments weigh, the master playlist that lists the variants (and the
audio rendition), and the variant playlists that grow as chunks are encoded."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

#: H.264 profile name (as ffprobe reports it) -> profile_idc and constraint flags of an RFC 6381 codec id.
_AVC_PROFILES = {
    "Constrained Baseline": (0x42, 0xE0),
    "Baseline": (0x42, 0x00),
    "Main": (0x4D, 0x00),
    "High": (0x64, 0x00),
}
AAC_LC = "mp4a.40.2"


class Variant(BaseModel):
    """One rendition as the master playlist announces it."""

    model_config = ConfigDict(frozen=True)

    name: str
    width: int
    height: int
    #: Peak and average bits per second over the variant's segments.
    bandwidth: int
    average_bandwidth: int
    codecs: str
    frame_rate: float


def avc_codec(profile: str, level: int) -> str:
    """`avc1.PPCCLL` for an H.264 stream, e.g. High@3.1 -> `avc1.64001f`."""
    idc, constraints = _AVC_PROFILES.get(profile, (0x64, 0x00))
    return f"avc1.{idc:02x}{constraints:02x}{level:02x}"


def segment_durations(playlist: str) -> dict[str, float]:
    """Segment URI -> duration in seconds, from a media playlist."""
    durations: dict[str, float] = {}
    pending: float | None = None
    for line in playlist.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#") and pending is not None:
            durations[line], pending = pending, None
    return durations


def bandwidths(durations: dict[str, float], sizes: dict[str, int]) -> tuple[int, int]:
    """(peak, average) bits per second of the segments: what HLS's BANDWIDTH attributes mean."""
    rates = [sizes[name] * 8 / seconds for name, seconds in durations.items() if seconds > 0]
    total_s = sum(durations.values())
    if not rates or total_s <= 0:
        return 0, 0
    return round(max(rates)), round(sum(sizes[name] for name in durations) * 8 / total_s)


AUDIO_GROUP = "audio"


def master_playlist(
    variants: list[Variant], uri_of: dict[str, str], audio_uri: str | None = None, audio_kbps: int = 0
) -> str:
    """The master playlist: one `EXT-X-STREAM-INF` per variant, lowest bandwidth first; with
    `audio_uri`, one audio rendition (`EXT-X-MEDIA`) that every variant plays with."""
    version = 7 if audio_uri is not None else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio_uri is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Audio",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="2",URI="{audio_uri}"'
        )
    for variant in sorted(variants, key=lambda v: v.bandwidth):
        # BANDWIDTH counts every rendition played together: the video and its audio.
        audio_bps = audio_kbps * 1000 if audio_uri is not None else 0
        attributes = (
            f"BANDWIDTH={variant.bandwidth + audio_bps},"
            f"AVERAGE-BANDWIDTH={variant.average_bandwidth + audio_bps},"
            f"RESOLUTION={variant.width}x{variant.height},FRAME-RATE={variant.frame_rate:.3f},"
            f'CODECS="{variant.codecs}"'
        )
        if audio_uri is not None:
            attributes += f',AUDIO="{AUDIO_GROUP}"'
        lines += [f"#EXT-X-STREAM-INF:{attributes}", uri_of[variant.name]]
    return "\n".join(lines) + "\n"


def media_playlist(segments: list[tuple[str, float]], *, segment_s: float, init_uri: str, ended: bool) -> str:
    """A variant playlist of CMAF segments, (URI, seconds) in order.

    `EVENT`: segments are only ever appended (players may start while chunks are still encoding);
    `EXT-X-ENDLIST` once the last is there. The target duration is fixed by the segment length, so
    it never changes between updates.
    """
    longest = max((seconds for _uri, seconds in segments), default=0.0)
    target = max(math.ceil(segment_s), round(longest))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{init_uri}"',
    ]
    for uri, seconds in segments:
        lines += [f"#EXTINF:{seconds:.6f},", uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
