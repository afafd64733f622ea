"""The catalogue: importing this module registers every family.

Families live in modules by kind: `encoding` (jpeg, webp), `geometry`
(resize, max-size, crop, aspect, pad, rotate, flip), `photometric` (blur,
motion-blur, noise, salt-pepper, brightness, contrast, gamma, saturation,
hue, greyscale, colour-jitter, sharpen, median), `overlay` (caption,
watermark, sticker), `screenshot`, `chains` (chain). `base` holds the
Family record and the registry.
"""

from __future__ import annotations

from . import chains, encoding, geometry, overlay, photometric, screenshot  # noqa: F401  (registration)
from .base import FAMILIES, Family, get_family, list_families, register_family

GROUP_ORDER = ("encoding", "geometry", "photometric", "overlay", "screenshot", "chain")


def families_in_order() -> list[Family]:
    """Families grouped by kind (GROUP_ORDER), in registration order."""
    return sorted(
        FAMILIES.values(), key=lambda f: GROUP_ORDER.index(f.group) if f.group in GROUP_ORDER else len(GROUP_ORDER)
    )


__all__ = ["FAMILIES", "Family", "families_in_order", "get_family", "list_families", "register_family"]
