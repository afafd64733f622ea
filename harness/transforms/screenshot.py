"""Screenshot family (albumentations lacks it): the photo shown inside a
phone-app-like frame, as when someone screenshots a post and shares it.

Layout, top to bottom, in units u = canvas width / 100 (canvas width = the
photo's original width, white background): status bar (7u, dark, clock text
and battery), app bar (12u, avatar circle and account name), the photo
resized by `scale` (INTER_AREA via albumentations Resize) and centred,
an action row (10u: heart, comment and share shapes), two grey caption
lines (3u each) and a navigation bar (10u). Nothing is random.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
from PIL import Image, ImageDraw

from ..errors import TransformError
from .base import Family, alb, num_range, register_family
from .overlay import font_name, get_font

MIN_WIDTH = 32


def _screenshot(scale, params, rgb, seed):
    h, w = rgb.shape[:2]
    if w < MIN_WIDTH:
        raise TransformError(f"image {w}x{h} too small for a screenshot frame (needs width >= {MIN_WIDTH})")
    pw, ph = max(1, round(w * scale)), max(1, round(h * scale))
    if min(pw, ph) < 2:
        raise TransformError(f"image {w}x{h} too small for screenshot({scale}): photo would be {pw}x{ph}")
    u = w / 100.0
    status, appbar, gap, actions, lines, nav = (round(k * u) for k in (7, 12, 2, 10, 10, 10))
    photo = (
        rgb
        if (pw, ph) == (w, h)
        else alb(A.Resize, height=ph, width=pw, interpolation=cv2.INTER_AREA)(image=rgb)["image"]
    )
    H = status + appbar + gap + ph + gap + actions + lines + nav
    canvas = Image.new("RGB", (w, H), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    # status bar: dark band, clock, battery
    d.rectangle([0, 0, w - 1, status - 1], fill=(32, 33, 36))
    font = get_font(max(4, round(4 * u)))
    d.text((round(3 * u), round(1.2 * u)), "12:34", font=font, fill=(255, 255, 255))
    d.rectangle(
        [round(88 * u), round(2 * u), round(96 * u), round(5 * u)],
        outline=(255, 255, 255),
        width=max(1, round(0.4 * u)),
    )
    d.rectangle([round(89 * u), round(2.8 * u), round(93 * u), round(4.2 * u)], fill=(255, 255, 255))
    # app bar: avatar and account name
    y = status
    d.ellipse([round(3 * u), y + round(2 * u), round(11 * u), y + round(10 * u)], fill=(120, 144, 200))
    d.text(
        (round(14 * u), y + round(3.5 * u)), "photo.account", font=get_font(max(4, round(4.5 * u))), fill=(20, 20, 20)
    )
    d.line([0, y + appbar - 1, w, y + appbar - 1], fill=(220, 220, 220), width=max(1, round(0.2 * u)))
    # the photo, centred
    y = status + appbar + gap
    x = (w - pw) // 2
    canvas.paste(Image.fromarray(photo), (x, y))
    photo_box = [x, y, x + pw, y + ph]
    # action row: heart (two circles + triangle), comment bubble, share arrow
    y += ph + gap
    c, r = y + actions // 2, 3 * u
    d.ellipse([3 * u, c - r, 6.5 * u, c + 0.3 * u], fill=(230, 50, 70))
    d.ellipse([5.5 * u, c - r, 9 * u, c + 0.3 * u], fill=(230, 50, 70))
    d.polygon([(3 * u, c - 0.8 * u), (9 * u, c - 0.8 * u), (6 * u, c + r)], fill=(230, 50, 70))
    d.ellipse([13 * u, c - r, 19 * u, c + r], outline=(20, 20, 20), width=max(1, round(0.6 * u)))
    d.polygon([(24 * u, c - r), (31 * u, c), (24 * u, c + r)], outline=(20, 20, 20))
    # caption lines
    y += actions
    d.rounded_rectangle([3 * u, y + 1 * u, 80 * u, y + 4 * u], radius=u, fill=(200, 200, 200))
    d.rounded_rectangle([3 * u, y + 6 * u, 55 * u, y + 9 * u], radius=u, fill=(200, 200, 200))
    # navigation bar: five icon squares
    y += lines
    d.rectangle([0, y, w - 1, H - 1], fill=(245, 245, 245))
    for i in range(5):
        cx = (i + 0.5) * w / 5
        d.rectangle([cx - 2.5 * u, y + 2.5 * u, cx + 2.5 * u, y + 7.5 * u], fill=(90, 90, 90))
    return np.asarray(canvas, dtype=np.uint8), {
        "canvas": [w, H],
        "photo_box": photo_box,
        "scale": float(scale),
        "font": font_name(),
    }


SCREENSHOT = register_family(
    Family(
        "screenshot",
        "photo width as a fraction of the screenshot width (inside an app-like frame)",
        (0.9, 0.75, 0.5),
        num_range(0, 1, what="a fraction"),
        apply=_screenshot,
        group="screenshot",
    )
)
