"""Overlay families albumentations lacks: caption (meme-style text),
watermark (semi-transparent logo and text in a corner) and sticker (a drawn
smiley-face shape standing in for an emoji; no emoji font is needed).

Text uses DejaVu Sans Bold, the font matplotlib (a dependency) ships, so it
renders identically offline on every machine with the same wheels; if it is
missing, Pillow's built-in default font is used and the `font` entry of the
applied params says so. Shapes are drawn at 4x and downsampled (Lanczos)
for smooth edges; blending is done in numpy with explicit rounding.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import TransformError
from .base import Family, num_range, register_family

CAPTION_TOP = "WHEN THE PHOTO"
CAPTION_BOTTOM = "GETS SHARED AGAIN"
WATERMARK_TEXT = "\u00a9 SAMPLE"
MIN_FONT_PX = 4
SUPERSAMPLE = 4


@functools.lru_cache(maxsize=1)
def font_path() -> str | None:
    """Path of matplotlib's bundled DejaVuSans-Bold.ttf, or None."""
    try:
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans-Bold.ttf")
        return path if os.path.isfile(path) else None
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None


@functools.lru_cache(maxsize=64)
def get_font(px: int):
    path = font_path()
    if path:
        return ImageFont.truetype(path, size=int(px))
    return ImageFont.load_default(size=int(px))


def font_name() -> str:
    """The font used, with the Pillow version (text rendering depends on the
    FreeType build bundled with Pillow)."""
    import PIL

    return f"{'DejaVuSans-Bold (matplotlib)' if font_path() else 'Pillow default font'}, Pillow {PIL.__version__}"


def _text_width(draw, text, font, stroke) -> int:
    x0, _, x1, _ = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    return x1 - x0


def _wrap(draw, text, font, stroke, max_width) -> list[str]:
    """Greedy word wrap to `max_width` pixels (a word longer than the width
    stays on its own line and is clipped by the image edge)."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and _text_width(draw, trial, font, stroke) > max_width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def _caption(f, params, rgb, seed):
    """White bold capitals with a black outline, centred, at the top and/or
    bottom edge; font size round(f*h) px; wrapped to 96% of the width."""
    h, w = rgb.shape[:2]
    px = round(f * h)
    if px < MIN_FONT_PX:
        raise TransformError(f"image {w}x{h} too small for caption({f}): font would be {px} px (needs {MIN_FONT_PX})")
    position = params.get("position", "top-bottom")
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    font = get_font(px)
    stroke = max(1, round(px / 12))
    margin = max(1, round(0.02 * h))
    line_h = round(px * 1.15)
    boxes = []

    def block(text, top: bool):
        lines = _wrap(draw, text, font, stroke, 0.96 * w)
        y = margin if top else h - margin - line_h * len(lines)
        for line in lines:
            tw = _text_width(draw, line, font, stroke)
            x = (w - tw) // 2
            draw.text((x, y), line, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0))
            boxes.append([int(v) for v in draw.textbbox((x, y), line, font=font, stroke_width=stroke)])
            y += line_h
        return lines

    applied = {"font": font_name(), "font_px": px, "stroke_px": stroke, "position": position}
    if position in ("top-bottom", "top"):
        applied["top"] = block(CAPTION_TOP, True)
    if position in ("top-bottom", "bottom"):
        applied["bottom"] = block(CAPTION_BOTTOM, False)
    applied["boxes"] = boxes
    return np.asarray(img, dtype=np.uint8), applied


def _blend(rgb: np.ndarray, layer: Image.Image, x: int, y: int, opacity: float = 1.0) -> np.ndarray:
    """Alpha-blend an RGBA layer onto a copy of rgb at (x, y):
    out = round(rgb*(1-a) + layer*a), a = layer alpha/255 * opacity."""
    out = rgb.copy()
    arr = np.asarray(layer, dtype=np.float64)
    lh, lw = arr.shape[:2]
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + lw), min(h, y + lh)
    if x1 <= x0 or y1 <= y0:
        return out
    part = arr[y0 - y : y1 - y, x0 - x : x1 - x]
    a = part[..., 3:4] / 255.0 * opacity
    base = out[y0:y1, x0:x1].astype(np.float64)
    out[y0:y1, x0:x1] = np.clip(np.rint(base * (1 - a) + part[..., :3] * a), 0, 255).astype(np.uint8)
    return out


def _watermark_layer(width: int) -> Image.Image:
    """A logo (ring with a dot) and the text WATERMARK_TEXT, white with a
    dark outline, `width` px wide, drawn at 4x and downsampled."""
    s = SUPERSAMPLE
    height = max(2, round(width * 0.28))
    big = Image.new("RGBA", (width * s, height * s), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)
    side = height * s
    ring = max(1, side // 10)
    d.ellipse([ring, ring, side - ring, side - ring], outline=(255, 255, 255, 255), width=ring * 2)
    d.ellipse([side * 0.35, side * 0.35, side * 0.65, side * 0.65], fill=(255, 255, 255, 255))
    text_w = width * s - side * 1.15
    px = max(1, int(side * 0.6))
    font = get_font(px)
    while px > 1 and _text_width(d, WATERMARK_TEXT, font, max(1, px // 10)) > text_w:
        px = max(1, int(px * 0.9))
        font = get_font(px)
    stroke = max(1, px // 10)
    top = (side - px) // 2
    d.text(
        (side * 1.15, top),
        WATERMARK_TEXT,
        font=font,
        fill=(255, 255, 255, 255),
        stroke_width=stroke,
        stroke_fill=(40, 40, 40, 255),
    )
    return big.resize((width, height), Image.LANCZOS)


WATERMARK_OPACITY = 0.5


def _watermark(f, params, rgb, seed):
    """Semi-transparent (opacity 0.5) logo and text, round(f*w) px wide, in
    a corner with a margin of 3% of the short side."""
    h, w = rgb.shape[:2]
    width = round(f * w)
    height = round(width * 0.28)
    if width < 16 or height < MIN_FONT_PX or height > h:
        raise TransformError(f"image {w}x{h} too small for watermark({f}): mark would be {width}x{height} px")
    corner = params.get("corner", "bottom-right")
    m = round(0.03 * min(h, w))
    x = m if corner.endswith("left") else w - m - width
    y = m if corner.startswith("top") else h - m - height
    layer = _watermark_layer(width)
    out = _blend(rgb, layer, x, y, WATERMARK_OPACITY)
    return out, {
        "font": font_name(),
        "corner": corner,
        "box": [x, y, x + width, y + height],
        "opacity": WATERMARK_OPACITY,
        "text": WATERMARK_TEXT,
    }


def _sticker_layer(d: int) -> Image.Image:
    """A yellow smiley face of diameter d px (black outline, eyes, smile)."""
    s = SUPERSAMPLE
    n = d * s
    big = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    dr = ImageDraw.Draw(big)
    line = max(1, n // 24)
    dr.ellipse([0, 0, n - 1, n - 1], fill=(255, 204, 0, 255), outline=(0, 0, 0, 255), width=line)
    for cx in (0.35, 0.65):
        dr.ellipse([n * (cx - 0.06), n * 0.28, n * (cx + 0.06), n * 0.45], fill=(0, 0, 0, 255))
    dr.arc([n * 0.25, n * 0.3, n * 0.75, n * 0.78], start=20, end=160, fill=(0, 0, 0, 255), width=line * 2)
    return big.resize((d, d), Image.LANCZOS)


def _sticker(f, params, rgb, seed):
    """An opaque smiley sticker of diameter round(f * short side) px at a
    position drawn uniformly from the variant seed (fully inside)."""
    h, w = rgb.shape[:2]
    d = round(f * min(h, w))
    if d < MIN_FONT_PX:
        raise TransformError(f"image {w}x{h} too small for sticker({f}): sticker would be {d} px")
    rng = np.random.default_rng(seed)
    x = int(rng.integers(0, w - d + 1))
    y = int(rng.integers(0, h - d + 1))
    out = _blend(rgb, _sticker_layer(d), x, y)
    return out, {"shape": "smiley", "box": [x, y, x + d, y + d], "renderer": f"Pillow {Image.__version__}"}


for _family in (
    Family(
        "caption",
        "meme caption font size as a fraction of the height (top and bottom)",
        (0.05, 0.08, 0.12),
        num_range(0, 0.5, what="a fraction"),
        apply=_caption,
        params_allowed={"position": ("top-bottom", "top", "bottom")},
        group="overlay",
    ),
    Family(
        "watermark",
        "semi-transparent corner watermark width as a fraction of the width",
        (0.15, 0.25, 0.4),
        num_range(0, 1, what="a fraction"),
        apply=_watermark,
        params_allowed={"corner": ("bottom-right", "bottom-left", "top-right", "top-left")},
        group="overlay",
    ),
    Family(
        "sticker",
        "smiley sticker diameter as a fraction of the short side, random position",
        (0.1, 0.2, 0.35),
        num_range(0, 1, what="a fraction"),
        apply=_sticker,
        group="overlay",
    ),
):
    register_family(_family)
