"""Image sizes on demand, the pure part: imgproxy-style options, their signature, the output format a
browser's `Accept` asks for, the geometry of a resize, and where a variant is cached.

A URL is `/img/{signature}/{options}/{job_id}`, options like `w:320,h:0,fit:cover,q:80,f:auto`. The
signature is an HMAC-SHA256 over `{options}/{job_id}` with the site's secret: only the site (for a
job's owner, or a share link) makes URLs, so nobody can make the server encode sizes it never handed
out. Options are parsed strictly (each key once, decimal digits only, bounded), and a variant's cache
key is made from their normalized form, so `w:320,f:auto` and `f:auto,w:320` share one stored file.
A URL made through a share link carries `exp:<unix seconds>`, the link's own expiry: it stops working
then, as every URL handed out through a link does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

#: The largest width or height a variant may have (an on-demand 8K is no thumbnail).
MAX_EDGE = 4096
#: Characters of the URL-safe base64 signature kept: 32 of them carry 192 bits of the HMAC.
SIGNATURE_CHARS = 32
DEFAULT_QUALITY = 80

Fit = Literal["contain", "cover", "fill"]
RequestedFormat = Literal["auto", "avif", "webp", "jpeg"]
_FITS: tuple[Fit, ...] = ("contain", "cover", "fill")
_FORMATS: tuple[RequestedFormat, ...] = ("auto", "avif", "webp", "jpeg")
#: Decimal digits only (no sign, no spaces, no `0x`), at most 4 of them.
_NUMBER = re.compile(r"[0-9]{1,4}")
#: A Unix time in seconds (until the year 5138).
_TIMESTAMP = re.compile(r"[0-9]{1,11}")


class InvalidOptions(ValueError):
    """Options that do not parse or are out of bounds; the message says which and why."""


@dataclass(frozen=True)
class OutputFormat:
    name: Literal["avif", "webp", "jpeg"]
    pillow: str
    content_type: str
    extension: str


AVIF = OutputFormat("avif", "AVIF", "image/avif", "avif")
WEBP = OutputFormat("webp", "WEBP", "image/webp", "webp")
JPEG = OutputFormat("jpeg", "JPEG", "image/jpeg", "jpg")
_BY_NAME = {f.name: f for f in (AVIF, WEBP, JPEG)}


@dataclass(frozen=True)
class VariantOptions:
    """What a URL asks for. A width or height of 0 follows from the other and the aspect ratio.
    `expires` (Unix seconds, 0: never) ends a URL made through a share link with the link."""

    width: int = 0
    height: int = 0
    fit: Fit = "contain"
    quality: int = DEFAULT_QUALITY
    format: RequestedFormat = "auto"
    expires: int = 0

    def rendering(self) -> str:
        """What decides the pixels, in one order: the same picture always reads the same."""
        return f"w:{self.width},h:{self.height},fit:{self.fit},q:{self.quality},f:{self.format}"

    def normalized(self) -> str:
        """Every option, in one order (the expiry only when there is one)."""
        return self.rendering() + (f",exp:{self.expires}" if self.expires else "")

    def expired(self, now: float) -> bool:
        return bool(self.expires) and now >= self.expires


def parse_options(text: str) -> VariantOptions:
    """`w:320,h:0,fit:cover,q:80,f:auto` (any order, each key at most once, defaults for the rest)."""
    seen: dict[str, str] = {}
    for part in text.split(","):
        key, colon, value = part.partition(":")
        if not colon or not value:
            raise InvalidOptions(f"option {part!r} is not key:value (e.g. w:320)")
        if key not in ("w", "h", "fit", "q", "f", "exp"):
            raise InvalidOptions(f"unknown option {key!r} (known: w, h, fit, q, f, exp)")
        if key in seen:
            raise InvalidOptions(f"option {key!r} is given twice")
        seen[key] = value
    width = _number(seen, "w", 0, MAX_EDGE, 0)
    height = _number(seen, "h", 0, MAX_EDGE, 0)
    if width == 0 and height == 0:
        raise InvalidOptions("give a width (w) or a height (h), or both")
    fit = seen.get("fit", "contain")
    if fit not in _FITS:
        raise InvalidOptions(f"fit must be one of {', '.join(_FITS)}, not {fit!r}")
    format_ = seen.get("f", "auto")
    if format_ not in _FORMATS:
        raise InvalidOptions(f"f must be one of {', '.join(_FORMATS)}, not {format_!r}")
    quality = _number(seen, "q", 1, 100, DEFAULT_QUALITY)
    expires = seen.get("exp", "0")
    if not _TIMESTAMP.fullmatch(expires):
        raise InvalidOptions(f"exp must be a Unix time in seconds, not {expires!r}")
    return VariantOptions(width, height, fit, quality, format_, int(expires))


def _number(seen: dict[str, str], key: str, least: int, most: int, default: int) -> int:
    if key not in seen:
        return default
    value = seen[key]
    if not _NUMBER.fullmatch(value) or not least <= int(value) <= most:
        raise InvalidOptions(f"{key} must be a whole number from {least} to {most}, not {value!r}")
    return int(value)


# --- signatures --------------------------------------------------------------------------------


def sign(secret: bytes, options: str, job_id: str) -> str:
    """The URL-safe signature of `options` for `job_id` (unpadded base64, truncated)."""
    digest = hmac.new(secret, f"{options}/{job_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:SIGNATURE_CHARS]


def signature_matches(secret: bytes, signature: str, options: str, job_id: str) -> bool:
    """Whether `signature` is the one the site made; compared in constant time."""
    return hmac.compare_digest(sign(secret, options, job_id).encode(), signature.encode("utf-8", "replace"))


def image_path(secret: bytes, options: VariantOptions, job_id: str) -> str:
    """The site-relative URL path of a variant: `/img/{signature}/{options}/{job_id}`."""
    text = options.normalized()
    return f"/img/{sign(secret, text, job_id)}/{text}/{job_id}"


# --- format negotiation ------------------------------------------------------------------------


def accepted_quality(accept: str, content_type: str) -> float:
    """The q-value `accept` gives `content_type` when it names it exactly; 0 when it does not.

    Wildcards (`image/*`, `*/*`) are deliberately not read as support: curl and old browsers send
    `*/*` and decode neither AVIF nor WebP, so only a type named outright earns a modern format.
    """
    best = 0.0
    for item in accept.split(","):
        media_type, *params = (piece.strip() for piece in item.split(";"))
        if media_type.lower() != content_type:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0  # a q-value that does not parse accepts nothing
        best = max(best, quality)
    return best


def negotiate(requested: RequestedFormat, accept: str | None) -> OutputFormat:
    """The format to answer: the requested one, or for `auto` AVIF or WebP when `Accept` names it
    (the higher q-value; AVIF, the smaller, on a tie), else JPEG, which every browser shows."""
    if requested != "auto":
        return _BY_NAME[requested]
    header = accept or ""
    avif, webp = accepted_quality(header, AVIF.content_type), accepted_quality(header, WEBP.content_type)
    if avif > 0 and avif >= webp:
        return AVIF
    if webp > 0:
        return WEBP
    return JPEG


# --- geometry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResizePlan:
    """Scale the source to `scaled`, then (cover) cut `crop` (left, top, right, bottom) out of it."""

    scaled: tuple[int, int]
    crop: tuple[int, int, int, int] | None

    @property
    def size(self) -> tuple[int, int]:
        if self.crop is None:
            return self.scaled
        left, top, right, bottom = self.crop
        return right - left, bottom - top


def plan_resize(source_width: int, source_height: int, options: VariantOptions) -> ResizePlan:
    """The geometry of a variant. Never enlarges: a box larger than the source shrinks (keeping its
    own proportions) until it fits, so a variant holds no pixel the stored image does not."""
    width, height = options.width, options.height
    if width == 0 or height == 0:  # one edge given: the other follows the aspect ratio
        scale = width / source_width if width else height / source_height
        scale = min(scale, 1.0)
        return ResizePlan(_scaled(source_width, source_height, scale), None)
    shrink = min(1.0, source_width / width, source_height / height)
    box_w, box_h = max(1, round(width * shrink)), max(1, round(height * shrink))
    if options.fit == "fill":
        return ResizePlan((box_w, box_h), None)
    if options.fit == "contain":
        scale = min(box_w / source_width, box_h / source_height, 1.0)
        return ResizePlan(_scaled(source_width, source_height, scale), None)
    scale = min(max(box_w / source_width, box_h / source_height), 1.0)  # cover: fill the box, cut the rest
    scaled = _scaled(source_width, source_height, scale)
    box_w, box_h = min(box_w, scaled[0]), min(box_h, scaled[1])  # rounding may leave a pixel less
    left, top = (scaled[0] - box_w) // 2, (scaled[1] - box_h) // 2
    return ResizePlan(scaled, (left, top, left + box_w, top + box_h))


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


# --- cache -------------------------------------------------------------------------------------

VARIANTS_FOLDER = "variants"


def variants_prefix(job_id: str) -> str:
    return f"{job_id}/{VARIANTS_FOLDER}/"


def variant_key(job_id: str, source_key: str, options: VariantOptions, output: OutputFormat) -> str:
    """Where a variant is cached: under the job's own prefix (deleted with it), named by a hash of
    its source, normalized options and the format chosen (`f:auto` caches one file per format)."""
    what = f"{source_key}|{options.rendering()}|{output.name}"  # a share's URL reuses the owner's
    digest = hashlib.sha256(what.encode()).hexdigest()[:32]
    return f"{variants_prefix(job_id)}{digest}.{output.extension}"
