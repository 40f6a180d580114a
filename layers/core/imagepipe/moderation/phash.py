"""Perceptual-hash blocklist: known-bad images are refused however they were resized or re-encoded.

The hash is the classic 64-bit DCT pHash, bit-for-bit the one ``imagehash.phash`` computes
(grey, 32x32 Lanczos, 2-D DCT-II, the 8x8 lowest frequencies against their median), so
lists exchanged with other tools in that format match here. It is computed with numpy
alone: no SciPy in the Lambda layer. Opaque images only: transparency is flattened onto
white first (``imagehash`` drops the alpha channel instead).

A resize or JPEG re-encode moves a pHash by a few bits; unrelated pictures sit about 32
bits apart. Each image is also compared mirrored, the cheapest evasion there is. The
backend reports the closest entry as a ``Known-bad image`` label whose confidence is
``1 - distance / 64``; the moderation policy's thresholds for that category decide
(by default 8 bits or fewer: reject; 9-12: review).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from imagepipe.errors import ConfigurationError, ModerationError
from imagepipe.moderation.policy import Label, flatten_to_rgb

BLOCKLIST_CATEGORY = "Known-bad image"
HASH_BITS = 64
REPORT_DISTANCE = 16  # closer matches than this are reported; the policy decides what they mean
_SIZE = 32
_LOW = 8
# DCT-II basis (unnormalised, as scipy.fftpack.dct): C[k, n] = 2 cos(pi k (2n + 1) / 2N).
_DCT = 2.0 * np.cos(np.pi * np.outer(np.arange(_SIZE), 2 * np.arange(_SIZE) + 1) / (2 * _SIZE))


def phash(image: Image.Image) -> int:
    """Return the 64-bit DCT perceptual hash of ``image`` as an int.

    Parameters
    ----------
    image : PIL.Image.Image
        Any mode; transparency is composited onto white.
    """
    grey = flatten_to_rgb(image).convert("L").resize((_SIZE, _SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    low = (_DCT @ pixels @ _DCT.T)[:_LOW, :_LOW]
    bits = (low > np.median(low)).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def to_hex(value: int) -> str:
    """The 16-hex-digit form ``str(imagehash.phash(...))`` prints."""
    return f"{value:016x}"


def from_hex(text: str) -> int:
    """Parse a 16-hex-digit pHash.

    Raises
    ------
    ValueError
        Unless ``text`` is exactly 16 hex digits.
    """
    if not isinstance(text, str) or len(text) != 16:
        raise ValueError(f"a pHash is 16 hex digits, got {text!r}")
    return int(text, 16)


def distance(a: int, b: int) -> int:
    """Hamming distance between two hashes."""
    return (a ^ b).bit_count()


@dataclass(frozen=True)
class Blocklist:
    """Known-bad pHashes, each with a label saying where it came from (a case id, a list name).

    The configuration document (an SSM parameter, see ``moderation.config``) reads::

        {"version": "2025-06-01", "hashes": {"c3d4e5f6a7b8c9d0": "case-1234", ...}}

    ``version`` is recorded with every decision, so an audit shows which list applied.
    """

    version: str
    hashes: tuple[int, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.hashes) != len(self.labels):
            raise ValueError("one label per hash")

    @classmethod
    def empty(cls) -> Blocklist:
        return cls(version="empty", hashes=(), labels=())

    @classmethod
    def from_document(cls, data: Any) -> Blocklist:
        """Build a blocklist from its JSON document.

        Raises
        ------
        ConfigurationError
            On unknown keys, a missing version, or a hash that is not 16 hex digits.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"the pHash blocklist must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"version", "hashes"}
        if unknown:
            raise ConfigurationError(f"unknown pHash blocklist keys: {sorted(unknown)}")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise ConfigurationError("the pHash blocklist needs a non-empty 'version'")
        raw = data.get("hashes", {})
        if not isinstance(raw, Mapping):
            raise ConfigurationError("'hashes' must map 16-hex-digit pHashes to labels")
        hashes, labels = [], []
        for text, label in raw.items():
            try:
                hashes.append(from_hex(text))
            except ValueError as exc:
                raise ConfigurationError(f"invalid pHash in the blocklist: {exc}") from exc
            if not isinstance(label, str) or not label:
                raise ConfigurationError(f"the blocklist entry {text} needs a non-empty label")
            labels.append(label)
        return cls(version=version, hashes=tuple(hashes), labels=tuple(labels))

    def extended(self, entries: Mapping[str, str]) -> Blocklist:
        """This list plus ``entries`` (16-hex-digit pHash -> label); the version names both."""
        if not entries:
            return self
        added = [(from_hex(text), label) for text, label in sorted(entries.items())]
        return Blocklist(
            version=f"{self.version}+takedowns-{len(added)}",
            hashes=self.hashes + tuple(h for h, _ in added),
            labels=self.labels + tuple(label for _, label in added),
        )

    def to_document(self) -> dict[str, Any]:
        return {"version": self.version, "hashes": {to_hex(h): lbl for h, lbl in zip(self.hashes, self.labels)}}

    def closest(self, *candidates: int) -> tuple[int, str] | None:
        """The smallest distance from any candidate hash to any entry, with that entry's label."""
        if not self.hashes:
            return None
        entries = np.array(self.hashes, dtype=np.uint64)
        best: tuple[int, str] | None = None
        for candidate in candidates:
            distances = np.bitwise_count(entries ^ np.uint64(candidate))
            index = int(np.argmin(distances))
            if best is None or int(distances[index]) < best[0]:
                best = (int(distances[index]), self.labels[index])
        return best


class PhashBlocklistModeration:
    """Moderation backend that matches images against a pHash blocklist.

    Parameters
    ----------
    load : callable
        Returns the current ``Blocklist``; called on every image, so it should cache
        (``moderation.config`` reads it through Powertools' SSM provider, cached for five
        minutes). Any failure to load fails the image closed (``ModerationError``).
    """

    name = "phash"

    def __init__(self, load: Callable[[], Blocklist]) -> None:
        self._load = load
        self.model_version = "phash-dct64"

    def classify(self, image: Image.Image) -> list[Label]:
        try:
            blocklist = self._load()
        except Exception as exc:  # a blocklist we cannot read must never approve
            raise ModerationError(f"the pHash blocklist could not be loaded: {exc}") from exc
        self.model_version = f"phash-dct64/blocklist-{blocklist.version}"
        try:
            hashes = (phash(image), phash(ImageOps.mirror(image)))
        except Exception as exc:
            raise ModerationError(f"could not hash the image: {exc}") from exc
        match = blocklist.closest(*hashes)
        if match is None or match[0] > REPORT_DISTANCE:
            return []
        bits, label = match
        return [
            Label(
                name=f"blocklist:{label}",
                category=BLOCKLIST_CATEGORY,
                confidence=round(1.0 - bits / HASH_BITS, 6),
            )
        ]

