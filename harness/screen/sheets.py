"""Contact sheets of the duplicate screen: PNGs a person can check.

- `group_sheet`: one row per duplicate group (largest first), up to 8
  thumbnails each (``contact_sheet.png``);
- `pair_sheets`: one row per pair, both images side by side with their
  names, the pixel similarity (SSIM of the 64 x 64 grey thumbnails, and
  their Pearson correlation r) and the hashers that proposed the pair, `per_sheet` rows per
  PNG (``contact_sheet_001.png``, ... for every confirmed pair;
  ``rejected_sheet_001.png``, ... for rejected candidates).
"""

from __future__ import annotations

import os

from ..errors import DecodeError
from ..imageio import load_rgb

THUMB = 96


def _thumb(path: str, thumb: int):
    from PIL import Image

    im = Image.fromarray(load_rgb(path))
    im.thumbnail((thumb, thumb))
    return im


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken after a "+"."""
    lines, line = [], ""
    for part in text.replace("+", "+\0").split("\0"):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    return lines + [line] if line else lines


def _paste(sheet, draw, path, x, y, thumb):
    try:
        sheet.paste(_thumb(path, thumb), (x, y))
    except DecodeError:
        draw.rectangle([x, y, x + thumb, y + thumb], outline="red")


def group_sheet(result, path: str, max_groups: int = 40, max_per_group: int = 8, thumb: int = THUMB) -> int:
    """PNG with one row per duplicate group (largest groups first, then by
    name): the group label and up to `max_per_group` thumbnails with names.
    Returns the number of groups drawn."""
    from PIL import Image, ImageDraw

    groups = sorted(result.groups, key=lambda g: (-len(g), result.records[g[0]].name))[:max_groups]
    labels = result.group_labels()
    label_w, row_h, cell_w = 110, thumb + 30, thumb + 10
    width = label_w + cell_w * max(1, min(max_per_group, max((len(g) for g in groups), default=1)))
    height = max(1, len(groups)) * row_h + 10
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    if not groups:
        draw.text((10, 5), "no duplicate groups", fill="black")
    for r, g in enumerate(groups):
        y = 5 + r * row_h
        draw.text((5, y + thumb // 2 - 10), labels[g[0]], fill="black")
        draw.text((5, y + thumb // 2 + 4), f"{len(g)} images", fill="gray")
        for c, idx in enumerate(g[:max_per_group]):
            x = label_w + c * cell_w
            _paste(sheet, draw, result.records[idx].path, x, y, thumb)
            name = os.path.basename(result.records[idx].name)
            draw.text((x, y + thumb + 3), name[-16:], fill="black")
    sheet.save(path, format="PNG", optimize=False)
    return len(groups)


def pair_sheets(result, pairs, out_dir: str, prefix: str, title: str, per_sheet: int = 40, thumb: int = THUMB):
    """Draw `pairs` (ScreenPair) `per_sheet` to a PNG named
    ``{prefix}_{page:03d}.png`` in `out_dir`; returns the file names (none
    for no pairs). Each row: number, both thumbnails, both names, r, kind,
    proposing hashers."""
    from PIL import Image, ImageDraw

    files = []
    pages = [pairs[k : k + per_sheet] for k in range(0, len(pairs), per_sheet)]
    row_h, text_x = thumb + 12, 2 * (thumb + 8) + 50
    width = text_x + 430
    for page, rows in enumerate(pages, start=1):
        sheet = Image.new("RGB", (width, 24 + row_h * len(rows)), "white")
        draw = ImageDraw.Draw(sheet)
        draw.text((5, 5), f"{title} - sheet {page} of {len(pages)}", fill="black")
        for r, p in enumerate(rows):
            y = 24 + r * row_h
            n = (page - 1) * per_sheet + r + 1
            draw.text((5, y + thumb // 2 - 5), f"{n}", fill="black")
            for c, idx in enumerate((p.i, p.j)):
                _paste(sheet, draw, result.records[idx].path, 50 + c * (thumb + 8), y, thumb)
            a, b = result.records[p.i].name, result.records[p.j].name
            colour = "darkgreen" if p.confirmed else "darkred"
            draw.text((text_x, y + 4), a[-60:], fill="black")
            draw.text((text_x, y + 18), b[-60:], fill="black")
            draw.text((text_x, y + 38), f"SSIM = {p.similarity:.4f}  r = {p.correlation:.4f}  ({p.kind})", fill=colour)
            for k, line in enumerate(_wrap("proposed by: " + ("+".join(p.proposed_by) or "-"), 64)[:3]):
                draw.text((text_x, y + 56 + 14 * k), line, fill="gray")
        name = f"{prefix}_{page:03d}.png"
        sheet.save(os.path.join(out_dir, name), format="PNG", optimize=False)
        files.append(name)
    return files
