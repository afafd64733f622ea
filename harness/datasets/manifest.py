"""MANIFEST.csv: one row per image file, and a loader for manifest CSVs.

Format written by `fetch` (the same as ../shared/datasets/*/MANIFEST.csv)::

    file,sha256,bytes,width,height,format
    images/cat/0001.jpg,59253b...,5965,192,128,JPEG

`file` is relative to the folder holding MANIFEST.csv; sha256 is of the
file's bytes; width/height/format are what Pillow reads from the header
(empty when the file is not a readable image).

A manifest used as a dataset (``dataset.source: manifest``) needs a `file`
(or `path`) column; `sha256` and `group` are optional. Relative paths are
resolved against the CSV's folder; absolute paths are used as they are.
When a `sha256` column is given, each file is checked against it and a
mismatch is an error row (the file changed since the manifest was made).
"""

from __future__ import annotations

import csv
import os

from ..errors import ConfigError
from ..imageio import sha256_file
from .folder import DEFAULT_EXTENSIONS
from .records import ImageRecord

MANIFEST_COLUMNS = ("file", "sha256", "bytes", "width", "height", "format")


def image_header(path: str) -> tuple[str, str, str]:
    """(width, height, format) as strings from the image header, or empty
    strings when Pillow cannot identify the file. No pixels are decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return str(img.size[0]), str(img.size[1]), img.format or ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return "", "", ""


def write_manifest(folder: str, images: str = "images", extensions=DEFAULT_EXTENSIONS) -> list[dict]:
    """Write FOLDER/MANIFEST.csv for every image file under FOLDER/IMAGES
    (sorted by relative path; '/' separators). Returns the rows."""
    exts = tuple(e.lower() for e in extensions)
    rows = []
    base = os.path.join(folder, images)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in filenames:
            if not name.lower().endswith(exts):
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            digest, size = sha256_file(path)
            w, h, fmt = image_header(path)
            rows.append({"file": rel, "sha256": digest, "bytes": str(size), "width": w, "height": h, "format": fmt})
    rows.sort(key=lambda r: r["file"])
    with open(os.path.join(folder, "MANIFEST.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def read_manifest(path: str) -> list[dict]:
    """Rows of a manifest CSV as dicts (the `path` column is accepted as
    `file`). Raises ValueError when neither column exists."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if not cols & {"file", "path"}:
            raise ValueError(f"{path} needs a 'file' (or 'path') column; has: {', '.join(sorted(cols))}")
        rows = []
        for row in reader:
            if "file" not in row or not row.get("file"):
                row["file"] = row.get("path") or ""
            rows.append(row)
        return rows


def verify_manifest(folder: str, full: bool = True) -> list[str]:
    """Problems found when checking FOLDER/MANIFEST.csv against the files:
    missing files, size differences and (with `full`) sha256 differences.
    An empty list means the folder matches its manifest."""
    problems = []
    try:
        rows = read_manifest(os.path.join(folder, "MANIFEST.csv"))
    except (OSError, ValueError) as exc:
        return [f"MANIFEST.csv unreadable: {exc}"]
    for row in rows:
        path = os.path.join(folder, *row["file"].split("/"))
        if not os.path.isfile(path):
            problems.append(f"{row['file']}: missing")
            continue
        if row.get("bytes") and os.path.getsize(path) != int(row["bytes"]):
            problems.append(f"{row['file']}: size differs")
            continue
        if full and row.get("sha256") and sha256_file(path)[0] != row["sha256"]:
            problems.append(f"{row['file']}: sha256 differs")
    return problems


def manifest_records(
    csv_path: str, groups: dict[str, str] | None = None, follow_symlinks: bool = False, confine: bool = False
):
    """Records for every row of a manifest CSV, plus (name, reason) rows for
    files that are missing, unreadable, or whose sha256 differs from the
    manifest. `name` is the `file` value; image_id is the sha256 of the
    bytes actually read. `groups` (image name or sha256 -> group) overrides a
    `group` column.

    The folder read policy applies (see harness.datasets.folder): regular
    files only (a FIFO cannot block the run). With `confine` (manifests the
    harness did not write itself for the user, e.g. a fetched catalogue
    dataset), a file whose real path lies outside the manifest's folder (an
    absolute path, ``..``, or a symlink out) is refused unless
    `follow_symlinks` (``dataset.follow_symlinks: true``). A user's own
    manifest (``source: manifest``) may list files anywhere on purpose."""
    from .folder import _read_regular_file, _Refused

    groups = groups or {}
    base = os.path.dirname(os.path.abspath(csv_path))
    base_real = os.path.realpath(base)
    records, errors = [], []
    try:
        rows = read_manifest(csv_path)
    except ValueError as exc:
        raise ConfigError("dataset.path", str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError("dataset.path", f"{csv_path} is not UTF-8 CSV") from None
    for row in rows:
        name = row["file"]
        path = name if os.path.isabs(name) else os.path.join(base, *name.split("/"))
        if not os.path.lexists(path):
            errors.append((name, "file listed in the manifest not found"))
            continue
        try:
            digest, size = _read_regular_file(path, base_real, follow_symlinks or not confine)
        except _Refused as exc:
            reason = exc.reason.replace(
                "symlink points outside the dataset folder", "path lies outside the manifest's folder"
            )
            errors.append((name, reason))
            continue
        expected = (row.get("sha256") or "").strip().lower()
        if expected and expected != digest:
            errors.append(
                (name, f"sha256 differs from the manifest (expected {expected[:12]}..., got {digest[:12]}...)")
            )
            continue
        group = groups.get(name) or groups.get(digest) or (row.get("group") or "").strip() or digest
        records.append(ImageRecord(digest, name, path, group, size))
    return records, errors
