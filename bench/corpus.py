"""The benchmark corpus: real photographs from scikit-image and images from the local generator.

Photographs (scikit-image ships them in its wheel) are upscaled with Lanczos to what a
modern camera or generator hands the pipeline (1024 x 1024, 1536 x 1024 or 1024 x 1536)
and stored as JPEG q92, as cameras do; a 2048 x 2048 mosaic of four of them is the large
case. AI-like images come from `imagepipe.imaging.render_png` (the local model), as PNG,
as the generate stage stores them. Everything is deterministic and cached in
``out/bench/corpus/``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from imagepipe_tools.procedural import render_png

PHOTOS: dict[str, tuple[str, tuple[int, int]]] = {
    # name: (scikit-image loader, size as stored)
    "astronaut": ("astronaut", (1024, 1024)),
    "chelsea": ("chelsea", (1536, 1024)),
    "coffee": ("coffee", (1536, 1024)),
    "motorcycle": ("stereo_motorcycle", (1536, 1024)),
    "rocket": ("rocket", (1024, 1536)),
    "retina": ("retina", (1024, 1024)),
    "hubble": ("hubble_deep_field", (1024, 1024)),
    "ihc": ("immunohistochemistry", (1024, 1024)),
    "camera": ("camera", (1024, 1024)),  # grayscale
}
MOSAIC = ("astronaut", "coffee", "chelsea", "motorcycle")
GENERATED: dict[str, tuple[str, int, tuple[int, int]]] = {
    "gen-lake": ("a quiet lake at sunset, reflections", 3, (1024, 1024)),
    "gen-snow": ("snowy mountains under a bright noon sky", 5, (1024, 1024)),
    "gen-dunes": ("desert dunes at dawn", 11, (1024, 1024)),
    "gen-night": ("a meadow at night under the moon", 7, (1024, 1024)),
    "gen-fog": ("foggy hills, overcast morning", 2, (1536, 1024)),
    "gen-field": ("a summer field of flowers", 13, (1536, 1024)),
    "gen-coast": ("a rocky coast in golden evening light", 17, (1024, 1024)),
    "gen-storm": ("a storm over the prairie", 19, (1536, 1024)),
}
QUICK = ("astronaut", "coffee", "gen-lake")


def _photo(loader: str) -> Image.Image:
    from skimage import data

    pixels = getattr(data, loader)()
    if isinstance(pixels, tuple):
        pixels = pixels[0]
    image = Image.fromarray(np.asarray(pixels))
    return image.convert("L" if image.mode in ("L", "I;16", "I") else "RGB")


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Cover ``size`` (centre crop to its aspect ratio, then Lanczos)."""
    w, h = image.size
    target = size[0] / size[1]
    if w / h > target:
        crop = round(h * target)
        image = image.crop(((w - crop) // 2, 0, (w - crop) // 2 + crop, h))
    else:
        crop = round(w / target)
        image = image.crop((0, (h - crop) // 2, w, (h - crop) // 2 + crop))
    return image.resize(size, Image.Resampling.LANCZOS)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, subsampling=2)
    return out.getvalue()


def build(folder: Path, quick: bool = False) -> list[Path]:
    """Write the corpus (if missing) and return its files, in a fixed order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, (loader, size) in PHOTOS.items():
        path = folder / f"{name}.jpg"
        if not path.exists():
            path.write_bytes(_jpeg(_fit(_photo(loader), size)))
        paths.append(path)
    mosaic = folder / "mosaic-2048.jpg"
    if not mosaic.exists():
        canvas = Image.new("RGB", (2048, 2048))
        for i, name in enumerate(MOSAIC):
            canvas.paste(_fit(_photo(PHOTOS[name][0]).convert("RGB"), (1024, 1024)),
                         ((i % 2) * 1024, (i // 2) * 1024))
        mosaic.write_bytes(_jpeg(canvas))
    paths.append(mosaic)
    for name, (prompt, seed, (w, h)) in GENERATED.items():
        path = folder / f"{name}.png"
        if not path.exists():
            path.write_bytes(render_png(prompt, seed, w, h))
        paths.append(path)
    if quick:
        paths = [p for p in paths if p.stem in QUICK]
    return paths
