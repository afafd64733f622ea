"""Images behind an fsspec URL (``s3://bucket/prefix``, ``gs://...``,
``memory://...``, ``file://...``): list, read, and cache them locally.

Listing is recursive (or one level) and filtered by extension like the
folder loader; names are paths relative to the URL, with '/' separators.
Every file is read once to compute its sha256 (the image_id) and written to
a local cache ``CACHE/<sha256[:2]>/<sha256><ext>`` so that the rest of the
pipeline reads ordinary files; a file already cached is not written again.
``file://`` URLs are read in place (no copy).

Remote protocols need their fsspec backend (s3fs for s3://, gcsfs for gs://,
...); a missing backend is a ConfigError naming the package to install.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from ..errors import ConfigError
from .folder import DEFAULT_EXTENSIONS
from .records import ImageRecord


def is_url(path: str | None) -> bool:
    return bool(path) and "://" in str(path)


def default_cache() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "phash-harness", "fsspec")


def check_url(url: str, field: str = "dataset.path") -> None:
    """ConfigError unless fsspec is installed and knows the URL's protocol
    with its backend importable."""
    try:
        import fsspec
    except ImportError:
        raise ConfigError(field, "URL paths need the fsspec package (pip install fsspec)") from None
    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ConfigError(field, f"unknown fsspec protocol {protocol!r}") from None
    except ImportError as exc:
        raise ConfigError(field, f"protocol {protocol!r} needs its fsspec backend: {exc}") from None


def fsspec_records(
    url: str,
    extensions=DEFAULT_EXTENSIONS,
    recursive: bool = True,
    groups: dict[str, str] | None = None,
    cache: str | None = None,
):
    """Records for every image file under `url`, plus (name, reason) for
    files that could not be read."""
    import fsspec

    check_url(url)
    groups = groups or {}
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    try:
        if recursive:
            paths = fs.find(root)
        else:
            paths = [p for p in fs.ls(root, detail=False) if fs.isfile(p)]
    except FileNotFoundError:
        raise ConfigError("dataset.path", f"not found: {url}") from None
    local = "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))
    cache = cache or default_cache()
    records, errors = [], []
    for p in sorted(paths):
        p = p.rstrip("/")
        rel = p[len(root) :].lstrip("/") if p.startswith(root) else p
        if not rel.lower().endswith(exts):
            continue
        try:
            data = fs.cat_file(p)
        except (OSError, FileNotFoundError) as exc:
            errors.append((rel, f"cannot read: {exc}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if local:
            path = fs._strip_protocol(p)
        else:
            path = _cache_file(cache, digest, os.path.splitext(rel)[1].lower(), data)
        group = groups.get(rel) or groups.get(digest) or digest
        records.append(ImageRecord(digest, rel, path, group, len(data)))
    return records, errors


def _cache_file(cache: str, digest: str, ext: str, data: bytes) -> str:
    folder = os.path.join(cache, digest[:2])
    path = os.path.join(folder, digest + ext)
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            if hashlib.sha256(fh.read()).hexdigest() == digest:
                return path
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path
