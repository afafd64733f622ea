"""Two configurations of one hasher in a run stay apart in every table."""

from __future__ import annotations

import pandas as pd
import pytest

from harness import run_experiment
from harness.config import load_config
from harness.errors import ConfigError


def _config(tmp_path, hashers):
    return {
        "name": "labels",
        "dataset": {"source": "sample", "limit": 6},
        "hashers": hashers,
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "seed": 0,
        "output": str(tmp_path / "out"),
    }


def test_two_phash_configurations_have_their_own_rows(tmp_path):
    res = run_experiment(
        _config(tmp_path, ["phash", {"name": "phash", "params": {"hash_size": 16}}]), progress=False, workers=1
    )
    m = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert set(m["hasher"]) == {"phash", "phash[hash_size=16]"}
    rows = m[(m["transform"] == "jpeg(50)") & (m["negatives"] == "variant-orig")].set_index("hasher")
    assert (rows["n_pos"] == 6).all()  # not 12: the two were not merged
    assert rows.loc["phash", "bits"] == 64 and rows.loc["phash[hash_size=16]", "bits"] == 256
    h = res.hashes
    assert h.groupby("hasher")["hash_hex"].apply(lambda s: s.str.len().max()).to_dict() == {
        "phash": 16,
        "phash[hash_size=16]": 64,
    }


def test_the_same_configuration_twice_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, ["dhash", "phash", {"name": "dhash", "params": {}}]))
    assert "hashers[2]" in str(err.value) and "hashers[0]" in str(err.value)
    assert not (tmp_path / "out").exists()
