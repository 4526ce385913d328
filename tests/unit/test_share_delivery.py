"""What a share link hands out stops soon after the link is revoked: the storage URLs of its
downloads and segment redirects are short-lived (DELIVERY_SHARED_URL_EXPIRY_S), the owner's are not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast
from urllib.parse import parse_qs, urlsplit

from fastapi.responses import Response

from services.frontend.delivery import Delivery, DeliverySettings
from shared.database import JobRow, RenditionRow
from shared.events import utc_now
from shared.presign import DownloadSigner
from shared.settings import StorageSettings
from shared.storage import MediaStore


def delivery(settings: DeliverySettings) -> Delivery:
    # Signing is local: a redirect needs the renditions bucket's name, never a connection.
    store = cast(MediaStore, SimpleNamespace(renditions_bucket="renditions"))
    return Delivery(store, DownloadSigner(StorageSettings()), settings)


def a_video_job() -> JobRow:
    job = JobRow(id="j1", kind="video", status="done", filename="clip.mp4", content_type="video/mp4")
    job.renditions = [
        RenditionRow(
            name="720p", content_type="video/mp4", width=1280, height=720, bytes=1, key="j1/720p.mp4"
        )
    ]
    return job


def signed_query(answer: Response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(answer.headers["location"]).query)


def expiry_of_redirect(answer: Response) -> int:
    return int(signed_query(answer)["X-Amz-Expires"][0])


def end_of_redirect(answer: Response) -> datetime:
    """When the redirect's URL stops working: its signing time plus its validity."""
    signed_at = datetime.strptime(signed_query(answer)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed_at + timedelta(seconds=expiry_of_redirect(answer))


def test_a_share_links_download_url_lives_a_minute_and_the_owners_five() -> None:
    site = delivery(DeliverySettings())
    job = a_video_job()
    link_ends = utc_now() + timedelta(days=7)

    owners = asyncio.run(site.rendition(job, "720p"))
    shared = asyncio.run(site.rendition(job, "720p", until=link_ends))

    assert expiry_of_redirect(owners) == 300
    assert expiry_of_redirect(shared) == 60
    assert shared.headers["cache-control"] == "no-store"


def test_a_share_links_segment_redirect_is_short_lived_and_never_outlives_the_link() -> None:
    site = delivery(DeliverySettings(shared_url_expiry_s=30))
    job = a_video_job()
    job.renditions.append(
        RenditionRow(
            name="hls",
            content_type="application/vnd.apple.mpegurl",
            width=0,
            height=0,
            bytes=1,
            key="j1/hls/master.m3u8",
        )
    )
    through_link = asyncio.run(
        site.hls_file(job, "360p", "seg_00001.ts", until=utc_now() + timedelta(hours=1))
    )
    assert expiry_of_redirect(through_link) == 30
    link_ends = utc_now() + timedelta(seconds=20)
    ending = asyncio.run(site.hls_file(job, "360p", "seg_00001.ts", until=link_ends))
    assert end_of_redirect(ending) <= link_ends
