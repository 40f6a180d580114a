"""<picture>/srcset from a manifest: format order, width candidates, intrinsic size, safe URLs."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from imagepipe.delivery.responsive import on_demand_url, picture

ASSET = "0190a4b2-0000-8000-8000-000000000000"


def ladder(widths=(320, 640, 1024), height_ratio=0.75, formats=("jpeg", "webp", "avif")):
    ext = {"avif": "avif", "webp": "webp", "jpeg": "jpg", "png": "png"}
    return [
        {"key": f"public/{ASSET}/{w}w.0123456789abcdef.{ext[f]}", "width": w, "height": round(w * height_ratio), "format": f}
        for f in formats for w in reversed(widths)
    ]


class Elements(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_picture_offers_avif_then_webp_with_a_jpeg_img_and_no_layout_shift():
    """GIVEN a ladder in any order THEN <picture> has an AVIF source, then WebP, each with width
    candidates narrowest first, and an <img> fallback carrying the JPEG srcset, the same sizes and
    the intrinsic width/height of the largest variant."""
    html = picture(ladder(), url=lambda v: f"https://cdn/{v['key']}", sizes="(min-width: 60rem) 50vw, 100vw").to_html("a lake")
    tags = Elements(html).found
    assert [t for t, _ in tags] == ["picture", "source", "source", "img"]
    avif, webp, img = tags[1][1], tags[2][1], tags[3][1]
    assert (avif["type"], webp["type"]) == ("image/avif", "image/webp")
    assert [c.split()[1] for c in avif["srcset"].split(", ")] == ["320w", "640w", "1024w"]
    assert all(c.split()[0].endswith(".avif") for c in avif["srcset"].split(", "))
    assert img["srcset"].count(".jpg") == 3 and img["src"].endswith("1024w.0123456789abcdef.jpg")
    assert (img["width"], img["height"]) == ("1024", "768")
    assert avif["sizes"] == webp["sizes"] == img["sizes"] == "(min-width: 60rem) 50vw, 100vw"
    assert img["alt"] == "a lake" and img["loading"] == "lazy" and img["decoding"] == "async"


def test_json_form_for_apps():
    """GIVEN sign-url style variants (with url) THEN the JSON lists the same sources and candidates."""
    variants = [v | {"url": f"https://cdn/{v['key']}?Policy=P&Signature=S&Key-Pair-Id=K"} for v in ladder()]
    data = picture(variants).to_json()
    assert [s["type"] for s in data["sources"]] == ["image/avif", "image/webp", "image/jpeg"]
    avif_320 = next(v for v in variants if v["format"] == "avif" and v["width"] == 320)
    assert data["sources"][0]["candidates"][0] == {"url": avif_320["url"], "width": 320, "height": 240}
    assert (data["width"], data["height"], data["sizes"]) == (1024, 768, "100vw")
    assert data["fallback"]["width"] == 1024


def test_signed_urls_are_escaped_and_srcset_safe():
    """GIVEN URLs with & (signed query strings), a comma and a space THEN the HTML escapes & and the
    srcset candidates keep one URL each (comma and space percent-encoded)."""
    variants = [v | {"url": f"https://cdn/{v['key']}?a=1&b=x,y z"} for v in ladder(widths=(320,), formats=("avif", "jpeg"))]
    pic = picture(variants)
    assert pic.sources[0].srcset == "https://cdn/" + variants[0]["key"] + "?a=1&b=x%2Cy%20z 320w"
    html = pic.to_html("x")
    assert "&amp;b=x%2Cy%20z" in html and "&b=" not in html
    assert Elements(html).found[1][1]["srcset"].endswith("?a=1&b=x%2Cy%20z 320w")


def test_on_demand_widths_fill_the_ladder_through_the_transform():
    """GIVEN extra widths THEN only steps narrower than the image and missing from the ladder are
    added, with explicit t/ URLs that the edge normalises, for every format."""
    pic = picture(ladder(), url=lambda v: v["key"], on_demand=on_demand_url("https://cdn/", ASSET),
                  extra_widths=(480, 640, 700, 800, 1280))
    avif = pic.sources[0]
    assert [c.width for c in avif.candidates] == [320, 480, 640, 800, 1024]
    assert avif.candidates[1].url == f"https://cdn/t/{ASSET}/480w.avif"
    assert avif.candidates[1].height == 360
    assert pic.sources[2].candidates[3].url == f"https://cdn/t/{ASSET}/800w.jpg"


def test_fallback_is_the_first_jpeg_at_least_960_wide_and_missing_formats_are_skipped():
    pic = picture(ladder(widths=(320, 960, 1920), formats=("jpeg", "webp")), url=lambda v: v["key"])
    assert [s.format for s in pic.sources] == ["webp", "jpeg"]
    assert pic.fallback.width == 960
    with pytest.raises(ValueError):
        picture([{"key": "k", "width": 1, "height": 1, "format": "gif"}], url=lambda v: v["key"])


def test_png_without_jpeg_is_the_img_fallback():
    """GIVEN AVIF, WebP and PNG variants (a sticker deployment without JPEG) THEN AVIF and WebP are
    sources and the <img> carries the PNG srcset and src: browsers without either get the lossless PNG."""
    pic = picture(ladder(widths=(320, 960), formats=("png", "webp", "avif")), url=lambda v: v["key"])
    tags = Elements(pic.to_html("sticker")).found
    assert [t for t, _ in tags] == ["picture", "source", "source", "img"]
    assert [a["type"] for _, a in tags[1:3]] == ["image/avif", "image/webp"]
    img = tags[3][1]
    assert img["srcset"].count(".png") == 2 and img["src"].endswith("960w.0123456789abcdef.png")
    assert [s["type"] for s in pic.to_json()["sources"]] == ["image/avif", "image/webp", "image/png"]


def test_png_beside_jpeg_is_left_out_and_jpeg_stays_the_fallback():
    """GIVEN every format THEN the picture is the usual AVIF, WebP and JPEG <img>: a PNG <source>
    would win over the JPEG in every browser, so PNG is not offered at all."""
    pic = picture(ladder(formats=("png", "jpeg", "webp", "avif")), url=lambda v: v["key"])
    html = pic.to_html("x")
    assert ".png" not in html and "image/png" not in html
    assert [s.format for s in pic.sources] == ["avif", "webp", "jpeg"]
    assert pic.fallback.url.endswith(".jpg")
