"""The DCT perceptual hash and the blocklist built on it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from imagepipe.errors import ConfigurationError, ModerationError
from imagepipe_tools.procedural import render
from imagepipe.moderation.policy import DEFAULT_POLICY
from imagepipe.moderation.phash import Blocklist, PhashBlocklistModeration, distance, from_hex, phash, to_hex


def reencoded(image: Image.Image, fmt: str, size: tuple[int, int], **options) -> Image.Image:
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(buffer, fmt, **options)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def known_bad() -> Image.Image:
    return render("a lighthouse on a cliff at night", 42, 768, 512)


def test_resized_and_reencoded_copies_stay_within_a_few_bits(known_bad):
    """GIVEN a picture WHEN it is downscaled, upscaled, JPEG-compressed hard or turned into WebP
    THEN its pHash moves by at most 6 of 64 bits, while other pictures are 20+ bits away."""
    original = phash(known_bad)
    copies = [
        reencoded(known_bad, "JPEG", (384, 256), quality=40),
        reencoded(known_bad, "JPEG", (1536, 1024), quality=70),
        reencoded(known_bad, "WEBP", (640, 427), quality=50),
        reencoded(known_bad, "PNG", (200, 133)),
    ]
    assert max(distance(original, phash(c)) for c in copies) <= 6
    others = [render(p, s, 768, 512) for p, s in [("rolling hills", 3), ("a calm lake", 7), ("a lighthouse", 43)]]
    assert min(distance(original, phash(o)) for o in others) >= 20


def test_hash_is_the_classic_dct_phash():
    """GIVEN a fixed image THEN the hash equals a from-scratch DCT-II pHash over the 32x32 grey
    thumbnail (scipy.fftpack's unnormalised transform), so lists made with imagehash match."""
    image = render("test pattern", 1, 320, 256)
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    n = np.arange(32)
    basis = np.array([[2 * np.cos(np.pi * k * (2 * i + 1) / 64) for i in n] for k in n])
    low = (basis @ grey @ basis.T)[:8, :8]
    expected = int("".join("1" if b else "0" for b in (low > np.median(low)).ravel()), 2)
    assert phash(image) == expected
    assert from_hex(to_hex(expected)) == expected and len(to_hex(expected)) == 16


def test_blocklist_match_rejects_with_its_label_and_version(known_bad):
    """GIVEN a blocklist holding a known-bad picture WHEN a re-encoded, mirrored copy is moderated
    THEN the backend reports the entry with confidence 1 - bits/64 and the default policy rejects,
    naming the entry; the list version is the backend's model version; an unrelated image passes."""
    blocklist = Blocklist.from_document({"version": "2026-11-01", "hashes": {to_hex(phash(known_bad)): "case-1234"}})
    backend = PhashBlocklistModeration(lambda: blocklist)
    copy = ImageOps.mirror(reencoded(known_bad, "JPEG", (512, 341), quality=60))
    labels = backend.classify(copy)
    assert [(lbl.name, lbl.category) for lbl in labels] == [("blocklist:case-1234", "Known-bad image")]
    assert labels[0].confidence >= 0.9
    decision = DEFAULT_POLICY.decide(labels, backend=backend.name, model_version=backend.model_version)
    assert decision.verdict == "reject" and decision.reasons[0].startswith("blocklist:case-1234>=0.87")
    assert decision.to_record()["model_version"] == "phash-dct64/blocklist-2026-11-01"
    assert backend.classify(render("meadow with flowers", 8, 608, 400)) == []


def test_unreadable_blocklist_fails_closed():
    """GIVEN a blocklist that cannot be loaded THEN classification raises ModerationError."""
    def broken() -> Blocklist:
        raise OSError("ssm unreachable")

    with pytest.raises(ModerationError, match="blocklist could not be loaded"):
        PhashBlocklistModeration(broken).classify(render("x", 1, 256, 256))


@pytest.mark.parametrize("document", [[], {"hashes": {}}, {"version": "v", "hashes": {"xyz": "a"}},
                                      {"version": "v", "hashes": {"0123456789abcdef": ""}},
                                      {"version": "v", "extra": 1}])
def test_malformed_blocklists_are_refused(document):
    """GIVEN a malformed blocklist document THEN it is refused with a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Blocklist.from_document(document)
