"""The ``local`` image model: a deterministic procedural landscape renderer.

It stands in for a real text-to-image model in local runs and tests. The output is meant
to look like a photograph to an encoder (smooth gradients, soft clouds, textured terrain,
fine grass, grain), so derivative sizes and timings are realistic; it does not try to
depict the prompt, beyond a few keywords steering the scene (``night``, ``sunset``,
``lake``, ``desert``, ``snow``...).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imagepipe.imaging.xmp import png_xmp_pnginfo

MIN_SIDE = 256
MAX_SIDE = 2048

_F32 = np.float32
_Rgb = tuple[float, float, float]


@dataclass(frozen=True)
class _Palette:
    sky_top: _Rgb
    sky_horizon: _Rgb
    sun: _Rgb
    far: _Rgb
    near: _Rgb
    ground: _Rgb
    water: _Rgb
    cloud: _Rgb
    cloud_shadow: _Rgb


_PALETTES: dict[str, _Palette] = {
    "day": _Palette(
        (0.16, 0.38, 0.78), (0.68, 0.80, 0.94), (1.0, 0.97, 0.88), (0.42, 0.52, 0.68),
        (0.15, 0.26, 0.16), (0.30, 0.46, 0.15), (0.10, 0.24, 0.38), (0.98, 0.98, 1.0),
        (0.60, 0.64, 0.72),
    ),
    "sunset": _Palette(
        (0.19, 0.16, 0.40), (0.98, 0.56, 0.26), (1.0, 0.82, 0.48), (0.46, 0.30, 0.42),
        (0.13, 0.08, 0.14), (0.36, 0.22, 0.12), (0.22, 0.13, 0.22), (1.0, 0.64, 0.46),
        (0.40, 0.22, 0.36),
    ),
    "dawn": _Palette(
        (0.33, 0.44, 0.70), (0.98, 0.79, 0.64), (1.0, 0.92, 0.76), (0.55, 0.55, 0.68),
        (0.20, 0.22, 0.28), (0.32, 0.40, 0.22), (0.30, 0.35, 0.50), (1.0, 0.87, 0.82),
        (0.56, 0.50, 0.60),
    ),
    "night": _Palette(
        (0.01, 0.02, 0.07), (0.07, 0.11, 0.22), (0.92, 0.94, 1.0), (0.07, 0.09, 0.16),
        (0.02, 0.03, 0.05), (0.04, 0.06, 0.06), (0.02, 0.04, 0.09), (0.26, 0.29, 0.38),
        (0.05, 0.06, 0.10),
    ),
    "overcast": _Palette(
        (0.52, 0.56, 0.62), (0.80, 0.81, 0.83), (0.96, 0.96, 0.93), (0.55, 0.58, 0.62),
        (0.24, 0.30, 0.27), (0.30, 0.38, 0.24), (0.34, 0.40, 0.45), (0.92, 0.92, 0.94),
        (0.50, 0.52, 0.57),
    ),
}

_TIME_WORDS = {
    "night": ("night", "moon", "star", "midnight", "dark"),
    "sunset": ("sunset", "dusk", "evening", "golden"),
    "dawn": ("dawn", "sunrise", "morning"),
    "overcast": ("fog", "mist", "overcast", "cloudy", "rain", "storm", "grey", "gray"),
    "day": ("noon", "sunny", "bright", "daylight", "summer"),
}
_GROUND_WORDS = {
    "lake": ("lake", "sea", "ocean", "river", "water", "reflection", "coast", "pond", "bay"),
    "meadow": ("field", "meadow", "grass", "farm", "prairie", "garden", "flower", "hill"),
    "dunes": ("desert", "dune", "sand", "canyon", "sahara"),
}
_SNOW_WORDS = ("snow", "winter", "alpine", "glacier", "ice", "frozen")


def render(prompt: str, seed: int, width: int, height: int) -> Image.Image:
    """Render a photo-like landscape for a prompt and a seed.

    The same ``(prompt, seed, width, height)`` always gives the same pixels on a given
    platform: all randomness comes from a NumPy generator seeded with
    ``sha256(seed, prompt)``. The scene (time of day, mountains, lake, meadow or dunes,
    clouds, sun or moon, bokeh) and its palette are drawn from that generator, with a few
    prompt keywords taking precedence.

    Parameters
    ----------
    prompt : str
        Text prompt; hashed, and scanned for scene keywords.
    seed : int
        Seed; any change gives a different image.
    width, height : int
        Output size, each between 256 and 2048.

    Returns
    -------
    PIL.Image.Image
        An ``"RGB"`` image of exactly ``width`` x ``height``.

    Raises
    ------
    ValueError
        If a side is outside 256..2048.
    """
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise ValueError(f"{name} must be between {MIN_SIDE} and {MAX_SIDE}, got {side}")
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    rng = np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))
    scene = _Scene(rng, frozenset(re.findall(r"[a-z]+", prompt.lower())), width, height)
    return Image.fromarray(scene.render())


def render_png(prompt: str, seed: int, width: int, height: int) -> bytes:
    """Render like `render` and encode as PNG carrying the AI-generated XMP (iTXt) chunk.

    Parameters
    ----------
    prompt, seed, width, height
        As for `render`.

    Returns
    -------
    bytes
        A PNG file (zlib level 1: these are intermediate originals, speed matters more).
    """
    out = io.BytesIO()
    render(prompt, seed, width, height).save(
        out, "PNG", pnginfo=png_xmp_pnginfo(), compress_level=1
    )
    return out.getvalue()


# -- noise ---------------------------------------------------------------------------------


def _fbm(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int], octaves: int,
         gain: float = 0.5) -> np.ndarray:
    """Fractal value noise in [0, 1] of shape (h, w).

    Each octave is a random grid upsampled (bicubic, random sub-cell offset) straight to
    the working size; octaves finer than two working pixels are skipped. Large outputs are
    built at half resolution and upscaled once: the detail lost is below the grain.
    """
    scale = 2 if min(h, w) >= 64 else 1
    wh, ww = max(h // scale, 1), max(w // scale, 1)
    acc = np.zeros((wh, ww), dtype=_F32)
    cy, cx = cells
    amp = 1.0
    for k in range(octaves):
        gy, gx = cy << k, cx << k
        if k and (gy > wh / 2 or gx > ww / 2):
            break
        grid = rng.random((gy + 3, gx + 3), dtype=_F32)
        oy, ox = (float(v) for v in rng.random(2))
        acc += amp * _resize(grid, ww, wh, box=(1 + ox, 1 + oy, 1 + ox + gx, 1 + oy + gy))
        amp *= gain
    out = acc if scale == 1 else _resize(acc, w, h)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) * (1.0 / max(hi - lo, 1e-6))


def _fbm1d(rng: np.random.Generator, n: int, cells: int, octaves: int,
           gain: float = 0.5) -> np.ndarray:
    """One-dimensional `_fbm` of length n, for ridge lines."""
    acc = np.zeros(n, dtype=_F32)
    amp = 1.0
    for k in range(octaves):
        g = cells << k
        if k and g > n / 2:
            break
        grid = rng.random((1, g + 3), dtype=_F32)
        ox = float(rng.random())
        acc += amp * _resize(grid, n, 1, box=(1 + ox, 0, 1 + ox + g, 1))[0]
        amp *= gain
    lo, hi = float(acc.min()), float(acc.max())
    return (acc - lo) * (1.0 / max(hi - lo, 1e-6))


def _resize(a: np.ndarray, w: int, h: int,
            box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    im = Image.fromarray(np.ascontiguousarray(a, dtype=_F32))
    return np.asarray(im.resize((w, h), Image.Resampling.BICUBIC, box=box))


def _smooth1d(a: np.ndarray, radius: int) -> np.ndarray:
    kernel = np.full(2 * radius + 1, 1.0 / (2 * radius + 1), dtype=_F32)
    return np.convolve(np.pad(a, radius, mode="edge"), kernel, mode="valid")


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _lerp(a: np.ndarray, b: np.ndarray | _Rgb, t: np.ndarray) -> np.ndarray:
    return a + (np.asarray(b, dtype=_F32) - a) * t


# -- scene ---------------------------------------------------------------------------------


class _Scene:
    """One composition; all choices are drawn from ``rng`` in a fixed order."""

    def __init__(self, rng: np.random.Generator, words: frozenset[str], width: int,
                 height: int) -> None:
        self.rng = rng
        self.w, self.h = width, height
        self.time = _pick(rng, words, _TIME_WORDS, weights=(0.15, 0.25, 0.15, 0.15, 0.30))
        self.ground = _pick(rng, words, _GROUND_WORDS, weights=(0.45, 0.35, 0.20))
        self.snow = _mentions(words, _SNOW_WORDS) or rng.random() < 0.3
        base = _PALETTES[self.time]
        # A per-image colour cast so that two seeds never share a palette exactly.
        cast = 1.0 + rng.normal(0.0, 0.07, 3)
        self.pal = {k: np.clip(np.asarray(v, _F32) * cast, 0, 1).astype(_F32)
                    for k, v in vars(base).items()}
        if self.ground == "dunes":
            self.pal["ground"] = np.clip(np.array([0.78, 0.58, 0.34], _F32) * cast, 0, 1)
            self.pal["near"] = np.clip(np.array([0.55, 0.36, 0.22], _F32) * cast, 0, 1)
        self.horizon = float(rng.uniform(0.50, 0.64))
        self.sun = (float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.10, self.horizon - 0.12)))
        self.y = np.linspace(0.0, 1.0, height, dtype=_F32)[:, None]
        # Sky and mountains are only drawn down to here: every foreground covers the rest.
        self.backdrop = min(height, int((self.horizon + 0.08) * height))
        self.x = np.linspace(0.0, 1.0, width, dtype=_F32)[None, :]

    def render(self) -> np.ndarray:
        img = self._sky()
        img = self._mountains(img)
        if self.ground == "lake":
            img = self._lake(img)
        elif self.ground == "meadow":
            img = self._meadow(img)
        else:
            img = self._dunes(img)
        if self.rng.random() < 0.3:
            img = self._bokeh(img)
        return self._finish(img)

    # sky, sun and clouds
    def _sky(self) -> np.ndarray:
        rng, pal, h, w, e = self.rng, self.pal, self.h, self.w, self.backdrop
        y = self.y[:e]
        t = np.clip(y / self.horizon, 0.0, 1.0) ** 0.8
        img = np.zeros((h, w, 3), dtype=_F32)
        sky = img[:e]
        sky[:] = _lerp(pal["sky_top"], pal["sky_horizon"], t[..., None])
        sx, sy = self.sun
        d = np.sqrt(((self.x - sx) * (w / h)) ** 2 + (y - sy) ** 2)
        radius = float(rng.uniform(0.025, 0.045))
        glow = 0.45 * np.exp(-d / 0.22) + 0.35 * np.exp(-((d / (radius * 2.5)) ** 2))
        if self.time == "overcast":
            glow *= 0.35
        sky += glow[..., None] * pal["sun"]
        disc = _smoothstep(radius * 1.08, radius, d)
        sky[:] = _lerp(sky, pal["sun"], disc[..., None])

        if self.time == "night":
            stars = rng.random((e, w), dtype=_F32)
            sparkle = np.where(stars > 0.9985, (stars - 0.9985) * 500.0, 0.0).astype(_F32)
            sky += (sparkle * (1.0 - t))[..., None]

        n = _fbm(rng, e, w, (3, 5), octaves=7, gain=0.5)
        cover = float(rng.uniform(0.35, 0.70)) if self.time != "overcast" else 0.25
        fade = np.clip((self.horizon - y) / self.horizon * 2.5, 0.0, 1.0)
        density = _smoothstep(cover, cover + 0.25, n) * fade
        shift = max(2, h // 90)
        above = np.concatenate([np.repeat(n[:1], shift, axis=0), n[:-shift]], axis=0)
        lit = np.clip((n - above) * 5.0 + 0.55, 0.0, 1.0)
        cloud = _lerp(pal["cloud_shadow"], pal["cloud"], lit[..., None])
        cloud += (0.5 * glow)[..., None] * pal["sun"]
        sky[:] = _lerp(sky, cloud, (density * 0.92)[..., None])
        return img

    # layered ridges with haze
    def _mountains(self, img: np.ndarray) -> np.ndarray:
        rng, pal, h, w, e = self.rng, self.pal, self.h, self.w, self.backdrop
        layers = int(rng.integers(2, 5))
        texture = _fbm(rng, e, w, (6, 6), octaves=8, gain=0.6)
        grad_y, grad_x = np.gradient(texture)
        side = 1.0 if self.sun[0] > 0.5 else -1.0
        # Hill-shading of the texture as if it were a height field lit from the sun's side.
        relief = np.clip(0.5 + (grad_x * side - grad_y * 0.5) * (h * 0.03), 0.0, 1.0)
        haze_col = pal["sky_horizon"]
        snow_col = np.array([0.93, 0.95, 1.0], _F32) * min(1.0, float(haze_col.max()) * 1.15)
        for i in range(layers):
            depth = i / max(layers - 1, 1)  # 0 = farthest
            base = (self.horizon + 0.015 * depth) * h
            amp = h * float(rng.uniform(0.08, 0.26)) * (1.0 - 0.45 * depth)
            profile = _fbm1d(rng, w, int(rng.integers(2, 6)), octaves=9, gain=0.55)
            sharp = np.clip(1.0 - np.abs(2.0 * profile - 1.0), 0.0, 1.0)
            mix = float(rng.uniform(0.0, 1.0))
            shape = mix * sharp**1.5 + (1.0 - mix) * profile
            if depth == 1.0:  # a tree line on the nearest ridge
                shape = shape + 0.04 * _fbm1d(rng, w, max(w // 8, 8), octaves=2)
            ridge = base - amp * shape
            slope = np.gradient(_smooth1d(ridge, max(w // 128, 1))) * side
            shift = int(rng.integers(0, w))
            r0 = min(max(int(ridge.min()) - 1, 0), e)
            rows = np.arange(r0, e, dtype=_F32)[:, None]
            alpha = np.clip(rows - ridge[None, :] + 0.5, 0.0, 1.0)
            below = np.clip((rows - ridge[None, :]) / max(amp, 1.0), 0.0, 1.5)
            face = np.tanh(slope * 0.3)[None, :] * np.exp(-below * 4.0)
            tex = np.roll(texture[r0:], shift, axis=1)
            lit = np.roll(relief[r0:], shift, axis=1)
            shade = (0.6 + 0.6 * tex) * (0.55 + 0.9 * lit) * (1.0 + 0.3 * face)
            col = _lerp(pal["far"], pal["near"], np.float32(depth))
            layer = col * shade[..., None]
            if self.snow and depth < 1.0:
                snow_line = _smoothstep(0.5, 0.28, below + 0.35 * (tex - 0.5))
                snow = snow_col * (0.65 + 0.45 * lit)[..., None]
                layer = _lerp(layer, snow, snow_line[..., None] * 0.9)
            haze = (1.0 - depth) * 0.55 + 0.25 * _smoothstep(0.2, 1.2, below)
            if self.time == "overcast":
                haze = np.minimum(haze + 0.25, 0.95)
            layer = _lerp(layer, haze_col, np.asarray(haze, _F32)[..., None])
            img[r0:e] = _lerp(img[r0:e], layer, alpha[..., None])
        return img

    # foregrounds
    def _lake(self, img: np.ndarray) -> np.ndarray:
        rng, pal, h, w = self.rng, self.pal, self.h, self.w
        top = int((self.horizon + 0.03) * h)
        rows = np.arange(top, h)
        rel = ((rows - top) / max(h - top, 1)).astype(_F32)[:, None]
        waves = _fbm(rng, h - top, w, (24, 3), octaves=5)
        dx = (np.sin(rows[:, None] * 0.45 + waves * 9.0) * (2.0 + 14.0 * rel)).astype(np.int64)
        src_y = np.clip(2 * top - rows, 0, top - 1)[:, None]
        src_x = np.clip(np.arange(w)[None, :] + dx, 0, w - 1)
        reflected = img[src_y, src_x]
        water = _lerp(reflected * 0.78, pal["water"], (0.2 + 0.45 * rel)[..., None])
        water *= (0.88 + 0.24 * waves)[..., None]
        sx = self.sun[0]
        column = np.exp(-(((self.x - sx) * (w / h)) / (0.03 + 0.12 * rel)) ** 2)
        glitter = column * _smoothstep(0.6, 0.85, waves) * (0.3 if self.time == "overcast" else 0.9)
        water += glitter[..., None] * pal["sun"]
        out = img.copy()
        out[top:] = water
        shore = slice(max(top - 2, 0), min(top + 2, h))
        out[shore] *= 0.7
        return out

    def _meadow(self, img: np.ndarray) -> np.ndarray:
        rng, pal, h, w = self.rng, self.pal, self.h, self.w
        edge = (self.horizon + 0.06) * h - 0.05 * h * _fbm1d(rng, w, 3, octaves=5)
        rows = np.arange(h, dtype=_F32)[:, None]
        alpha = np.clip(rows - edge[None, :] + 0.5, 0.0, 1.0)
        rel = np.clip((rows - edge.min()) / max(h - float(edge.min()), 1.0), 0.0, 1.0)
        blades_far = _resize(rng.random((max(h // 12, 8), max(w // 2, 8)), dtype=_F32), w, h)
        blades_near = _resize(rng.random((max(h // 40, 6), max(w // 6, 8)), dtype=_F32), w, h)
        blades = _lerp(blades_far, blades_near, rel)
        patches = _fbm(rng, h, w, (4, 7), octaves=6)
        col = _lerp(pal["ground"] * 1.15, pal["ground"] * 0.55, rel[..., None])
        col = _lerp(col, pal["ground"] * np.array([1.35, 1.15, 0.6], _F32),
                    _smoothstep(0.55, 0.9, patches)[..., None] * 0.6)
        field = col * (0.55 + 0.9 * blades)[..., None]
        if rng.random() < 0.6:
            bloom = rng.random((h, w), dtype=_F32) > 0.9975 - 0.002 * rel
            tint = np.clip(rng.uniform(0.5, 1.0, 3), 0, 1).astype(_F32)
            field = np.where(bloom[..., None], tint, field)
        haze = (1.0 - rel) * 0.3
        field = _lerp(field, pal["sky_horizon"], haze[..., None])
        return _lerp(img, field, alpha[..., None])

    def _dunes(self, img: np.ndarray) -> np.ndarray:
        rng, pal, h, w = self.rng, self.pal, self.h, self.w
        rows = np.arange(h, dtype=_F32)[:, None]
        out = img
        ripples = _fbm(rng, h, w, (10, 3), octaves=5)
        for i in range(3):
            base = (self.horizon + 0.05 + 0.14 * i) * h
            crest = base - h * 0.06 * _fbm1d(rng, w, int(rng.integers(2, 5)), octaves=6)
            alpha = np.clip(rows - crest[None, :] + 0.5, 0.0, 1.0)
            slope = np.gradient(_smooth1d(crest, max(w // 128, 1)))
            below = np.clip((rows - crest[None, :]) / (0.1 * h), 0.0, 2.0)
            light = 1.0 + np.tanh(slope * 0.5)[None, :] * 0.35 * np.exp(-below * 2.0)
            depth = (i + 1) / 3
            stripes = 0.9 + 0.1 * np.sin(rows * (0.25 + 0.2 * depth) + ripples * 25.0)
            col = _lerp(pal["ground"], pal["near"], np.float32(depth * 0.4))
            layer = col * (light * stripes)[..., None]
            layer = _lerp(layer, pal["sky_horizon"], np.float32((1.0 - depth) * 0.35))
            out = _lerp(out, layer, alpha[..., None])
        return out

    def _bokeh(self, img: np.ndarray) -> np.ndarray:
        rng, h, w = self.rng, self.h, self.w
        sw, sh = max(w // 4, 1), max(h // 4, 1)
        layer = Image.new("RGB", (sw, sh))
        draw = ImageDraw.Draw(layer)
        for _ in range(int(rng.integers(6, 16))):
            r = float(rng.uniform(0.02, 0.07)) * sw
            cx = float(rng.uniform(0, sw))
            cy = float(rng.uniform(0.55, 1.05)) * sh
            warm = rng.uniform([0.6, 0.35, 0.1], [1.0, 0.9, 0.6])
            colour = tuple(int(c * rng.uniform(120, 220)) for c in warm)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        layer = layer.filter(ImageFilter.GaussianBlur(radius=max(sw / 300, 1.0)))
        glow = np.asarray(layer.resize((w, h), Image.Resampling.BILINEAR), dtype=_F32) / 255.0
        return 1.0 - (1.0 - img) * (1.0 - glow * 0.6)

    def _finish(self, img: np.ndarray) -> np.ndarray:
        rng, h, w = self.rng, self.h, self.w
        r2 = ((self.x - 0.5) ** 2) + ((self.y - 0.5) ** 2)
        img *= (1.0 - float(rng.uniform(0.15, 0.45)) * r2)[..., None]
        grain = rng.standard_normal((h, w), dtype=_F32) * float(rng.uniform(0.008, 0.02))
        img += grain[..., None]
        np.clip(img, 0.0, 1.0, out=img)
        return (img * 255.0 + 0.5).astype(np.uint8)


def _mentions(words: frozenset[str], keys: tuple[str, ...]) -> bool:
    """Whether a prompt word starts with a key ("sunsets" mentions "sunset")."""
    return any(word.startswith(key) for word in words for key in keys)


def _pick(rng: np.random.Generator, words: frozenset[str],
          choices: dict[str, tuple[str, ...]], weights: tuple[float, ...]) -> str:
    """A keyword of the prompt wins; otherwise draw (always draw, to keep the rng order)."""
    names = list(choices)
    drawn = names[int(rng.choice(len(names), p=np.asarray(weights) / sum(weights)))]
    for name, keys in choices.items():
        if _mentions(words, keys):
            return name
    return drawn
