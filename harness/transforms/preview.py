"""Contact sheet: one image across a transform's sweep, so a user can see
what a severity means (``phash-harness preview IMAGE --transform NAME``).

Each cell shows the variant scaled to fit the cell (aspect kept, Lanczos;
scaling is for display only) above its spec key and pixel size. Variants use
the same seeds as a run (``variant_seed(sha256 of the file, spec, seed)``),
so the sheet shows exactly what the hashers would see. A variant that
cannot be made shows its reason instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..errors import TransformError
from .apply import apply_transform
from .base import get_family
from .overlay import get_font
from .spec import ORIGINAL, TransformSpec, variant_seed

LABEL_PX = 14


def sweep_specs(family: str, severities: Sequence | None = None, params: dict | None = None) -> list[TransformSpec]:
    """Validated specs of `family` over `severities` (default: its default
    sweep). Raises ConfigError naming the bad severity or param."""
    fam = get_family(family)
    fam.validate_params(params or {}, where="--param")
    sev = list(fam.default_sweep) if not severities else list(severities)
    for s in sev:
        fam.validate(s, where="--severities")
    return [TransformSpec.make(family, s, fam.canonical_params(params)) for s in sev]


def contact_sheet(
    rgb: np.ndarray,
    specs: Sequence[TransformSpec],
    image_id: str = "",
    seed: int = 0,
    cell: int = 256,
    columns: int | None = None,
) -> Image.Image:
    """A grid image: the original, then one cell per spec."""
    items = [(ORIGINAL, rgb, None)]
    for spec in specs:
        try:
            pixels, _ = apply_transform(spec, rgb, variant_seed(image_id, spec, seed))
            items.append((spec, pixels, None))
        except TransformError as exc:
            items.append((spec, None, exc.reason))
    n = len(items)
    cols = columns or min(n, 4)
    rows = math.ceil(n / cols)
    label_h = 2 * LABEL_PX + 8
    sheet = Image.new("RGB", (cols * (cell + 8) + 8, rows * (cell + label_h + 8) + 8), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = get_font(LABEL_PX)
    for i, (spec, pixels, reason) in enumerate(items):
        x0 = 8 + (i % cols) * (cell + 8)
        y0 = 8 + (i // cols) * (cell + label_h + 8)
        draw.rectangle([x0 - 1, y0 - 1, x0 + cell, y0 + cell], outline=(200, 200, 200))
        label = spec.key if spec is not ORIGINAL else "original"
        if pixels is not None:
            h, w = pixels.shape[:2]
            k = min(cell / w, cell / h)
            tw, th = max(1, round(w * k)), max(1, round(h * k))
            thumb = Image.fromarray(pixels).resize((tw, th), Image.LANCZOS)
            sheet.paste(thumb, (x0 + (cell - tw) // 2, y0 + (cell - th) // 2))
            size = f"{w}x{h} px"
        else:
            draw.multiline_text((x0 + 6, y0 + 6), _wrap_text(f"not made: {reason}", 32), font=font, fill=(160, 0, 0))
            size = ""
        label_font = font
        for px in range(LABEL_PX, 7, -1):  # shrink a long label to the cell width
            label_font = get_font(px)
            if draw.textlength(label, font=label_font) <= cell:
                break
        draw.text((x0, y0 + cell + 4), label, font=label_font, fill=(0, 0, 0))
        draw.text((x0, y0 + cell + 4 + LABEL_PX + 2), size, font=font, fill=(90, 90, 90))
    return sheet


def _wrap_text(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join(lines + [line])
