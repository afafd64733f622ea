"""Fetch a dataset: resumable download, sha256 check, safe extraction, manifest.

Steps for ``fetch(entry, dest)`` (each archive of the entry):

1. Download to ``DEST/.downloads/FILENAME.part`` with HTTP range requests:
   an interrupted download resumes from the bytes already on disk (on the
   next attempt, or the next run). A server that ignores ``Range`` is
   detected (status 200 instead of 206) and the file restarts from byte 0.
2. The whole archive's sha256 is compared with the expected value BEFORE
   anything is extracted; a mismatch deletes the download and stops.
3. Every member is checked before any is written; the archive is refused if
   a member has an absolute path, a ``..`` component, a backslash, is a
   symbolic or hard link, a device, a FIFO, or any type other than a regular
   file or a folder, or if two members have the same name.
4. Extraction goes into a temporary folder next to the destination; only
   when everything (extraction, nested archive, MANIFEST.csv) succeeded is
   it renamed to ``DEST/NAME``. A failure removes the temporary folder, so
   no half-extracted dataset is ever left behind.
5. ``DEST/NAME`` holds ``images/``, ``MANIFEST.csv`` (file, sha256, bytes,
   width, height, format; one row per image file), ``SOURCE.md`` (license and
   attribution) and ``FETCH.json`` (archives and their checksums).

A dataset already present is verified against FETCH.json (same archive
checksums) and MANIFEST.csv (every file's sha256); if it matches, nothing is
downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import replace
from http.client import HTTPException

from ..errors import ConfigError, HarnessError
from ..imageio import sha256_file
from .catalog import Archive, CatalogEntry
from .manifest import verify_manifest, write_manifest

CHUNK = 1 << 16
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FetchError(HarnessError):
    """A download, checksum or extraction failed (exit status 1)."""

    exit_status = 1


class UnsafeArchiveError(FetchError):
    """An archive member would escape the destination or is not a plain file/folder."""

    def __init__(self, member: str, reason: str):
        self.member = member
        self.reason = reason
        super().__init__(f"archive refused: member {member!r} {reason}; nothing was extracted")


def check_sha256(value: str, field: str = "--sha256") -> str:
    """Lower-case a hex sha256, or raise ConfigError."""
    v = (value or "").strip().lower()
    if not _HEX64.match(v):
        raise ConfigError(field, f"must be 64 hexadecimal digits (got {value!r})")
    return v


def sha256_path(path: str) -> str:
    """sha256 (hex) of a file's bytes."""
    return sha256_file(path)[0]


# ------------------------------------------------------------------ download
def _progress(total: int | None, initial: int, desc: str, show: bool | None):
    from tqdm.auto import tqdm

    disable = not (sys.stderr.isatty() if show is None else show)
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=disable,
        leave=False,
    )


def download(
    url: str,
    path: str,
    sha256: str,
    retries: int = 3,
    timeout: float = 60,
    progress: bool | None = None,
    retry_wait: float = 1.0,
) -> str:
    """Download `url` to `path`, resuming `path + ".part"` if present, and
    verify its sha256. Returns `path`.

    Resumes with ``Range: bytes=N-`` after a dropped connection (up to
    `retries` more attempts in this call; the ``.part`` file is kept for the
    next call otherwise). Raises FetchError on a checksum mismatch (the
    download is deleted) or when all attempts failed (the ``.part`` file is
    kept so the next run resumes)."""
    sha256 = check_sha256(sha256)
    if os.path.isfile(path):
        if sha256_path(path) == sha256:
            return path
        os.remove(path)
    part = path + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    scheme = urllib.parse.urlparse(url).scheme.lower()
    ranged = scheme in ("http", "https")
    last_error = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(retry_wait)
        try:
            _download_once(url, part, ranged, timeout, progress)
            last_error = None
            break
        except _Retryable as exc:
            last_error = exc
    if last_error is not None:
        have = os.path.getsize(part) if os.path.exists(part) else 0
        raise FetchError(
            f"download of {url} failed after {retries + 1} attempt(s) ({last_error}); "
            f"{have} bytes kept in {part}: run the same command again to resume"
        )
    got = sha256_path(part)
    if got != sha256:
        os.remove(part)
        raise FetchError(
            f"sha256 mismatch for {url}: expected {sha256}, got {got}; "
            "the download was deleted and nothing was extracted"
        )
    os.replace(part, path)
    return path


class _Retryable(Exception):
    pass


def _download_once(url: str, part: str, ranged: bool, timeout: float, progress) -> None:
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    if not ranged:
        offset = 0
    headers = {"User-Agent": "phash-harness-fetch"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # nothing left to fetch: the .part file is complete (or corrupt; sha256 decides)
            return
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Retryable(f"HTTP {exc.code}") from None
        raise FetchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, FileNotFoundError):
            raise FetchError(f"cannot download {url}: file not found") from None
        if isinstance(reason, OSError):
            raise _Retryable(str(reason)) from None
        raise FetchError(f"cannot download {url}: {reason}") from None
    except (OSError, HTTPException) as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from None
    with resp:
        status = getattr(resp, "status", None) or resp.getcode() or 200
        mode = "ab"
        total = None
        if offset and status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                raise FetchError(
                    f"server sent an unexpected Content-Range for {url}: {resp.headers.get('Content-Range')!r}"
                )
            total = int(m.group(3)) if m.group(3) != "*" else None
        else:
            # no range asked, or the server ignored it: start again from byte 0
            mode, offset = "wb", 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        received = offset
        bar = _progress(total, offset, os.path.basename(part)[:-5], progress)
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        block = resp.read(CHUNK)
                    except (OSError, HTTPException) as exc:
                        raise _Retryable(f"connection lost after {received} bytes: {type(exc).__name__}") from None
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
        if total is not None and received < total:
            raise _Retryable(f"connection closed after {received} of {total} bytes")


# ------------------------------------------------------------- safe extraction
def _check_name(name: str) -> list[str]:
    if not name or "\x00" in name:
        raise UnsafeArchiveError(name, "has an empty or invalid name")
    if "\\" in name:
        raise UnsafeArchiveError(name, "contains a backslash")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(name, "has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(name, "has a '..' component (path traversal)")
    return parts


def _plan_tar(tf: tarfile.TarFile):
    plan = []
    for m in tf.getmembers():
        parts = _check_name(m.name)
        if m.issym():
            raise UnsafeArchiveError(m.name, f"is a symbolic link (to {m.linkname!r})")
        if m.islnk():
            raise UnsafeArchiveError(m.name, f"is a hard link (to {m.linkname!r})")
        if m.ischr() or m.isblk():
            raise UnsafeArchiveError(m.name, "is a device file")
        if m.isfifo():
            raise UnsafeArchiveError(m.name, "is a FIFO")
        if not (m.isreg() or m.isdir()):
            raise UnsafeArchiveError(m.name, f"has an unsupported type ({m.type!r})")
        if parts:
            plan.append((parts, m.isdir(), m))
    return plan


def _plan_zip(zf: zipfile.ZipFile):
    plan = []
    for info in zf.infolist():
        parts = _check_name(info.filename)
        mode = info.external_attr >> 16
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError(info.filename, "is encrypted")
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(info.filename, "is a symbolic link")
        kind = stat.S_IFMT(mode)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(info.filename, "is a device, FIFO or socket")
        if parts:
            plan.append((parts, info.is_dir(), info))
    return plan


def safe_extract(archive: str, dest: str) -> int:
    """Extract a zip or tar (optionally gz/bz2/xz) archive into the existing
    folder `dest` after checking every member (see the module docstring).
    Returns the number of files written. Raises UnsafeArchiveError before
    writing anything if a member is refused, and FetchError if the declared
    uncompressed size exceeds the free disk space (Python's zipfile never
    reads past a member's declared size, so a zip bomb cannot exceed it)."""
    if zipfile.is_zipfile(archive):
        opener, planner, kind = zipfile.ZipFile, _plan_zip, "zip"
    else:
        try:
            is_tar = tarfile.is_tarfile(archive)
        except OSError:
            is_tar = False
        if not is_tar:
            raise FetchError(f"{os.path.basename(archive)} is neither a zip nor a tar archive")
        opener, planner, kind = (lambda p: tarfile.open(p, "r:*")), _plan_tar, "tar"
    root = os.path.realpath(dest)
    try:
        with opener(archive) as arc:
            plan = planner(arc)
            declared = sum((m.file_size if kind == "zip" else m.size) for _, d, m in plan if not d)
            free = shutil.disk_usage(root).free
            if declared > free:
                raise FetchError(
                    f"{os.path.basename(archive)} expands to {declared} bytes but only {free} "
                    f"are free in {root}; nothing was extracted"
                )
            seen: set[str] = set()
            for parts, is_dir, _ in plan:
                key = "/".join(parts)
                if key in seen and not is_dir:
                    raise UnsafeArchiveError(key, "appears twice in the archive")
                seen.add(key)
            written = 0
            for parts, is_dir, member in plan:
                target = os.path.join(root, *parts)
                if os.path.commonpath([root, os.path.realpath(os.path.dirname(target))]) != root:
                    raise UnsafeArchiveError("/".join(parts), "would be written outside the destination")
                if is_dir:
                    os.makedirs(target, exist_ok=True)
                    continue
                try:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    src = arc.open(member) if kind == "zip" else arc.extractfile(member)
                    with src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                except FileExistsError:
                    raise UnsafeArchiveError("/".join(parts), "would overwrite an existing file") from None
                except (NotADirectoryError, IsADirectoryError):
                    raise UnsafeArchiveError("/".join(parts), "clashes with a file/folder of the same name") from None
                written += 1
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise FetchError(f"corrupt archive {os.path.basename(archive)}: {exc}") from None
    return written


# --------------------------------------------------------------------- fetch
def dataset_dir(dest: str, name: str) -> str:
    return os.path.join(dest, name)


def is_present(entry: CatalogEntry, dest: str, full: bool = True) -> tuple[bool, str]:
    """(True, "") if DEST/NAME holds a verified copy of `entry`; otherwise
    (False, why). `full` re-hashes every file listed in MANIFEST.csv."""
    folder = dataset_dir(dest, entry.name)
    info_path = os.path.join(folder, "FETCH.json")
    if not os.path.isfile(info_path) or not os.path.isfile(os.path.join(folder, "MANIFEST.csv")):
        return False, "no FETCH.json/MANIFEST.csv"
    try:
        with open(info_path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        return False, "FETCH.json unreadable"
    want = [a.sha256 for a in entry.archives]
    have = [a.get("sha256") for a in info.get("archives", [])]
    if any(want) and [w for w in want] != have:
        return False, "archive checksums differ from the catalogue"
    problems = verify_manifest(folder, full=full)
    if problems:
        return False, f"{len(problems)} file(s) differ from MANIFEST.csv, e.g. {problems[0]}"
    return True, ""


def fetch(
    entry: CatalogEntry,
    dest: str,
    urls: list[str] | None = None,
    sha256s: list[str] | None = None,
    force: bool = False,
    keep_archives: bool = False,
    retries: int = 3,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Fetch `entry` into DEST/NAME and return that folder.

    `urls`/`sha256s` override the catalogue's URL/checksum per archive (in
    order); an archive without a URL or checksum is a ConfigError."""
    archives = list(entry.archives)
    for field_name, values, key in (("--url", urls, "url"), ("--sha256", sha256s, "sha256")):
        if values:
            if len(values) != len(archives):
                raise ConfigError(
                    field_name,
                    f"{entry.name} has {len(archives)} archive(s) "
                    f"({', '.join(a.filename for a in archives)}); give {len(archives)} value(s)",
                )
            if key == "sha256":
                values = [check_sha256(v) for v in values]
            archives = [replace(a, **{key: v}) for a, v in zip(archives, values)]
    for a in archives:
        if not a.url:
            raise ConfigError(
                "--url",
                f"{entry.name}: the archive {a.filename} is supplied by you "
                "(license or signed link); pass --url URL (file:///path works)",
            )
        if not a.sha256:
            raise ConfigError(
                "--sha256",
                f"{entry.name}: no verified checksum is published for "
                f"{a.filename}; pass --sha256 HEX (from a copy you trust)",
            )
    entry = replace(entry, archives=tuple(archives))
    dest = os.path.abspath(os.path.expanduser(dest))
    final = dataset_dir(dest, entry.name)
    if os.path.exists(final):
        ok, why = is_present(entry, dest)
        if ok:
            log(f"{entry.name}: already present and verified in {final}; nothing fetched")
            return final
        if not force:
            raise FetchError(f"{final} exists but is not a verified copy ({why}); remove it or pass --force")
    os.makedirs(dest, exist_ok=True)
    downloads = os.path.join(dest, ".downloads")
    paths = []
    for a in archives:
        log(f"{entry.name}: downloading {a.url}")
        path = download(a.url, os.path.join(downloads, a.filename), a.sha256, retries=retries, progress=progress)
        log(f"{entry.name}: {a.filename} sha256 verified")
        paths.append(path)
    tmp = tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=dest)
    try:
        raw = os.path.join(tmp, "raw")
        os.makedirs(raw)
        for a, path in zip(archives, paths):
            safe_extract(path, raw)
            if a.inner:
                inner = os.path.join(raw, *a.inner.split("/"))
                if not os.path.isfile(inner):
                    raise FetchError(f"{a.filename} does not contain {a.inner}")
                if a.inner_sha256 and sha256_path(inner) != a.inner_sha256:
                    raise FetchError(f"sha256 mismatch for {a.inner} inside {a.filename}")
                safe_extract(inner, raw)
                os.remove(inner)
        src = os.path.join(raw, *entry.images_dir.split("/")) if entry.images_dir else raw
        if not os.path.isdir(src):
            raise FetchError(f"the archive(s) have no folder {entry.images_dir!r}")
        for ex in entry.exclude:
            shutil.rmtree(os.path.join(src, ex), ignore_errors=True)
        os.rename(src, os.path.join(tmp, "images"))
        shutil.rmtree(raw, ignore_errors=True)
        rows = write_manifest(tmp)
        if entry.count is not None and len(rows) != entry.count:
            log(f"{entry.name}: warning: {len(rows)} images, catalogue expects {entry.count}")
        _write_source(tmp, entry, len(rows))
        if os.path.exists(final):  # --force over an unverified copy
            shutil.rmtree(final)
        os.rename(tmp, final)
    except UnsafeArchiveError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not keep_archives:  # verified but refused: useless, do not keep it around
            for path in paths:
                os.remove(path)
            _rmdir_quiet(downloads)
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not keep_archives:
        for path in paths:
            os.remove(path)
        _rmdir_quiet(downloads)
    log(f"{entry.name}: {len(rows)} images in {final}/images (MANIFEST.csv written)")
    return final


def _rmdir_quiet(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _write_source(folder: str, entry: CatalogEntry, n: int) -> None:
    info = {
        "name": entry.name,
        "title": entry.title,
        "license": entry.license,
        "attribution": entry.attribution,
        "homepage": entry.homepage,
        "images": n,
        "archives": [
            {"url": a.url, "filename": a.filename, "sha256": a.sha256, "inner": a.inner, "inner_sha256": a.inner_sha256}
            for a in entry.archives
        ],
        "excluded": list(entry.exclude),
        "images_dir": entry.images_dir,
    }
    with open(os.path.join(folder, "FETCH.json"), "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2, sort_keys=True)
    lines = [
        f"# {entry.name}: {entry.title}",
        "",
        f"- **License:** {entry.license}",
        f"- **Attribution:** {entry.attribution}",
        f"- **Homepage:** {entry.homepage}",
        f"- **Images:** {n}",
        f"- **Caveats:** {entry.caveats}" if entry.caveats else "",
        *[f"- **Archive:** {a.url} (sha256 {a.sha256})" for a in entry.archives],
        f"- **Excluded folders:** {', '.join(entry.exclude)}" if entry.exclude else "",
        "- Fetched and verified by `phash-harness fetch`; MANIFEST.csv lists every image.",
        "",
    ]
    with open(os.path.join(folder, "SOURCE.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(line for line in lines if line is not None))


def ad_hoc_entry(name: str, url: str, sha256: str, images_dir: str = "") -> CatalogEntry:
    """A one-archive entry for ``fetch --url URL --sha256 HEX --name NAME``."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name or ""):
        raise ConfigError("--name", f"must be letters, digits, '.', '_' or '-' (got {name!r})")
    filename = os.path.basename(urllib.parse.urlparse(url).path) or f"{name}.archive"
    return CatalogEntry(
        name=name,
        title=name,
        archives=(Archive(url=url, sha256=check_sha256(sha256), filename=filename),),
        images_dir=images_dir,
        license="(given by the user)",
        attribution="",
        homepage=url,
    )
