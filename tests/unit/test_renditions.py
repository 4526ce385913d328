from services.reencoder.renditions import (
    IMAGE_LADDER,
    fit_within,
    manifest_key,
    plan_renditions,
    rendition_key,
)


def test_fit_within_scales_the_longest_edge_down() -> None:
    assert fit_within(4000, 3000, 1280) == (1280, 960)
    assert fit_within(3000, 4000, 1280) == (960, 1280)


def test_fit_within_never_upscales() -> None:
    assert fit_within(200, 100, 2560) == (200, 100)


def test_fit_within_keeps_at_least_one_pixel() -> None:
    assert fit_within(10_000, 1, 320) == (320, 1)


def test_ladder_has_webp_sizes_and_a_jpeg_fallback() -> None:
    sizes = {spec.name: (spec.max_edge, spec.format) for spec in IMAGE_LADDER}
    assert sizes["thumbnail"] == (320, "WEBP")
    assert sizes["medium"] == (1280, "WEBP")
    assert sizes["large"] == (2560, "WEBP")
    assert sizes["fallback"][1] == "JPEG"


def test_every_webp_size_has_an_avif_beside_it() -> None:
    webp = {spec.max_edge for spec in IMAGE_LADDER if spec.format == "WEBP"}
    avif = {spec.max_edge: spec for spec in IMAGE_LADDER if spec.format == "AVIF"}
    assert set(avif) == webp
    assert {(spec.content_type, spec.extension) for spec in avif.values()} == {("image/avif", "avif")}


def test_plan_for_a_small_image_keeps_its_size_everywhere_but_the_thumbnail() -> None:
    plan = {p.spec.name: (p.width, p.height) for p in plan_renditions(800, 600)}
    assert plan == {
        "thumbnail": (320, 240),
        "medium": (800, 600),
        "large": (800, 600),
        "thumbnail-avif": (320, 240),
        "medium-avif": (800, 600),
        "large-avif": (800, 600),
        "fallback": (800, 600),
    }


def test_keys_are_deterministic_per_job() -> None:
    spec = IMAGE_LADDER[0]
    assert rendition_key("abc", spec) == rendition_key("abc", spec) == "abc/thumbnail.webp"
    assert manifest_key("abc") == "abc/manifest.json"
