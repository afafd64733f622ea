"""Datasets stage: where images come from.

An *image* is one source file; its identity is the sha256 of its bytes. A
*group* is a set of images known to show the same content; pairs inside a
group are never negatives (see docs/design.md).
"""

from ..imageio import DEFAULT_MAX_PIXELS, load_rgb
from .folder import folder_records, load_groups
from .loader import load_records
from .records import ImageRecord, manifest_digest
from .sample import sample_records

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageRecord",
    "folder_records",
    "load_groups",
    "load_records",
    "load_rgb",
    "manifest_digest",
    "sample_records",
]
