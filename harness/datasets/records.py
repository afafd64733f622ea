"""The record of one image in a dataset."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRecord:
    """One source image.

    image_id: sha256 (hex) of the file's bytes; the identity used in every
        cache key and table.
    name: path relative to the dataset root (or a sample name), for humans.
    path: where to read it (absolute path or URL).
    group: group label; images with the same group are never a negative pair.
        Defaults to the image_id (every image its own group).
    """

    image_id: str
    name: str
    path: str
    group: str
    bytes: int = 0


def manifest_digest(records: Iterable[ImageRecord]) -> str:
    """sha256 over the sorted lines ``"<image sha256>  <name>\\n"``: one
    checksum that identifies exactly which images a run used."""
    h = hashlib.sha256()
    for line in sorted(f"{r.image_id}  {r.name}\n" for r in records):
        h.update(line.encode("utf-8", "surrogateescape"))
    return h.hexdigest()
