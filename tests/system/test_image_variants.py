"""Images as AVIF beside WebP, and sizes on demand through signed /img URLs (issue #16)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.media_samples import image_bytes
from tests.system.conftest import Site

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"


@pytest.fixture(scope="module")
def image_job(small_site: Site) -> str:
    job_id = small_site.upload_ok(image_bytes(1200, 800), "variants.jpg")
    job = small_site.wait_for(job_id)
    assert job["status"] == "done", job["error"]
    return job_id


@pytest.fixture
def anonymous(small_site: Site) -> Iterator[httpx.Client]:
    """A client with no session: a signed URL is all /img needs."""
    with httpx.Client(base_url=small_site.stack.config.frontend_url, timeout=60) as client:
        yield client


def signed_url(site: Site, job_id: str, **params: str | int) -> str:
    response = site.http.get(f"/api/jobs/{job_id}/image-url", params=params)
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def encodes(site: Site) -> float:
    """Variants the frontend has encoded so far (its /metrics)."""
    text = site.http.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "reencode_image_variants_served_total" and sample.labels["source"] == "encoded"
    )


def test_avif_renditions_decode_at_the_size_of_their_webp(small_site: Site, image_job: str) -> None:
    renditions = {r["name"]: r for r in small_site.job(image_job)["renditions"]}
    for size in ("thumbnail", "medium", "large"):
        avif = renditions[f"{size}-avif"]
        assert avif["content_type"] == "image/avif"
        assert (avif["width"], avif["height"]) == (renditions[size]["width"], renditions[size]["height"])
        download = small_site.http.get(avif["url"])
        assert download.headers["content-type"] == "image/avif"
        with Image.open(io.BytesIO(download.content)) as image:
            assert (image.format, image.size) == ("AVIF", (avif["width"], avif["height"]))


def test_auto_answers_the_format_accept_names_and_the_second_request_comes_from_the_cache(
    small_site: Site, image_job: str, anonymous: httpx.Client
) -> None:
    url = signed_url(small_site, image_job, w=300, h=300, fit="cover", q=70)
    before = encodes(small_site)
    modern = anonymous.get(url, headers={"Accept": CHROME_ACCEPT})
    assert modern.status_code == 200, modern.text
    assert modern.headers["content-type"] == "image/avif"
    assert modern.headers["vary"] == "Accept"
    assert "immutable" in modern.headers["cache-control"]
    with Image.open(io.BytesIO(modern.content)) as image:
        assert (image.format, image.size) == ("AVIF", (300, 300))

    plain = anonymous.get(url, headers={"Accept": "*/*"})
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"] == "image/jpeg"
    assert plain.headers["vary"] == "Accept"
    webp = anonymous.get(url, headers={"Accept": "image/webp,*/*"})
    assert webp.headers["content-type"] == "image/webp"
    assert encodes(small_site) == before + 3  # one per format

    again = anonymous.get(url, headers={"Accept": CHROME_ACCEPT})
    assert again.content == modern.content
    assert encodes(small_site) == before + 3  # served from storage, not encoded again
    stored = small_site.store.list_keys(small_site.store.renditions_bucket, f"{image_job}/variants/")
    assert len(stored) == 3


def test_a_tampered_signature_or_option_is_403(
    small_site: Site, image_job: str, anonymous: httpx.Client
) -> None:
    url = signed_url(small_site, image_job, w=200)
    prefix, signature, options, job_id = url.rsplit("/", 3)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert anonymous.get(f"{prefix}/{flipped}/{options}/{job_id}").status_code == 403
    bigger = options.replace("w:200", "w:4000")
    refused = anonymous.get(f"{prefix}/{signature}/{bigger}/{job_id}")
    assert refused.status_code == 403
    assert "signature" in refused.json()["detail"]


def test_another_users_image_cannot_be_signed(small_site: Site, image_job: str) -> None:
    stranger = small_site.another_user()
    try:
        refused = stranger.http.get(f"/api/jobs/{image_job}/image-url", params={"w": 100})
        assert refused.status_code == 404
    finally:
        stranger.http.close()


def test_sizes_out_of_bounds_are_refused_with_a_reason(small_site: Site, image_job: str) -> None:
    too_wide = small_site.http.get(f"/api/jobs/{image_job}/image-url", params={"w": 5000})
    assert too_wide.status_code == 422
    no_size = small_site.http.get(f"/api/jobs/{image_job}/image-url")
    assert no_size.status_code == 422
    assert "width" in no_size.json()["detail"]


def test_a_share_link_signs_urls_that_end_with_it(
    small_site: Site, image_job: str, anonymous: httpx.Client
) -> None:
    created = small_site.http.post(f"/api/jobs/{image_job}/shares", json={"expires_in_s": 3600})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    answer = anonymous.get(f"/s/{token}/image-url", params={"w": 120})
    assert answer.status_code == 200, answer.text
    assert ",exp:" in answer.json()["options"]
    image = anonymous.get(answer.json()["url"], headers={"Accept": "image/webp"})
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/webp"
    max_age = int(image.headers["cache-control"].rpartition("max-age=")[2])
    assert 0 < max_age <= 3600  # never cached past the link's end
    page = anonymous.get(f"/s/{token}").text  # the shared page offers the AVIF first, too
    assert page.index('type="image/avif"') < page.index('type="image/webp"') < page.index('id="image"')

    assert small_site.http.delete(f"/api/shares/{token}").status_code == 204
    assert anonymous.get(f"/s/{token}/image-url", params={"w": 120}).status_code == 404
