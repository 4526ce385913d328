"""Delivery straight from storage and share links, on the running site.

A download is a redirect to a short-lived presigned storage URL: storage answers `Range` itself, an
expired URL is refused, and someone else's media is a plain 404 without any redirect. HLS players
need nothing but what the playlists say. A share link opens one upload to anyone, until it is
revoked or expires, and its token never reaches a log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, update

from infra.local.nginx import NGINX_CONF, NginxServer, upstream_servers
from infra.local.processes import free_port
from shared.database import ShareLinkRow
from shared.events import utc_now
from shared.presign import DownloadSigner
from tests.media_samples import image_bytes
from tests.system.conftest import Site
from tests.video_samples import video_bytes


@pytest.fixture(scope="module")
def image_job(small_site: Site) -> str:
    job_id = small_site.upload_ok(image_bytes(width=1600, height=1200), "photo.jpg")
    job = small_site.wait_for(job_id, timeout=120)
    assert job["status"] == "done", job["error"]
    return job_id


@pytest.fixture(scope="module")
def video_job(small_site: Site) -> str:
    uploaded = small_site.upload(video_bytes(seconds=2, width=640, height=360), "clip.mp4", "video/mp4")
    assert uploaded.status_code == 202, uploaded.text
    job_id: str = uploaded.json()["job_id"]
    job = small_site.wait_for(job_id, timeout=300)
    assert job["status"] == "done", job["error"]
    return job_id


@pytest.fixture
def anonymous(small_site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=small_site.stack.config.frontend_url, timeout=30, follow_redirects=True
    ) as client:
        yield client


def test_a_range_request_on_a_rendition_gets_206_with_exactly_those_bytes_from_storage(
    small_site: Site, image_job: str
) -> None:
    redirect = small_site.http.get(f"/media/{image_job}/large", follow_redirects=False)
    assert redirect.status_code == 307
    location = urlsplit(redirect.headers["location"])
    assert location.netloc == small_site.stack.config.storage.endpoint  # storage, not the frontend
    whole = httpx.get(redirect.headers["location"]).content
    ranged = small_site.http.get(f"/media/{image_job}/large", headers={"Range": "bytes=10-99"})
    assert ranged.status_code == 206
    assert ranged.content == whole[10:100]
    assert ranged.headers["content-range"] == f"bytes 10-99/{len(whole)}"
    assert ranged.headers["content-type"] == "image/webp"


def test_a_presigned_url_expires(small_site: Site, image_job: str) -> None:
    redirect = small_site.http.get(f"/media/{image_job}/thumbnail", follow_redirects=False)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["X-Amz-Expires"] == ["300"]  # DELIVERY_DOWNLOAD_URL_EXPIRY_S
    key = urlsplit(redirect.headers["location"]).path.split("/", 2)[2]
    signer = DownloadSigner(small_site.stack.config.storage)
    bucket = small_site.stack.config.storage.renditions_bucket
    fresh = signer.get_url(bucket, key, 60)
    assert httpx.get(fresh).status_code == 200
    expired = signer.get_url(bucket, key, 60, signed_at=utc_now() - timedelta(minutes=5))
    refused = httpx.get(expired)
    assert refused.status_code == 403
    assert "expired" in refused.text.lower()


def test_another_users_media_is_404_without_a_redirect(small_site: Site, image_job: str) -> None:
    other = small_site.another_user()
    try:
        for path in (f"/media/{image_job}/large", f"/media/{image_job}/hls/360p/index.m3u8"):
            answer = other.http.get(path, follow_redirects=False)
            assert answer.status_code == 404, path
            assert "location" not in answer.headers
    finally:
        other.http.close()


def fetch_hls(client: httpx.Client, master_url: str, through_link: bool = False) -> list[str]:
    """Fetch every variant playlist and every media file by following only what the playlists say,
    with a client that holds no credentials for storage; returns the media files' URLs.

    The owner's playlists name presigned storage URLs; a share link's name the link's own routes,
    each a redirect to storage (`through_link`), so that a revoke stops the next segment."""
    master = client.get(master_url)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variants = [
        urljoin(str(master.url), line) for line in master.text.splitlines() if line and line[0] != "#"
    ]
    variants += [
        urljoin(str(master.url), tag.split('URI="', 1)[1].split('"', 1)[0])
        for tag in master.text.splitlines()
        if tag.startswith("#EXT-X-MEDIA:") and 'URI="' in tag
    ]
    assert variants
    media: list[str] = []
    for variant_url in variants:
        variant = client.get(variant_url)
        assert variant.status_code == 200, variant_url
        files = [line for line in variant.text.splitlines() if line and line[0] != "#"]
        files += [t.split('URI="', 1)[1].split('"', 1)[0] for t in variant.text.splitlines() if 'URI="' in t]
        for file in files:
            url = urljoin(variant_url, file)
            if through_link:
                assert "X-Amz-Signature=" not in file, file
                fetched = client.get(url)  # the link's redirect to storage, followed
                assert "X-Amz-Signature=" in str(fetched.url), fetched.url
            else:
                assert "X-Amz-Signature=" in file, file  # presigned: straight from storage
                with httpx.Client(timeout=30) as stranger:
                    fetched = stranger.get(url)
            assert fetched.status_code == 200, file
            assert fetched.content
            media.append(url)
    return media


def test_hls_master_variants_and_segments_are_fetched_by_following_the_playlists(
    small_site: Site, video_job: str
) -> None:
    assert len(fetch_hls(small_site.http, f"/media/{video_job}/hls")) >= 2


def create_share(site: Site, job_id: str, expires_in_s: int = 3600) -> dict[str, str]:
    created = site.http.post(f"/api/jobs/{job_id}/shares", json={"expires_in_s": expires_in_s})
    assert created.status_code == 201, created.text
    share: dict[str, str] = created.json()
    return share


def test_a_share_link_works_anonymously_until_revoked(
    small_site: Site, video_job: str, anonymous: httpx.Client
) -> None:
    share = create_share(small_site, video_job)
    assert share["url"].endswith(f"/s/{share['token']}")
    page = anonymous.get(share["url"])
    assert page.status_code == 200
    assert "clip.mp4" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    segments = fetch_hls(anonymous, f"/s/{share['token']}/media/hls", through_link=True)
    assert len(segments) >= 2
    poster = anonymous.get(f"/s/{share['token']}/media/poster")
    assert (poster.status_code, poster.headers["content-type"]) == (200, "image/jpeg")
    listed = small_site.http.get(f"/api/jobs/{video_job}/shares").json()
    assert [link["id"] for link in listed] == [share["id"]]
    assert "token" not in listed[0]
    assert share["id"] in {link["id"] for link in small_site.http.get("/api/shares").json()}

    # Nobody else can revoke it, or list it.
    other = small_site.another_user()
    try:
        assert other.http.delete(f"/api/shares/{share['id']}").status_code == 404
        assert other.http.get(f"/api/jobs/{video_job}/shares").status_code == 404
    finally:
        other.http.close()
    assert anonymous.get(share["url"]).status_code == 200

    assert small_site.http.delete(f"/api/shares/{share['token']}").status_code == 204
    assert anonymous.get(share["url"]).status_code == 404
    assert anonymous.get(f"/s/{share['token']}/media/poster").status_code == 404
    assert anonymous.get(f"/s/{share['token']}/media/hls/360p/index.m3u8").status_code == 404
    # A player that read its playlists before the revoke gets no further segment either.
    assert anonymous.get(segments[-1]).status_code == 404
    assert small_site.http.get(f"/api/jobs/{video_job}/shares").json() == []


def test_a_share_link_stops_at_its_expiry_and_its_token_is_in_no_log(
    small_site: Site, image_job: str, anonymous: httpx.Client
) -> None:
    share = create_share(small_site, image_job)
    shared_url = f"/s/{share['token']}/media/large"
    assert anonymous.get(shared_url).status_code == 200
    # A presigned URL through the link never outlives the link.
    location = anonymous.get(shared_url, follow_redirects=False).headers["location"]
    assert int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0]) <= 300

    # The link's hour passes: its row says it expired a moment ago.
    engine = create_engine(small_site.stack.config.sqlalchemy_url)
    with engine.begin() as connection:
        connection.execute(
            update(ShareLinkRow)
            .where(ShareLinkRow.id == share["id"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    engine.dispose()
    assert anonymous.get(share["url"]).status_code == 404
    assert anonymous.get(shared_url).status_code == 404
    listed = small_site.http.get(f"/api/jobs/{image_job}/shares").json()
    assert [link["expired"] for link in listed] == [True]

    logs = sorted(small_site.stack.logs_dir.glob("*.log"))
    assert logs
    for log in logs:
        assert share["token"] not in log.read_text(errors="replace"), log.name


def test_share_links_refuse_bad_expiries_and_strangers(small_site: Site, image_job: str) -> None:
    too_long = small_site.http.post(f"/api/jobs/{image_job}/shares", json={"expires_in_s": 10**9})
    assert too_long.status_code == 422
    too_short = small_site.http.post(f"/api/jobs/{image_job}/shares", json={"expires_in_s": 5})
    assert too_short.status_code == 422
    with httpx.Client(base_url=small_site.stack.config.frontend_url) as nobody:
        assert nobody.post(f"/api/jobs/{image_job}/shares", json={}).status_code == 401
        assert nobody.get("/s/not-a-real-token").status_code == 404


def test_nginx_serves_storage_under_the_sites_address_for_urls_signed_for_it(
    small_site: Site, image_job: str, tmp_path: Path
) -> None:
    """compose's own nginx.conf (as `make run-full` runs it): a URL signed for the site's address
    reaches storage with its signature intact (Host kept, raw URI), Range included, while the site's
    credentials stay behind, and /uploads/{job_id} is still the site's page."""
    config = small_site.stack.config
    frontend = urlsplit(config.frontend_url).netloc
    local = {"frontend:8000": [frontend], "minio:9000": [config.storage.endpoint]}
    conf = NGINX_CONF.read_text()
    lb = NginxServer(
        tmp_path / "nginx",
        free_port(),
        {a: local[a] for a in upstream_servers(conf).values()},
        tmp_path / "lb.log",
    )
    lb.start()
    try:
        public = config.storage.model_copy(update={"public_endpoint": f"127.0.0.1:{lb.port}"})
        location = urlsplit(
            small_site.http.get(f"/media/{image_job}/large", follow_redirects=False).headers["location"]
        )
        key = location.path.split("/", 2)[2]
        whole = httpx.get(location.geturl()).content
        url = DownloadSigner(public).get_url(config.storage.renditions_bucket, key, 60)
        assert url.startswith(f"{lb.url}/renditions/")
        credentials = {"Authorization": "Bearer site-token", "Cookie": "reencode_session=site-session"}
        ranged = httpx.get(url, headers={"Range": "bytes=10-99", **credentials})
        assert ranged.status_code == 206, ranged.text
        assert ranged.content == whole[10:100]
        assert httpx.get(f"{lb.url}/uploads/{image_job}").status_code == 303  # the page: sign in first
    finally:
        lb.stop()
