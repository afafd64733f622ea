"""Transforms stage: named families with a severity, applied deterministically.

``apply_transform(spec, rgb, seed)`` returns the variant pixels (uint8 RGB,
kept in memory; never re-encoded unless the transform is an encoding) and the
parameters actually applied (JSON). ``variant_seed(image_id, spec, seed)``
gives each variant its own random state. ``preview.contact_sheet`` draws one
image across a sweep.
"""

from __future__ import annotations

from .apply import apply_transform, as_rgb8
from .base import FAMILIES, Family, get_family, list_families, register_family
from .chains import CHAINS, chain_step_seed
from .families import families_in_order
from .spec import ORIGINAL, TransformSpec, variant_seed

__all__ = [
    "CHAINS",
    "FAMILIES",
    "Family",
    "ORIGINAL",
    "TransformSpec",
    "apply_transform",
    "as_rgb8",
    "chain_step_seed",
    "families_in_order",
    "get_family",
    "list_families",
    "register_family",
    "variant_seed",
]
