"""Distance granularity (harness.metrics.granularity): pHash and PDQ
distances are even on real photos, the granularity each hasher states holds
(brute force over every pair of caltech101_tiny and kodak24), and
thresholds are quoted as the threshold they really are."""

from __future__ import annotations

import numpy as np
import pytest

from harness import get_hasher, list_hashers
from harness.metrics import distance_granularity, effective_threshold, granularity_at, threshold_text
from tests.helpers import dataset_dir

HAMMING = [n for n in list_hashers() if n != "neuralhash" and get_hasher(n).distance == "hamming"]


def test_effective_threshold_and_text():
    assert [effective_threshold(t, 2) for t in (-1, 0, 1, 30, 31, 75)] == [-1, 0, 0, 30, 30, 74]
    assert [effective_threshold(t, 1) for t in (0, 31)] == [0, 31]
    assert threshold_text(31, 2) == "31 (= 30, distances are even)"
    assert threshold_text(75, 2) == "75 (= 74, distances are even)"
    assert threshold_text(30, 2) == "30" and threshold_text(31, 1) == "31" and threshold_text(-1, 2) == "-1"
    with pytest.raises(ValueError, match="granularity must be an integer >= 1"):
        effective_threshold(3, 0)


def test_distance_granularity_of_histograms():
    assert distance_granularity([4, 0, 9, 0, 0, 0, 1]) == 2
    assert distance_granularity([0, 0, 0, 3, 0, 0, 5]) == 3
    assert distance_granularity([4, 1, 9]) == 1
    assert distance_granularity([7]) == 1 and distance_granularity([]) == 1  # no distance above 0: no claim


@pytest.fixture(scope="module")
def photo_hashes():
    """{hasher: packed hashes (n, nbytes)} of every caltech101_tiny and kodak24 photo."""
    paths = [p for name in ("caltech101_tiny", "kodak24") for p in sorted((dataset_dir(name) / "images").iterdir())]
    assert len(paths) >= 100
    out = {}
    for name in HAMMING:
        h = get_hasher(name)
        out[name] = np.stack([h.hash_file(p) for p in paths])
    return out


def _all_pair_distances(packed: np.ndarray) -> np.ndarray:
    x = np.bitwise_xor(packed[:, None, :], packed[None, :, :])
    d = np.bitwise_count(x).sum(axis=2, dtype=np.int64)
    return d[np.triu_indices(len(packed), k=1)]


@pytest.mark.parametrize("name", HAMMING)
def test_stated_granularity_holds_on_every_pair_of_real_photos(photo_hashes, name):
    """Brute force over every pair: between hashes without a median tie
    (bits // 2 ones) every distance is a multiple of the stated granularity;
    a hasher stating 1 really has odd distances."""
    h = get_hasher(name)
    packed = photo_hashes[name]
    if h.distance_granularity == 1:
        assert distance_granularity(np.bincount(_all_pair_distances(packed))) == 1, name
        return
    untied = np.bitwise_count(packed).sum(axis=1) == h.bits // 2
    assert untied.mean() > 0.95, name
    d = _all_pair_distances(packed[untied])
    assert (d % h.distance_granularity == 0).all()
    assert distance_granularity(np.bincount(d)) == h.distance_granularity, name


@pytest.mark.parametrize("name, ones", [("phash", 32), ("pdq", 128)])
def test_phash_and_pdq_hashes_have_half_their_bits_set(photo_hashes, name, ones):
    """No tie on any photo: every pHash and PDQ distance is even."""
    counts = np.bitwise_count(photo_hashes[name]).sum(axis=1)
    assert (counts == ones).all()
    assert (_all_pair_distances(photo_hashes[name]) % 2 == 0).all()


def test_a_tie_at_the_median_breaks_the_rule():
    """Why granularity is measured on histograms, not assumed: a flat image's
    coefficients tie at the median, and its pHash has an odd number of ones."""
    flat = np.full((64, 64, 3), 128, np.uint8)
    assert np.bitwise_count(get_hasher("phash").hash(flat)).sum() % 2 == 1


def test_granularity_at_keeps_the_claim_only_where_no_pair_sits_between():
    even = np.zeros(40, np.int64)
    even[::2] = 3  # orig-orig: every distance even
    tied = np.zeros(40, np.int64)
    tied[35] = 1  # one tied variant pair at 35
    assert granularity_at(31, 2, even, tied) == 2
    assert granularity_at(35, 2, even, tied) == 1
    assert threshold_text(35, granularity_at(35, 2, even, tied)) == "35"
    assert threshold_text(31, granularity_at(31, 2, even, tied)) == "31 (= 30, distances are even)"


def test_report_threshold_cells_quote_the_effective_threshold():
    import numpy as np

    from harness.report.build import fmt_threshold
    from harness.report.model import _threshold_cell

    even = np.array([0, 0, 3, 0, 5, 0, 2])  # every distance even: granularity 2
    assert _threshold_cell(5.0, 2, [even, even, even]) == "5 (= 4, distances are even)"
    assert _threshold_cell(4.0, 2, [even, even, even]) == "4"
    assert _threshold_cell(-1, 2, [even]) is None and _threshold_cell(float("nan"), 2, [even]) is None
    assert fmt_threshold(31.0, "bits", "31 (= 30, distances are even)") == "31 (= 30, distances are even)"
    assert fmt_threshold(30.0, "bits") == "30" and fmt_threshold(-1, "bits", "x") == "none"
    assert fmt_threshold(float("nan")) == "not measurable"
