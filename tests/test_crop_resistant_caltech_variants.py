"""crop_resistant on the reference study's variants of two more Caltech-101
photos (the 15th and 29th of test_crop_resistant_caltech.py's 40): a file
of its own so that the parallel test run can give it a worker."""

from __future__ import annotations

import pytest

from tests.test_crop_resistant_caltech import caltech_paths, check_study_variants


@pytest.mark.slow
@pytest.mark.parametrize("k", [14, 28])
def test_study_variants_equal_imagehash(caltech_dir, k):
    check_study_variants(caltech_paths(caltech_dir)[k])
