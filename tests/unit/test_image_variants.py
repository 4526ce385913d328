"""Sizes on demand, the pure part: options, signatures, Accept negotiation, geometry, cache keys."""

import io

import pytest
from PIL import Image

from services.frontend.image_render import render_variant
from services.frontend.image_variants import (
    AVIF,
    JPEG,
    MAX_EDGE,
    WEBP,
    InvalidOptions,
    VariantOptions,
    image_path,
    negotiate,
    parse_options,
    plan_resize,
    sign,
    signature_matches,
    variant_key,
)
from shared.media import ImageTooLarge

SECRET = b"test-secret"


def test_options_parse_in_any_order_with_defaults_and_normalize() -> None:
    options = parse_options("f:webp,w:320")
    assert options == VariantOptions(width=320, height=0, fit="contain", quality=80, format="webp")
    assert parse_options("w:320,h:0,fit:contain,q:80,f:webp") == options
    assert options.normalized() == "w:320,h:0,fit:contain,q:80,f:webp"
    assert parse_options(options.normalized()) == options


@pytest.mark.parametrize(
    "text",
    [
        "",
        "w",
        "w:",
        "w:320,w:640",  # a key twice
        "x:1",
        "w:-1",
        "w:+5",
        "w:0x10",
        "w: 320",
        "w:4097",
        "w:99999",
        "h:0",  # no size at all
        "w:0,h:0",
        "w:10,q:0",
        "w:10,q:101",
        "w:10,fit:crop",
        "w:10,f:png",
        "w:10,f:AVIF",
    ],
)
def test_options_out_of_bounds_or_malformed_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options(text)
    assert str(refused.value)


def test_options_at_their_bounds_are_accepted() -> None:
    options = parse_options(f"w:{MAX_EDGE},h:{MAX_EDGE},q:1,fit:fill,f:jpeg")
    assert (options.width, options.height, options.quality) == (MAX_EDGE, MAX_EDGE, 1)
    assert parse_options("h:1,q:100").quality == 100


def test_a_signature_verifies_only_for_its_own_options_job_and_secret() -> None:
    signature = sign(SECRET, "w:320", "job1")
    assert signature_matches(SECRET, signature, "w:320", "job1")
    assert not signature_matches(SECRET, signature, "w:321", "job1")
    assert not signature_matches(SECRET, signature, "w:320", "job2")
    assert not signature_matches(b"other", signature, "w:320", "job1")
    tampered = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not signature_matches(SECRET, tampered, "w:320", "job1")
    assert not signature_matches(SECRET, "", "w:320", "job1")
    assert not signature_matches(SECRET, "é" * 32, "w:320", "job1")  # non-ASCII: no crash


def test_image_path_carries_a_url_safe_signature_and_normalized_options() -> None:
    path = image_path(SECRET, parse_options("w:320"), "job1")
    _, img, signature, options, job = path.split("/")
    assert (img, options, job) == ("img", "w:320,h:0,fit:contain,q:80,f:auto", "job1")
    assert signature_matches(SECRET, signature, options, "job1")
    assert all(c.isalnum() or c in "-_" for c in signature)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", AVIF),  # Chrome
        ("image/webp,*/*", WEBP),  # Safari 14
        ("*/*", JPEG),  # curl: a wildcard is no promise of AVIF
        ("image/*", JPEG),
        (None, JPEG),
        ("", JPEG),
        ("image/avif;q=0,image/webp", WEBP),  # refused outright
        ("image/avif;q=0.5,image/webp;q=0.9", WEBP),
        ("image/avif;q=0.9,image/webp;q=0.9", AVIF),  # a tie goes to the smaller file
        ("IMAGE/AVIF", AVIF),
        ("image/avif;q=nonsense", JPEG),
        ("image/webp;q=0", JPEG),
    ],
)
def test_auto_picks_the_format_the_accept_header_names(accept: str | None, expected: object) -> None:
    assert negotiate("auto", accept) == expected


def test_an_explicit_format_ignores_accept() -> None:
    assert negotiate("webp", "image/avif") == WEBP
    assert negotiate("avif", "*/*") == AVIF


def test_geometry_never_enlarges_and_keeps_the_aspect_ratio() -> None:
    assert plan_resize(2000, 1000, parse_options("w:500")).size == (500, 250)
    assert plan_resize(2000, 1000, parse_options("h:100")).size == (200, 100)
    assert plan_resize(200, 100, parse_options("w:4000")).size == (200, 100)
    assert plan_resize(2000, 1000, parse_options("w:400,h:400,fit:contain")).size == (400, 200)
    assert plan_resize(2000, 1000, parse_options("w:400,h:400,fit:fill")).size == (400, 400)


def test_cover_fills_the_box_and_cuts_the_middle() -> None:
    plan = plan_resize(2000, 1000, parse_options("w:400,h:400,fit:cover"))
    assert plan.scaled == (800, 400)
    assert plan.crop == (200, 0, 600, 400)
    assert plan.size == (400, 400)
    # A box larger than the source shrinks to fit it, keeping its own proportions.
    assert plan_resize(300, 200, parse_options("w:1000,h:1000,fit:cover")).size == (200, 200)


def test_cache_keys_lie_under_the_job_and_differ_by_options_and_format() -> None:
    options = parse_options("w:320,f:auto")
    key = variant_key("job1", "job1/large.webp", options, AVIF)
    assert key.startswith("job1/variants/")
    assert key.endswith(".avif")
    assert key == variant_key("job1", "job1/large.webp", parse_options("f:auto,w:320"), AVIF)
    assert key != variant_key("job1", "job1/large.webp", options, WEBP).replace(".webp", ".avif")
    assert key != variant_key("job1", "job1/large.webp", parse_options("w:321"), AVIF)


def test_a_variant_is_drawn_at_its_planned_size_in_its_format() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (640, 480), (200, 10, 10, 128)).save(buffer, "WEBP")
    plan = plan_resize(640, 480, parse_options("w:100,h:100,fit:cover"))
    for output in (AVIF, WEBP, JPEG):
        data = render_variant(buffer.getvalue(), "image/webp", plan, output, 80, 10**8)
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == (output.pillow, (100, 100))
            assert image.mode == ("RGB" if output == JPEG else "RGBA")


def test_a_variant_source_over_the_pixel_limit_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300)).save(buffer, "JPEG")
    with pytest.raises(ImageTooLarge):
        render_variant(
            buffer.getvalue(), "image/jpeg", plan_resize(300, 300, parse_options("w:10")), JPEG, 80, 1000
        )


def test_an_expiry_is_signed_with_the_url_but_shares_the_cached_picture() -> None:
    shared = parse_options("w:320,exp:1700000000")
    assert shared.expires == 1_700_000_000
    assert shared.normalized().endswith(",exp:1700000000")
    assert parse_options(shared.normalized()) == shared
    assert shared.expired(1_700_000_000)
    assert not shared.expired(1_699_999_999)
    assert not parse_options("w:320").expired(10**12)  # no exp: never
    owners = parse_options("w:320")
    assert variant_key("j", "j/large.webp", shared, WEBP) == variant_key("j", "j/large.webp", owners, WEBP)


@pytest.mark.parametrize("text", ["w:1,exp:-5", "w:1,exp:soon", "w:1,exp:123456789012"])
def test_a_malformed_expiry_is_refused(text: str) -> None:
    with pytest.raises(InvalidOptions):
        parse_options(text)
