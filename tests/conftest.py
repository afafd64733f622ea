"""Fixtures; the helpers themselves live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import dataset_dir


@pytest.fixture
def tiny_dir() -> Path:
    """caltech101_tiny: 96 real JPEG photos, one per category."""
    return dataset_dir("caltech101_tiny")


@pytest.fixture
def kodak_dir() -> Path:
    return dataset_dir("kodak24")


@pytest.fixture
def caltech_dir() -> Path:
    return dataset_dir("caltech101")
