"""HLS playlists: what a variant's segments weigh, and the master playlist that lists the variants."""

from __future__ import annotations

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


def master_playlist(variants: list[Variant], uri_of: dict[str, str]) -> str:
    """The master playlist: one `EXT-X-STREAM-INF` per variant, lowest bandwidth first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for variant in sorted(variants, key=lambda v: v.bandwidth):
        attributes = (
            f"BANDWIDTH={variant.bandwidth},AVERAGE-BANDWIDTH={variant.average_bandwidth},"
            f"RESOLUTION={variant.width}x{variant.height},FRAME-RATE={variant.frame_rate:.3f},"
            f'CODECS="{variant.codecs}"'
        )
        lines += [f"#EXT-X-STREAM-INF:{attributes}", uri_of[variant.name]]
    return "\n".join(lines) + "\n"
