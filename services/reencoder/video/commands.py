"""The ffmpeg command lines of video tasks, built with ffmpeg-python (tested without running them).

Every input is read as the container its first bytes name (`-f`, the same sniffing as at upload) and
only through the file and pipe protocols (`-protocol_whitelist`), or, for an original a chunk task
reads from storage by its presigned URL (`RemoteSource`), only through HTTP(S): ffmpeg never guesses
a format from the bytes, nor follows a reference in a file to a URL or another file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from shared.events import VideoOutput
from shared.media import FFMPEG_PROTOCOLS, video_demuxer

#: Every segment of every rendition starts on a keyframe at the same times, so HLS segments can be cut
#: by copying and players can switch renditions at any segment boundary.
KEYFRAME_INTERVAL_S = 2
SPRITE_COLUMNS, SPRITE_ROWS = 5, 2
SPRITE_COUNT = SPRITE_COLUMNS * SPRITE_ROWS
#: Machine-readable progress on stdout (`out_time_us=...`, `progress=continue|end`), errors on stderr.
_QUIET = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")


def aac_options(audio_kbps: int) -> dict[str, Any]:
    """The audio of every package: AAC-LC stereo 48 kHz at `audio_kbps`, quantized by ffmpeg's "fast"
    coder, not its default "twoloop", for half to a third of the CPU. Twoloop's rate control encodes
    a frame again, up to five more times, while the frame falls short of its share of the bitrate:
    the bench's test tone (mono, in two channels) fills 99 of 160 kbps, so 60 s of it took 3.4 CPU s
    (1.5 with fast); denser stereo and noisy mono took 0.8-1.5 s (fast 0.4-0.6). At our 96-160 kbps
    fast sounds no worse (ffmpeg made it the default in 2018 for that reason, fcb681ac; Debian's
    5.1 defaults to twoloop again) and its decoded output is closer to the source's."""
    return {"c:a": "aac", "aac_coder": "fast", "b:a": f"{audio_kbps}k", "ac": 2, "ar": 48000}


#: What ffmpeg may open for an original read from storage: HTTP(S) to the one URL it is given. The
#: demuxers pinned (MP4/MOV with external references off, Matroska, WebM, AVI) open nothing else.
REMOTE_PROTOCOLS = "http,https,tcp,tls"
#: ffmpeg's log level for a remote original: its `Statistics: N bytes read` line (verbose) says how
#: much of the original it read, each line tagged with its level so errors stay apart.
_REMOTE_LOG = ("-loglevel", "level+verbose")


@dataclass(frozen=True)
class RemoteSource:
    """An original ffmpeg reads straight from storage by a presigned GET URL: an input seek (`-ss`
    before `-i`) becomes HTTP Range requests, so a chunk task reads only its stretch of the file (and
    the index, wherever the container keeps it), not the whole original."""

    url: str
    #: The container's demuxer, from its first bytes (as for a file).
    demuxer: str

    def __str__(self) -> str:
        # The URL carries a signature: never in a message (a file's name is replaced the same way).
        return "the original"


Source = Path | RemoteSource


def pinned_input(source: Source, **options: Any) -> Any:
    """`ffmpeg.input` of `source` with its demuxer pinned (when its first bytes name one: a file not
    there yet has none) and the protocol whitelist."""
    if isinstance(source, RemoteSource):
        return ffmpeg.input(
            source.url,
            f=source.demuxer,
            protocol_whitelist=REMOTE_PROTOCOLS,
            # Storage answers ranges: seek by them (never read up to a point), and reconnect where
            # a connection drops mid-read instead of ending the input early.
            seekable=1,
            reconnect=1,
            reconnect_on_network_error=1,
            reconnect_delay_max=10,
            **options,
        )
    demuxer = video_demuxer(source)
    if demuxer is not None:
        options["f"] = demuxer
    return ffmpeg.input(str(source), protocol_whitelist=FFMPEG_PROTOCOLS, **options)


def _log_level(source: Source) -> tuple[str, ...]:
    """The global log options of a command reading `source` (the remote one counts its bytes)."""
    if isinstance(source, RemoteSource):
        return ("-hide_banner", "-nostdin", "-nostats", *_REMOTE_LOG)
    return _QUIET


def output_frame_rate(probed: float) -> float:
    """Constant output rate: the source's average (variable-rate sources included), at most 60."""
    if probed < 1:
        return 30.0
    return round(min(probed, 60.0), 3)


def rendition_command(
    source: Path,
    target: Path,
    output: VideoOutput,
    *,
    frame_rate: float,
    has_audio: bool,
    threads: int,
    ffmpeg_binary: str = "ffmpeg",
) -> list[str]:
    """H.264/AAC MP4 at the output's size, `+faststart` so browsers play it before it fully loads.

    ffmpeg applies the source's rotation while decoding, so scaling to the displayed size keeps the
    picture upright; `setsar=1` makes the pixels square.
    """
    source_input = pinned_input(source)
    video = (
        source_input["v:0"]
        .filter("fps", fps=output_frame_rate(frame_rate))
        .filter("scale", output.width, output.height, flags="bicubic")
        .filter("setsar", 1)
        .filter("format", "yuv420p")
    )
    streams: list[Any] = [video]
    options: dict[str, Any] = {
        "c:v": "libx264",
        "preset": "veryfast",
        "profile:v": "high",
        "crf": 23,
        "maxrate": f"{output.video_kbps}k",
        "bufsize": f"{2 * output.video_kbps}k",
        "force_key_frames": f"expr:gte(t,n_forced*{KEYFRAME_INTERVAL_S})",
        "sc_threshold": 0,
        "movflags": "+faststart",
        "threads": threads,
    }
    if has_audio:
        streams.append(source_input["a:0"])
        options.update({"c:a": "aac", "b:a": f"{output.audio_kbps}k", "ac": 2, "ar": 48000})
    else:
        options["an"] = None
    command = ffmpeg.output(*streams, str(target), **options).global_args(*_QUIET, "-progress", "pipe:1")
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))


def hls_command(mp4: Path, playlist: Path, segment_s: int, ffmpeg_binary: str = "ffmpeg") -> list[str]:
    """Cut an encoded MP4 into an HLS VOD variant (copy, no re-encode): `index.m3u8` + `seg_NNNNN.ts`."""
    command = (
        pinned_input(mp4)
        .output(
            str(playlist),
            c="copy",
            f="hls",
            hls_time=segment_s,
            hls_playlist_type="vod",
            hls_segment_filename=str(playlist.parent / "seg_%05d.ts"),
        )
        .global_args(*_QUIET)
    )
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))


def poster_command(
    source: Source, target: Path, output: VideoOutput, at_s: float, ffmpeg_binary: str = "ffmpeg"
) -> list[str]:
    """One JPEG frame at `at_s` seconds, upright, at the output's size."""
    command = (
        pinned_input(source, ss=f"{at_s:.3f}")
        .filter("scale", output.width, output.height)
        .filter("setsar", 1)
        .output(str(target), vframes=1, **{"q:v": 3})
        .global_args(*_log_level(source))
    )
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))


@dataclass(frozen=True)
class Thumbnails:
    """The sprite's thumbnails a chunk task writes from its own decode: the sprite takes
    `SPRITE_COUNT` of them at the global times k * duration / SPRITE_COUNT (what `fps=count/duration`
    over the whole video picks), each chunk the ones in its stretch, named `folder/NNNNN.jpg` by k."""

    folder: Path
    size: tuple[int, int]
    #: The whole video's duration (not the chunk's).
    duration_s: float
    #: Where the chunk starts on the video's timeline.
    start_s: float


def thumbnail_rate(duration_s: float) -> str:
    """The sprite's frame rate: `SPRITE_COUNT` thumbnails over the whole video."""
    return f"{SPRITE_COUNT}/{max(duration_s, 0.1):.3f}"


def _thumbnail_output(branch: Any, thumbnails: Thumbnails) -> Any:
    """Back to the video's timeline (a chunk's timestamps start at 0), the sprite's rate (each output
    frame's timestamp is then its k, in ticks of duration / count), then k microseconds: `-frame_pts`
    names each file by its k, while ffmpeg's progress (the latest timestamp of any output) still
    follows the chunk's own time. Passthrough timing writes only the ticks this chunk holds."""
    rate = thumbnail_rate(thumbnails.duration_s)
    picked = (
        branch.filter("setpts", f"PTS+{thumbnails.start_s:.6f}/TB")
        .filter("fps", fps=rate)
        .filter("settb", "1/1000000")
        .filter("setpts", f"round(T*{rate})")
        .filter("scale", *thumbnails.size)
        .filter("setsar", 1)
    )
    return ffmpeg.output(
        picked,
        str(thumbnails.folder / "%05d.jpg"),
        f="image2",
        frame_pts=1,
        fps_mode="passthrough",
        enc_time_base="1/1000000",
        **{"q:v": 4},
    )


def _h264_options(output: VideoOutput, threads: int, segment_s: float) -> dict[str, Any]:
    """H.264 as every chunk of every rung is encoded: identical settings in every chunk (so one init
    segment per rung serves all of them) and keyframes exactly on segment boundaries (closed GOPs:
    each segment, so each chunk, decodes on its own, and renditions switch at any boundary)."""
    return {
        "c:v": "libx264",
        "preset": "veryfast",
        "profile:v": "high",
        "crf": 23,
        "maxrate": f"{output.video_kbps}k",
        "bufsize": f"{2 * output.video_kbps}k",
        "force_key_frames": f"expr:gte(t,n_forced*{segment_s:g})",
        "sc_threshold": 0,
        "flags": "+cgop",
        "threads": threads,
    }


def _av1_options(output: VideoOutput, threads: int, segment_s: float, frame_rate: float) -> dict[str, Any]:
    """AV1 (SVT-AV1, fast preset) for the optional AV1 variant: Debian's ffmpeg 5.1 with SVT-AV1 1.4
    ignores forced keyframes, so the keyframe interval is a segment's frames (the frame where H.264's
    forced keyframe falls too, for chunks of up to 16 segments at 29.97 fps; exactly at whole rates)."""
    keyint = math.ceil(round(frame_rate * segment_s, 6))
    return {
        "c:v": "libsvtav1",
        "preset": 10,
        "crf": 35,
        "g": keyint,
        "svtav1-params": f"keyint={keyint}",
        "threads": threads,
    }


def _cmaf_hls_options(segment_s: float, first_segment: int, folder: Path) -> dict[str, Any]:
    return {
        "f": "hls",
        "hls_time": f"{segment_s:g}",
        "hls_playlist_type": "vod",
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": "init.mp4",
        "start_number": first_segment,
        "hls_segment_filename": str(folder / "seg_%05d.m4s"),
    }


def chunk_command(
    source: Source,
    folder: Path,
    outputs: tuple[VideoOutput, ...],
    *,
    start_s: float,
    length_s: float | None,
    frame_rate: float,
    segment_s: float,
    first_segment: int,
    threads: int,
    thumbnails: Thumbnails | None = None,
    ffmpeg_binary: str = "ffmpeg",
) -> list[str]:
    """One chunk for every rung: one decode of `[start_s, start_s + length_s)` (to the end when
    `length_s` is None), `split` to one scaler and H.264 encoder per rung, each cut into CMAF
    segments `folder/<rung>/seg_NNNNN.m4s` (numbered from `first_segment`) behind an `init.mp4`;
    and, from the same decode, the sprite's `thumbnails` in the chunk's stretch (when given).

    The input seek (`-ss` before `-i`) is exact (ffmpeg decodes from the keyframe before and drops
    what precedes `start_s`); timestamps restart at 0 in every chunk, `fmp4.shift` puts them back.
    """
    seek: dict[str, Any] = {"ss": f"{start_s:.3f}"}
    if length_s is not None:
        seek["t"] = f"{length_s:.3f}"
    source_input = pinned_input(source, **seek)
    streams = _ladder_outputs(
        source_input, folder, outputs, frame_rate, segment_s, first_segment, threads, thumbnails
    )
    command = ffmpeg.merge_outputs(*streams).global_args(*_log_level(source), "-progress", "pipe:1")
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))


def single_pass_command(
    source: Path,
    folder: Path,
    outputs: tuple[VideoOutput, ...],
    *,
    frame_rate: float,
    segment_s: float,
    threads: int,
    audio_kbps: int | None,
    ffmpeg_binary: str = "ffmpeg",
) -> list[str]:
    """The whole ladder in one ffmpeg process: one decode of the whole video split to every rung (as a
    chunk task does, over the whole timeline) and the audio (`audio_kbps`, None for none) into
    `folder/audio`: the fastest way one machine makes the same package (the benchmark's baseline)."""
    source_input = pinned_input(source)
    streams = _ladder_outputs(source_input, folder, outputs, frame_rate, segment_s, 0, threads)
    if audio_kbps is not None:
        audio = folder / "audio"
        streams.append(
            ffmpeg.output(
                source_input["a:0"],
                str(audio / "index.m3u8"),
                **aac_options(audio_kbps),
                **_cmaf_hls_options(segment_s, 0, audio),
            )
        )
    command = ffmpeg.merge_outputs(*streams).global_args(*_QUIET, "-progress", "pipe:1")
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))


def _ladder_outputs(
    source_input: Any,
    folder: Path,
    outputs: tuple[VideoOutput, ...],
    frame_rate: float,
    segment_s: float,
    first_segment: int,
    threads: int,
    thumbnails: Thumbnails | None = None,
) -> list[Any]:
    """One decode of `source_input`'s video, split to one scaler and H.264 CMAF output per rung (and
    to the sprite's thumbnails)."""
    video = source_input["v:0"].filter("fps", fps=output_frame_rate(frame_rate)).filter("format", "yuv420p")
    branching = len(outputs) + (thumbnails is not None) > 1
    branches = video.split() if branching else None
    streams = []
    for index, output in enumerate(outputs):
        branch = branches[index] if branches is not None else video
        scaled = branch.filter("scale", output.width, output.height, flags="bicubic").filter("setsar", 1)
        rung = folder / output.name
        encoder = (
            _av1_options(output, threads, segment_s, output_frame_rate(frame_rate))
            if output.codec == "av1"
            else _h264_options(output, threads, segment_s)
        )
        options = {
            **encoder,
            **_cmaf_hls_options(segment_s, first_segment, rung),
            "an": None,
        }
        streams.append(ffmpeg.output(scaled, str(rung / "index.m3u8"), **options))
    if thumbnails is not None:
        # The split's last output, after the rungs' (ffmpeg's progress counts the first output's frames).
        branch = branches[len(outputs)] if branches is not None else video
        streams.append(_thumbnail_output(branch, thumbnails))
    return streams


def audio_command(
    source: Path, folder: Path, *, audio_kbps: int, segment_s: float, ffmpeg_binary: str = "ffmpeg"
) -> list[str]:
    """The whole audio track, once: AAC stereo 48 kHz in CMAF segments of the video's length. Only
    audio is decoded (the video stream is never read past the demuxer)."""
    command = (
        pinned_input(source)["a:0"]
        .output(
            str(folder / "index.m3u8"),
            **aac_options(audio_kbps),
            **_cmaf_hls_options(segment_s, 0, folder),
        )
        .global_args(*_QUIET, "-progress", "pipe:1")
    )
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))


def assemble_command(
    video: Path, audio: Path | None, target: Path, ffmpeg_binary: str = "ffmpeg"
) -> list[str]:
    """One MP4 from a rung's stitched fragments (and the audio's), copied, not re-encoded;
    `+faststart` so browsers play it before it fully loads."""
    inputs = [pinned_input(video)["v:0"]]
    if audio is not None:
        inputs.append(pinned_input(audio)["a:0"])
    command = ffmpeg.output(*inputs, str(target), c="copy", movflags="+faststart").global_args(*_QUIET)
    return list(command.compile(cmd=ffmpeg_binary, overwrite_output=True))
