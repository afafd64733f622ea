"""Load a folder of images (recursively) and optional declared groups."""
from __future__ import annotations

import csv
import os

from ..errors import ConfigError
from .records import ImageRecord, sha256_file

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def list_image_files(root: str, extensions=DEFAULT_EXTENSIONS, recursive: bool = True) -> list[str]:
    """Paths relative to `root` whose extension (case-insensitive) is in
    `extensions`, sorted for a stable order. Directories named like images are
    listed too: the loader records them as errors instead of dropping them."""
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in list(filenames) + list(dirnames):
            if name.lower().endswith(exts):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
        if not recursive:
            break
    return sorted(set(found))


def folder_records(root: str, extensions=DEFAULT_EXTENSIONS, recursive: bool = True,
                   groups: dict[str, str] | None = None):
    """Records for every image file under `root`, plus a list of
    (name, reason) for files that could not even be read for hashing.

    `groups` maps an image name (relative path) or sha256 to a group label.
    Files with identical bytes always share a group (exact duplicates).
    """
    records, errors = [], []
    groups = groups or {}
    for rel in list_image_files(root, extensions, recursive):
        path = os.path.join(root, rel)
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(path)
            digest, size = sha256_file(path)
        except IsADirectoryError:
            errors.append((rel, "is a directory, not an image file"))
            continue
        except OSError as exc:
            errors.append((rel, f"cannot read file: {exc.strerror or exc}"))
            continue
        group = groups.get(rel) or groups.get(digest) or digest
        records.append(ImageRecord(digest, rel, path, group, size))
    return records, errors


def load_groups(path: str) -> dict[str, str]:
    """Read groups.csv: columns `image` (relative path or sha256) and `group`."""
    if not os.path.isfile(path):
        raise ConfigError("dataset.groups", f"file not found: {path}")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"image", "group"} <= set(reader.fieldnames):
            raise ConfigError("dataset.groups", f"{path} must have columns image,group")
        return {row["image"]: row["group"] for row in reader}
