"""Load a folder of images (recursively) and optional declared groups.

Read policy for a folder (every listed entry is either read or reported with
a reason, never dropped):

- only regular files are read; a directory, FIFO, socket or device named
  like an image is reported (a FIFO would block a reader forever);
- symlinks are resolved and the target must lie under the dataset folder
  (after resolving the folder's own path), unless ``follow_symlinks`` is
  true; broken and looping links are reported. Symlinked sub-folders are
  descended only with ``follow_symlinks`` (each real folder once, so a link
  loop cannot recurse forever). The check is made when the folder is listed;
  someone who can rewrite the folder while a run reads it can still race it;
- file names that are not valid UTF-8 (bytes on Linux) are read under their
  real name and shown in every table with the bad bytes as ``\\xNN``.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import stat

from ..errors import ConfigError
from .records import ImageRecord

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def list_image_files(
    root: str, extensions=DEFAULT_EXTENSIONS, recursive: bool = True, follow_symlinks: bool = False
) -> list[str]:
    """Paths relative to `root` whose extension (case-insensitive) is in
    `extensions`, sorted for a stable order. Directories named like images are
    listed too: the loader records them as errors instead of dropping them.
    Symlinked folders are descended only when `follow_symlinks` is true."""
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    found = []
    seen_dirs = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # a link loop or a second link to a folder already listed
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames.sort()
        for name in list(filenames) + list(dirnames):
            if name.lower().endswith(exts):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
        if not recursive:
            break
    return sorted(set(found))


def display_name(rel: str) -> str:
    """`rel` as shown in tables: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


class _Refused(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _read_regular_file(path: str, root_real: str, follow_symlinks: bool, chunk: int = 1 << 20) -> tuple[str, int]:
    """sha256 and size of `path` if the read policy allows it, else _Refused."""
    if not follow_symlinks and not _inside(os.path.realpath(path), root_real):
        raise _Refused("symlink points outside the dataset folder (set dataset.follow_symlinks: true to allow)")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise _Refused("broken symlink (target not found)") from None
        raise _Refused("file not found (it may have been removed after listing)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Refused("symlink loop") from None
        if exc.errno == errno.EISDIR:
            raise _Refused("is a directory, not an image file") from None
        raise _Refused(f"cannot read file: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise _Refused("is a directory, not an image file")
        raise _Refused("not a regular file (FIFO, socket or device)")
    with os.fdopen(fd, "rb") as fh:
        h, size = hashlib.sha256(), 0
        while True:
            try:
                block = fh.read(chunk)
            except OSError as exc:
                raise _Refused(f"cannot read file: {exc.strerror or exc}") from None
            if not block:
                break
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def folder_records(
    root: str,
    extensions=DEFAULT_EXTENSIONS,
    recursive: bool = True,
    groups: dict[str, str] | None = None,
    follow_symlinks: bool = False,
):
    """Records for every image file under `root`, plus a list of
    (name, reason) for entries that could not even be read for hashing (see
    the read policy in the module docstring).

    `groups` maps an image name (relative path) or sha256 to a group label.
    Files with identical bytes always share a group (exact duplicates).
    """
    records, errors = [], []
    groups = groups or {}
    root_real = os.path.realpath(root)
    for rel in list_image_files(root, extensions, recursive, follow_symlinks):
        path = os.path.join(root, rel)
        name = display_name(rel)
        try:
            digest, size = _read_regular_file(path, root_real, follow_symlinks)
        except _Refused as exc:
            errors.append((name, exc.reason))
            continue
        group = groups.get(name) or groups.get(digest) or digest
        records.append(ImageRecord(digest, name, path, group, size))
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
