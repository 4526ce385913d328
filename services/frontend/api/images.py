"""Image sizes on demand, imgproxy-style:

    GET /img/{signature}/{options}/{job_id}     any size of a done image job, in the best format the
                                                browser accepts (anyone holding the signed URL)
    GET /api/jobs/{job_id}/image-url?w=&h=&fit=&q=&f=   -> {"url", "options"}: a signed URL (owner)
    GET /s/{token}/image-url?w=&h=&fit=&q=&f=           the same through a share link (anyone holding
                                                it); the URL expires with the link (`exp:` option)

A wrong signature is a 403 before anything is read. A variant is encoded once, from the job's largest
stored WebP or JPEG rendition, in a thread under a semaphore (the event loop never waits on Pillow,
and a burst of misses cannot take every core), then cached in storage under the job's prefix
(`<job>/variants/<hash>.<ext>`), so a repeated request costs one storage read; its URL is signed and
its bytes fixed, so browsers and CDNs may keep it for a year. Each image holds at most
`IMAGE_URL_MAX_VARIANTS_PER_IMAGE` variants.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.frontend.api.deps import OwnedJob
from services.frontend.api.schemas import Problem
from services.frontend.api.shares import SharedDep
from services.frontend.image_render import render_variant
from services.frontend.image_variants import (
    MAX_EDGE,
    Fit,
    InvalidOptions,
    OutputFormat,
    RequestedFormat,
    VariantOptions,
    image_path,
    negotiate,
    parse_options,
    plan_resize,
    signature_matches,
    variant_key,
    variants_prefix,
)
from services.frontend.job_store import JobStore
from shared.database import JobRow, RenditionRow
from shared.events import JobStatus
from shared.media import MediaRejected
from shared.storage import MediaStore

log = logging.getLogger(__name__)
router = APIRouter(tags=["images"])

#: The renditions a variant is made from: AVIF decodes several times slower, PNG is never stored.
DECODED_FAST = ("image/webp", "image/jpeg")
#: Signed and content-addressed: the bytes behind a URL never change.
CACHE_FOREVER = "public, max-age=31536000, immutable"


class ImageUrlSettings(BaseSettings):
    """Signed image URLs (IMAGE_URL_*). No secret, no /img: compose requires one (.env)."""

    model_config = SettingsConfigDict(env_prefix="IMAGE_URL_")

    #: The HMAC key of /img signatures; every frontend replica needs the same one.
    secret: SecretStr | None = None
    #: Distinct variants (sizes x formats) one image may have in storage.
    max_variants_per_image: int = Field(default=50, ge=1)
    #: Variants encoded at once by one frontend process (each holds a core while it runs).
    max_concurrent_encodes: int = Field(default=2, ge=1)


class ImageUrl(BaseModel):
    url: str
    #: The normalized options the URL carries.
    options: str


class ImageVariants:
    """Serves /img: checks, cache reads, and encodes on a miss."""

    def __init__(
        self,
        store: MediaStore,
        jobs: JobStore,
        settings: ImageUrlSettings,
        max_pixels: int,
        registry: CollectorRegistry,
    ) -> None:
        self.store, self.jobs, self.settings, self.max_pixels = store, jobs, settings, max_pixels
        self._encodes = asyncio.Semaphore(settings.max_concurrent_encodes)
        self._served = Counter(
            "reencode_image_variants_served",
            "/img answers, by whether the variant came from the storage cache or was encoded",
            ["source", "format"],
            registry=registry,
        )

    @property
    def secret(self) -> bytes:
        if self.settings.secret is None:
            raise HTTPException(503, "image URLs are not configured on this site (IMAGE_URL_SECRET)")
        return self.settings.secret.get_secret_value().encode()

    def url_path(self, job_id: str, options: VariantOptions) -> str:
        return image_path(self.secret, options, job_id)

    async def serve(self, signature: str, options_text: str, job_id: str, accept: str | None) -> Response:
        if not signature_matches(self.secret, signature, options_text, job_id):
            raise HTTPException(403, "the signature does not match this image URL")
        try:
            options = parse_options(options_text)
        except InvalidOptions as error:
            raise HTTPException(400, str(error)) from error
        now = time.time()
        if options.expired(now):
            raise HTTPException(410, "this image URL has expired (it came through a share link)")
        job = await asyncio.to_thread(self.jobs.get, job_id)
        source = _largest_image(job)
        output = negotiate(options.format, accept)
        key = variant_key(job_id, source.key, options, output)
        bucket = self.store.renditions_bucket
        data = await asyncio.to_thread(self.store.get_bytes, bucket, key)
        origin = "cache"
        if data is None:
            data = await self._encode(job_id, source, options, output, key)
            origin = "encoded"
        self._served.labels(origin, output.name).inc()
        headers = {"Cache-Control": _cache_control(options, now)}
        if options.format == "auto":
            headers["Vary"] = "Accept"
        return Response(data, media_type=output.content_type, headers=headers)

    async def _encode(
        self, job_id: str, source: RenditionRow, options: VariantOptions, output: OutputFormat, key: str
    ) -> bytes:
        bucket = self.store.renditions_bucket
        stored = await asyncio.to_thread(self.store.list_keys, bucket, variants_prefix(job_id))
        if len(stored) >= self.settings.max_variants_per_image:
            raise HTTPException(
                409,
                f"this image already has {len(stored)} sizes, the most it may have: use one of those",
            )
        plan = plan_resize(source.width, source.height, options)
        async with self._encodes:
            original = await asyncio.to_thread(self.store.get_bytes, bucket, source.key)
            if original is None:
                raise HTTPException(404, f"job {job_id!r} has no stored image any more")
            try:
                data = await asyncio.to_thread(
                    render_variant,
                    original,
                    source.content_type,
                    plan,
                    output,
                    options.quality,
                    self.max_pixels,
                )
            except MediaRejected as error:
                raise HTTPException(422, f"the stored image cannot be resized: {error}") from error
        stream = io.BytesIO(data)
        await asyncio.to_thread(self.store.put_stream, bucket, key, stream, len(data), output.content_type)
        return data


def _largest_image(job: JobRow | None) -> RenditionRow:
    """The job's largest stored rendition Pillow decodes fast (WebP or JPEG); 404 when there is none."""
    if job is None:
        raise HTTPException(404, "no such image")
    if job.kind != "image" or job.status != JobStatus.DONE:
        raise HTTPException(404, f"job {job.id!r} has no image to resize (it is a {job.kind}, {job.status})")
    sources = [r for r in job.renditions if r.content_type in DECODED_FAST]
    if not sources:
        raise HTTPException(404, f"job {job.id!r} has no stored image")
    return max(sources, key=lambda r: (r.width * r.height, r.content_type == "image/webp"))


def _cache_control(options: VariantOptions, now: float) -> str:
    """A year for a URL that never expires; no longer than its expiry for one that does."""
    if not options.expires:
        return CACHE_FOREVER
    return f"public, max-age={max(0, math.floor(options.expires - now))}"


def get_image_variants(request: Request) -> ImageVariants:
    variants: ImageVariants = request.app.state.image_variants
    return variants


Variants = Annotated[ImageVariants, Depends(get_image_variants)]


@router.get(
    "/img/{signature}/{options}/{job_id}",
    name="image_variant",
    response_class=Response,
    responses={
        200: {"content": {"image/avif": {}, "image/webp": {}, "image/jpeg": {}}},
        400: {"model": Problem},
        403: {"model": Problem},
        404: {"model": Problem},
        409: {"model": Problem},
    },
    summary="An image at any size, in the best format the browser accepts (signed URL)",
)
async def image_variant(
    signature: str,
    options: str,
    job_id: str,
    variants: Variants,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    return await variants.serve(signature, options, job_id, accept)


@router.get(
    "/api/jobs/{job_id}/image-url",
    response_model=ImageUrl,
    responses={401: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}},
    summary="A signed /img URL for one of your images at the size and format you ask",
)
async def image_url(
    job: OwnedJob,
    request: Request,
    variants: Variants,
    w: Annotated[int, Query(ge=0, le=MAX_EDGE)] = 0,
    h: Annotated[int, Query(ge=0, le=MAX_EDGE)] = 0,
    fit: Fit = "contain",
    q: Annotated[int, Query(ge=1, le=100)] = 80,
    f: RequestedFormat = "auto",
) -> ImageUrl:
    return _signed(request, variants, job, VariantOptions(w, h, fit, q, f))


@router.get(
    "/s/{token}/image-url",
    response_model=ImageUrl,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="A signed /img URL for a shared image; it expires with the link",
)
async def shared_image_url(
    shared: SharedDep,
    request: Request,
    response: Response,
    variants: Variants,
    w: Annotated[int, Query(ge=0, le=MAX_EDGE)] = 0,
    h: Annotated[int, Query(ge=0, le=MAX_EDGE)] = 0,
    fit: Fit = "contain",
    q: Annotated[int, Query(ge=1, le=100)] = 80,
    f: RequestedFormat = "auto",
) -> ImageUrl:
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in this request's path
    expires = _unix_seconds(shared.expires_at)
    return _signed(request, variants, shared.job, VariantOptions(w, h, fit, q, f, expires))


def _unix_seconds(moment: datetime) -> int:
    return max(1, math.ceil(moment.timestamp()))


def _signed(request: Request, variants: ImageVariants, job: JobRow, options: VariantOptions) -> ImageUrl:
    if job.kind != "image":
        raise HTTPException(422, f"job {job.id!r} is a {job.kind}: only images have sizes on demand")
    if options.width == 0 and options.height == 0:
        raise HTTPException(422, "give a width (w) or a height (h), or both")
    path = variants.url_path(job.id, options)
    return ImageUrl(url=str(request.base_url).rstrip("/") + path, options=options.normalized())
