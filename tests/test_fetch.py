"""fetch: resumable verified download and safe extraction, against a local
HTTP server on 127.0.0.1 serving archives made of real photos
(../shared/datasets/caltech101_tiny). No internet."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tarfile
import zipfile

import pytest

from harness.datasets.catalog import Archive, CatalogEntry, get_entry
from harness.datasets.fetch import FetchError, UnsafeArchiveError, fetch
from harness.errors import ConfigError
from tests.fetch_server import ArchiveServer
from tests.helpers import dataset_dir, run_cli

N_PHOTOS = 12


@pytest.fixture(scope="module")
def photos():
    """{file name: bytes} of the first N real photos of caltech101_tiny."""
    root = dataset_dir("caltech101_tiny") / "images"
    names = sorted(os.listdir(root))[:N_PHOTOS]
    return {n: (root / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def shared_manifest():
    with open(dataset_dir("caltech101_tiny") / "MANIFEST.csv", newline="") as fh:
        return {os.path.basename(r["file"]): r for r in csv.DictReader(fh)}


def make_tar(members, mode="w:gz") -> bytes:
    """members: list of (name, bytes) or TarInfo (for special members)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                name, data = m
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for m in members:
            if isinstance(m, zipfile.ZipInfo):
                zf.writestr(m, b"target")
            else:
                zf.writestr(*m)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_for(url, data, name="tinyphotos", images_dir="photos", **kw) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        title="test",
        images_dir=images_dir,
        license="CC BY 4.0",
        attribution="Caltech 101",
        homepage=url,
        archives=(Archive(url=url, sha256=sha(data), filename="photos.tar.gz"),),
        **kw,
    )


@pytest.fixture
def server():
    with ArchiveServer() as srv:
        yield srv


@pytest.fixture
def photo_tar(photos):
    members = [(f"photos/{n}", b) for n, b in photos.items()] + [("photos/README.txt", b"not an image")]
    return make_tar(members)


def assert_nothing_left(dest, name, downloads_too=True):
    left = sorted(os.listdir(dest)) if os.path.isdir(dest) else []
    assert name not in left
    assert not [x for x in left if ".tmp-" in x], left
    downloads = os.path.join(dest, ".downloads")
    if downloads_too and os.path.isdir(downloads):
        assert os.listdir(downloads) == []


def test_full_fetch_writes_images_manifest_and_source(server, photos, photo_tar, shared_manifest, tmp_path):
    server.files["/photos.tar.gz"] = photo_tar
    entry = entry_for(server.url("/photos.tar.gz"), photo_tar)
    folder = fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert folder == str(tmp_path / "tinyphotos")
    images = sorted(os.listdir(tmp_path / "tinyphotos" / "images"))
    assert images == sorted(list(photos) + ["README.txt"])
    for n, b in photos.items():
        assert (tmp_path / "tinyphotos" / "images" / n).read_bytes() == b
    with open(tmp_path / "tinyphotos" / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == [f"images/{n}" for n in sorted(photos)]  # README.txt not an image
    for r in rows:  # same sha256/size/resolution as the independently made shared manifest
        ref = shared_manifest[os.path.basename(r["file"])]
        assert (r["sha256"], r["bytes"], r["width"], r["height"], r["format"]) == (
            ref["sha256"],
            ref["bytes"],
            ref["width"],
            ref["height"],
            ref["format"],
        )
    info = json.loads((tmp_path / "tinyphotos" / "FETCH.json").read_text())
    assert info["archives"][0]["sha256"] == sha(photo_tar)
    assert "CC BY 4.0" in (tmp_path / "tinyphotos" / "SOURCE.md").read_text()
    assert_nothing_left(tmp_path, "nothing-else")
    assert not os.path.exists(tmp_path / ".downloads" / "photos.tar.gz")  # archive removed by default

    # already present and verified: no request at all
    n_requests = len(server.requests)
    messages = []
    fetch(entry, str(tmp_path), progress=False, log=messages.append)
    assert len(server.requests) == n_requests
    assert "already present and verified" in messages[-1]

    # a file changed on disk: not verified, refused without --force, re-fetched with it
    (tmp_path / "tinyphotos" / "images" / sorted(photos)[0]).write_bytes(b"changed")
    with pytest.raises(FetchError, match="not a verified copy"):
        fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    fetch(entry, str(tmp_path), force=True, progress=False, log=lambda m: None)
    assert (tmp_path / "tinyphotos" / "images" / sorted(photos)[0]).read_bytes() == photos[sorted(photos)[0]]


def test_interrupted_download_resumes_with_a_range_request(server, photo_tar, tmp_path):
    server.files["/photos.tar.gz"] = photo_tar
    cut = len(photo_tar) // 3
    server.drop_after["/photos.tar.gz"] = cut
    entry = entry_for(server.url("/photos.tar.gz"), photo_tar)
    with pytest.raises(FetchError, match="run the same command again to resume"):
        fetch(entry, str(tmp_path), retries=0, progress=False, log=lambda m: None)
    part = tmp_path / ".downloads" / "photos.tar.gz.part"
    assert part.stat().st_size == cut
    assert not (tmp_path / "tinyphotos").exists()
    fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert server.requests[-1] == ("/photos.tar.gz", f"bytes={cut}-")
    assert len(os.listdir(tmp_path / "tinyphotos" / "images")) == N_PHOTOS + 1


def test_dropped_connection_is_resumed_within_one_call(server, photo_tar, tmp_path):
    server.files["/photos.tar.gz"] = photo_tar
    server.drop_after["/photos.tar.gz"] = 1000
    entry = entry_for(server.url("/photos.tar.gz"), photo_tar)
    fetch(entry, str(tmp_path), retries=2, progress=False, log=lambda m: None)
    assert [r for _, r in server.requests] == [None, "bytes=1000-"]


def test_server_ignoring_range_restarts_from_zero(server, photo_tar, tmp_path):
    server.files["/photos.tar.gz"] = photo_tar
    server.ignore_range = True
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "photos.tar.gz.part").write_bytes(photo_tar[:500])
    entry = entry_for(server.url("/photos.tar.gz"), photo_tar)
    fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert server.requests == [("/photos.tar.gz", "bytes=500-")]
    assert len(os.listdir(tmp_path / "tinyphotos" / "images")) == N_PHOTOS + 1


def test_corrupted_byte_is_refused_before_extraction(server, photo_tar, tmp_path):
    bad = bytearray(photo_tar)
    bad[len(bad) // 2] ^= 0x01
    server.files["/photos.tar.gz"] = bytes(bad)
    entry = entry_for(server.url("/photos.tar.gz"), photo_tar)  # expects the good checksum
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert_nothing_left(tmp_path, "tinyphotos")
    assert not (tmp_path / ".downloads" / "photos.tar.gz.part").exists()  # a wrong file is not resumed


def _special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _zip_symlink():
    info = zipfile.ZipInfo("photos/link.jpg")
    info.external_attr = 0o120777 << 16
    return info


MALICIOUS = {
    "traversal": ("tar", [("photos/../../evil.jpg", b"x")], "path traversal"),
    "absolute": ("tar", [("/tmp/phash-harness-evil.jpg", b"x")], "absolute path"),
    "symlink": ("tar", [_special("photos/link.jpg", tarfile.SYMTYPE, "/etc/passwd")], "symbolic link"),
    "hardlink": ("tar", [_special("photos/hard.jpg", tarfile.LNKTYPE, "/etc/passwd")], "hard link"),
    "device": ("tar", [_special("photos/dev", tarfile.CHRTYPE)], "device"),
    "fifo": ("tar", [_special("photos/fifo", tarfile.FIFOTYPE)], "FIFO"),
    "zip-traversal": ("zip", [("../evil.jpg", b"x")], "path traversal"),
    "zip-absolute": ("zip", [("/tmp/phash-harness-evil.jpg", b"x")], "absolute path"),
    "zip-symlink": ("zip", [_zip_symlink()], "symbolic link"),
    "duplicate": ("tar", [("photos/a.jpg", b"1"), ("photos/a.jpg", b"2")], "appears twice"),
    "file-folder-clash": (
        "tar",
        [("photos/a.jpg", b"1"), ("photos/a.jpg/b.jpg", b"2")],
        "overwrite an existing file|clashes",
    ),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archives_are_refused_and_leave_nothing(server, photos, tmp_path, case):
    kind, bad_members, reason = MALICIOUS[case]
    good = [(f"photos/{n}", b) for n, b in list(photos.items())[:3]]
    # the bad member comes last, so a check-as-you-go extractor would already have written files
    data = make_tar(good + bad_members) if kind == "tar" else make_zip(good + bad_members)
    server.files["/evil"] = data
    dest = tmp_path / "dest"
    entry = entry_for(server.url("/evil"), data, name="evil")
    with pytest.raises(UnsafeArchiveError, match=reason):
        fetch(entry, str(dest), progress=False, log=lambda m: None)
    assert_nothing_left(dest, "evil")
    assert not (tmp_path / "evil.jpg").exists()
    assert not os.path.exists("/tmp/phash-harness-evil.jpg")


def test_nested_archive_and_excluded_folders(server, photos, tmp_path):
    """Caltech-101's layout: a zip holding a tar.gz; people folders dropped."""
    names = sorted(photos)
    inner = make_tar(
        [(f"101_ObjectCategories/cats/{n}", photos[n]) for n in names[:4]]
        + [(f"101_ObjectCategories/Faces/{n}", photos[n]) for n in names[4:6]]
    )
    outer = make_zip([("caltech-101/101_ObjectCategories.tar.gz", inner), ("caltech-101/show_annotation.m", b"%")])
    server.files["/caltech-101.zip"] = outer
    entry = CatalogEntry(
        name="nested",
        title="t",
        images_dir="101_ObjectCategories",
        license="l",
        attribution="a",
        homepage="h",
        exclude=("Faces",),
        count=4,
        archives=(
            Archive(
                url=server.url("/caltech-101.zip"),
                sha256=sha(outer),
                filename="c.zip",
                inner="caltech-101/101_ObjectCategories.tar.gz",
                inner_sha256=sha(inner),
            ),
        ),
    )
    fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert sorted(os.listdir(tmp_path / "nested" / "images")) == ["cats"]
    assert sorted(os.listdir(tmp_path / "nested" / "images" / "cats")) == names[:4]
    # a wrong inner checksum stops before anything is kept
    entry2 = CatalogEntry(
        **{
            **entry.__dict__,
            "name": "nested2",
            "archives": (
                Archive(
                    url=server.url("/caltech-101.zip"),
                    sha256=sha(outer),
                    filename="c.zip",
                    inner="caltech-101/101_ObjectCategories.tar.gz",
                    inner_sha256="0" * 64,
                ),
            ),
        }
    )
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(entry2, str(tmp_path), progress=False, log=lambda m: None)
    assert_nothing_left(tmp_path, "nested2", downloads_too=False)  # the verified outer archive is kept


def test_file_url_and_missing_checksum_rules(photo_tar, tmp_path):
    archive = tmp_path / "supplied.tar.gz"
    archive.write_bytes(photo_tar)
    entry = entry_for(archive.as_uri(), photo_tar, name="supplied")
    fetch(entry, str(tmp_path / "d"), keep_archives=True, progress=False, log=lambda m: None)
    assert (tmp_path / "d" / "supplied" / "MANIFEST.csv").is_file()
    assert (tmp_path / "d" / ".downloads" / "photos.tar.gz").is_file()  # kept on request
    # catalogue entries without a verified checksum need --sha256
    holidays = get_entry("inria-holidays")
    assert not holidays.verified
    with pytest.raises(ConfigError, match="--sha256"):
        fetch(holidays, str(tmp_path / "h"), log=lambda m: None)
    # user-supplied archives need --url
    with pytest.raises(ConfigError, match="--url"):
        fetch(get_entry("imagenet-val"), str(tmp_path / "i"), log=lambda m: None)
    assert not (tmp_path / "h").exists() and not (tmp_path / "i").exists()


def test_cli_fetch_url_and_errors(server, photo_tar, tmp_path, capsys):
    from harness.cli import main

    server.files["/photos.tar.gz"] = photo_tar
    url = server.url("/photos.tar.gz")
    good = sha(photo_tar)
    r = run_cli(
        "fetch",
        "--url",
        url,
        "--sha256",
        good.upper(),
        "--name",
        "mine",
        "--dest",
        tmp_path / "d",
        "--images-dir",
        "photos",
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "mine" / "MANIFEST.csv").is_file()
    assert r.stderr == ""  # no progress bar when not a tty

    r = run_cli("fetch", "--url", url, "--sha256", "0" * 64, "--name", "wrong", "--dest", tmp_path / "d")
    assert r.returncode == 1 and "sha256 mismatch" in r.stderr
    assert not (tmp_path / "d" / "wrong").exists()

    for args, field in [
        (("fetch", "no-such-set"), "NAME"),
        (("fetch", "--url", url, "--sha256", "abc", "--name", "x", "--dest", tmp_path), "--sha256"),
        (("fetch", "--url", url, "--name", "x", "--dest", tmp_path), "--sha256"),
        (("fetch", "--url", "gopher://x/y", "--sha256", good, "--name", "x", "--dest", tmp_path), "--url"),
        (("fetch", "inria-holidays", "--dest", tmp_path / "h"), "--sha256"),
        (("fetch", "--url", url, "--sha256", good, "--name", "../up", "--dest", tmp_path), "--name"),
    ]:
        status = main([str(a) for a in args])  # in-process: quicker than a subprocess per case
        err = capsys.readouterr().err
        assert status == 2, (args, err)
        assert field in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "h").exists()

    assert main(["fetch", "--list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "caltech101",
        "coco2017-val",
        "inria-holidays",
        "inria-copydays",
        "openimages-v4-validation",
        "disc21-references-0",
        "imagenet-val",
    ):
        assert name in out


def test_archive_larger_than_free_space_is_refused(server, photo_tar, tmp_path, monkeypatch):
    import collections
    import shutil

    server.files["/photos.tar.gz"] = photo_tar
    entry = entry_for(server.url("/photos.tar.gz"), photo_tar)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(FetchError, match="only 1000 are free"):
        fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert_nothing_left(tmp_path, "tinyphotos", downloads_too=False)


def test_http_404_fails_cleanly(server, photo_tar, tmp_path):
    entry = entry_for(server.url("/missing.tar.gz"), photo_tar)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(entry, str(tmp_path), progress=False, log=lambda m: None)
    assert_nothing_left(tmp_path, "tinyphotos")
