"""How the frontend delivers stored media once it has decided who may see it: a redirect to a
short-lived presigned storage URL (bytes never pass through Python; storage answers `Range`), and
HLS playlists served small, their segment URLs presigned (through a share link: the link's own
segment routes, each a redirect), so a player needs nothing else.

The owner's routes (api/media.py) and a share link's routes (api/shares.py) both deliver through
`Delivery`; a share link also caps every URL's validity at its own expiry, and the URL of a download
or segment redirect through a link at `shared_url_expiry_s`, so that revoking the link stops them
within that time too (what storage has begun sending goes on; see README, "Share links").
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.database import JobRow, RenditionRow
from shared.events import JobStatus, utc_now
from shared.media import HLS_CONTENT_TYPES
from shared.presign import DownloadSigner, signing_time
from shared.storage import MediaStore

#: The only HLS files a package holds: variant playlists, numbered segments (MPEG-TS, or CMAF with
#: an init segment); no paths, no other dots.
_HLS_VARIANT = re.compile(r"[0-9a-z]{1,16}")
_HLS_MEDIA = re.compile(r"seg_[0-9]{5,9}\.(?:ts|m4s)|init\.mp4")
_HLS_FILE = re.compile(rf"index\.m3u8|{_HLS_MEDIA.pattern}")
#: A tag's URI attribute (`#EXT-X-MAP:URI="init.mp4"`).
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
#: A playlist larger than this is no playlist of ours (3 h of 4 s segments is about 100 KiB).
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
_PLAYLIST = HLS_CONTENT_TYPES[".m3u8"]
#: A video's poster frame (a JPEG), by the name of its rendition.
POSTER = "poster"


class DeliverySettings(BaseSettings):
    """How long the URLs the site hands out stay valid (DELIVERY_*)."""

    model_config = SettingsConfigDict(env_prefix="DELIVERY_")

    #: A download's redirect URL: the client follows it at once (a later download asks the site again).
    #: URLs are signed in windows of half this, so one is valid between half of it and all of it.
    download_url_expiry_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    #: The segment URLs of an HLS playlist: a player fetches them over the whole video (paused, too),
    #: long after it read the playlist.
    playlist_url_expiry_s: int = Field(default=6 * 3600, ge=1, le=7 * 24 * 3600)
    #: A download's (or segment redirect's) URL handed out through a share link: once the link is
    #: revoked, URLs it handed out stop working within this. Signed in windows of half of it.
    shared_url_expiry_s: int = Field(default=60, ge=2, le=3600)


def is_hls_file(variant: str, file: str) -> bool:
    """Whether `variant`/`file` can name a file of an HLS package: the whole name must match (a `$`
    would let a trailing newline through)."""
    return bool(_HLS_VARIANT.fullmatch(variant) and _HLS_FILE.fullmatch(file))


def rewrite_playlist(playlist: str, url_of: dict[str, str]) -> str:
    """A media playlist whose media files (segment lines, a `URI="..."` of a tag) name `url_of[file]`
    instead; everything else stays (relative playlist URIs resolve to the site's own routes)."""

    def attribute(match: re.Match[str]) -> str:
        return f'URI="{url_of.get(match.group(1), match.group(1))}"'

    lines = []
    for line in playlist.splitlines():
        bare = line.strip()
        if bare.startswith("#"):
            lines.append(_URI_ATTRIBUTE.sub(attribute, line))
        else:
            lines.append(url_of.get(bare, line))
    return "\n".join(lines) + "\n"


def media_files_of(playlist: str) -> set[str]:
    """The media files (ours only: `seg_NNNNN.ts|m4s`, `init.mp4`) a media playlist names."""
    files: set[str] = set()
    for line in playlist.splitlines():
        bare = line.strip()
        named = _URI_ATTRIBUTE.findall(bare) if bare.startswith("#") else [bare]
        files.update(name for name in named if _HLS_MEDIA.fullmatch(name))
    return files


@dataclass(frozen=True)
class Delivery:
    """Delivers a job's renditions and HLS files whose access the caller has already checked."""

    store: MediaStore
    signer: DownloadSigner
    settings: DeliverySettings

    def _expiry(self, wanted_s: int, now: datetime, until: datetime | None) -> tuple[datetime, int] | None:
        """(signing time, validity) for a URL wanted for `wanted_s`, never valid past `until`."""
        signed_at = signing_time(now, wanted_s)
        expires_s = wanted_s
        if until is not None:
            expires_s = min(expires_s, int((until - signed_at).total_seconds()))
        return (signed_at, expires_s) if expires_s >= 1 else None

    async def rendition(self, job: JobRow, name: str, until: datetime | None = None) -> Response:
        """The rendition `name` of `job`: its master playlist served here (small; its variants are
        relative to the route that served it), anything else a redirect to storage."""
        rendition = next((r for r in job.renditions if r.name == name), None)
        if rendition is None and name == POSTER:
            rendition = playing_poster(job)
        if rendition is None and name == "hls" and (master_key := hls_master_key(job)) is not None:
            # Still encoding, but playable: the master the packager published.
            return self._playlist_response(await asyncio.to_thread(self._read_playlist, master_key), until)
        if rendition is None:
            raise HTTPException(404, f"job {job.id!r} has no rendition {name!r}")
        if rendition.content_type == _PLAYLIST:
            text = await asyncio.to_thread(self._read_playlist, rendition.key)
            return self._playlist_response(text, until)
        timing = self._expiry(self._redirect_expiry_s(until), utc_now(), until)
        if timing is None:
            raise HTTPException(404, "this link has expired")
        signed_at, expires_s = timing
        url = self.signer.get_url(
            self.store.renditions_bucket,
            rendition.key,
            expires_s,
            signed_at=signed_at,
            filename=download_name(job, rendition),
            content_type=rendition.content_type,
        )
        # A browser may keep the redirect while the URL it names surely stays valid; a share link's
        # redirects are never kept, so that revoking the link stops the next request.
        cache = "no-store" if until is not None else f"private, max-age={expires_s // 4}"
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": cache})

    async def hls_file(self, job: JobRow, variant: str, file: str, until: datetime | None = None) -> Response:
        """A file of the job's HLS package: a variant playlist, served with its segments presigned
        (through a share link: relative, each one asked of the link), or a segment (a redirect to
        storage)."""
        master_key = hls_master_key(job)
        if master_key is None or not is_hls_file(variant, file):
            raise HTTPException(404, f"job {job.id!r} has no HLS file {variant}/{file}")
        # Beside the master playlist: <job>/hls/<variant>/<file>.
        prefix = f"{master_key.rsplit('/', 1)[0]}/{variant}/"
        if _HLS_MEDIA.fullmatch(file):
            return self._segment_redirect(prefix + file, until)
        text = await asyncio.to_thread(self._read_playlist, prefix + file)
        if until is not None:
            # A share link's player asks the link for every segment (a redirect, the link checked
            # each time), so a revoke stops playback at the next segment, not hours later.
            return self._playlist_response(text, until)
        # The owner's player: every segment presigned, straight from storage.
        expires_s = self.settings.playlist_url_expiry_s
        signed_at = signing_time(utc_now(), expires_s)
        urls = {
            segment: self.signer.get_url(
                self.store.renditions_bucket, prefix + segment, expires_s, signed_at=signed_at
            )
            for segment in media_files_of(text)
        }
        return self._playlist_response(rewrite_playlist(text, urls), None)

    def _segment_redirect(self, key: str, until: datetime | None) -> Response:
        # Players follow the playlist's presigned URLs; this route serves anyone who asks by name.
        timing = self._expiry(self._redirect_expiry_s(until), utc_now(), until)
        if timing is None:
            raise HTTPException(404, "this link has expired")
        signed_at, expires_s = timing
        url = self.signer.get_url(self.store.renditions_bucket, key, expires_s, signed_at=signed_at)
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})

    def _redirect_expiry_s(self, until: datetime | None) -> int:
        """How long a redirect's URL is signed for: a share link's (`until` given) hands out URLs
        short enough that a revoke soon stops them as well as the link."""
        if until is None:
            return self.settings.download_url_expiry_s
        return min(self.settings.download_url_expiry_s, self.settings.shared_url_expiry_s)

    def _read_playlist(self, key: str) -> str:
        stored = self.store.stat(self.store.renditions_bucket, key)
        if stored is None or stored.size > MAX_PLAYLIST_BYTES:
            raise HTTPException(404, "no such playlist")
        return b"".join(self.store.iter_chunks(self.store.renditions_bucket, key)).decode()

    @staticmethod
    def _playlist_response(text: str, until: datetime | None) -> Response:
        # Never kept: a video still encoding appends to its playlists (EVENT) until they end.
        cache = "no-store" if until is not None else "private, no-cache"
        return Response(text, media_type=_PLAYLIST, headers={"Cache-Control": cache})


def hls_master_key(job: JobRow) -> str | None:
    """The key of the job's HLS master playlist: its rendition once the job is done; while a video
    still encodes, the master the packager published when it became playable (`playable_at`)."""
    master = next((r for r in job.renditions if r.name == "hls"), None)
    if master is not None:
        return master.key
    if job.kind == "video" and job.playable_at is not None and job.status == JobStatus.PROCESSING:
        return f"{job.id}/hls/master.m3u8"
    return None


def playing_poster(job: JobRow) -> RenditionRow | None:
    """While a playable video still encodes, its poster: the first chunk stored it (before the job
    became playable) where the finished job's `poster` rendition will name it. None otherwise."""
    if job.kind != "video" or job.playable_at is None or job.status != JobStatus.PROCESSING:
        return None
    return RenditionRow(
        job_id=job.id,
        name=POSTER,
        content_type="image/jpeg",
        width=0,
        height=0,
        bytes=0,
        key=f"{job.id}/poster.jpg",
    )


def download_name(job: JobRow, rendition: RenditionRow) -> str:
    """`<original's name>-<rendition>.<its extension>`, as a download is saved."""
    extension = rendition.key.rsplit(".", 1)[-1]
    return f"{job.filename.rsplit('.', 1)[0]}-{rendition.name}.{extension}"


def get_delivery(request: Request) -> Delivery:
    """FastAPI dependency: the process's `Delivery` (set up in main.py)."""
    delivery: Delivery = request.app.state.delivery
    return delivery
