"""The installed OpenCV must provide cv2.img_hash (contrib), and the two
OpenCV wheels that write the same `cv2` package must be the same release, so
whichever was installed last, the files are identical (see pyproject.toml).
Packaging hygiene: one version source, an SPDX license with its file, and a
wheel that ships py.typed."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, as pip vendors it
    from pip._vendor import tomli as tomllib

import harness

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_cv2_img_hash_importable():
    cv2 = importlib.import_module("cv2")
    img_hash = importlib.import_module("cv2.img_hash") if not hasattr(cv2, "img_hash") else cv2.img_hash
    assert hasattr(img_hash, "PHash_create")
    assert img_hash.PHash_create() is not None


def test_both_opencv_distributions_have_the_same_version():
    contrib = metadata.version("opencv-contrib-python-headless")
    try:
        plain = metadata.version("opencv-python-headless")
    except metadata.PackageNotFoundError:
        plain = contrib  # only contrib installed: nothing to conflict with
    assert plain == contrib, f"opencv-python-headless {plain} != opencv-contrib-python-headless {contrib}"
    import cv2

    assert contrib.startswith(cv2.__version__)


# ------------------------------------------------------- packaging hygiene
def test_one_version_source():
    """pyproject.toml reads the version from harness.__version__ (no second
    copy), and the installed metadata agrees with the imported package."""
    pyproject = _pyproject()
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "harness.__version__"}
    assert harness.__version__ == metadata.version("phash-harness")


def test_license_is_an_spdx_expression_with_its_file():
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))  # superseded by SPDX


@pytest.mark.slow
def test_wheel_ships_py_typed_license_and_version(tmp_path):
    """Build the wheel as pip does (isolated build, setuptools>=77) and look
    inside: py.typed (PEP 561), the LICENSE file, the SPDX license and the
    version of harness.__version__ in the metadata."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("phash_harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"\nVersion: {harness.__version__}\n" in meta
    assert "\nLicense-Expression: MIT\n" in meta
