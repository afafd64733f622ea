"""One spelling of the output option (`--output`) and one environment
prefix (`HARNESS_`), with the old spellings (`--out`, `$PHASH_HARNESS_DATA`)
still accepted for one release and warned about; benchmarks run from a
source checkout only and are not part of the installed package."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import tomllib

from harness.cli import build_parser, main
from harness.datasets.catalog import default_dest
from tests.helpers import ROOT, run_cli

RISK = ["risk", "--fpr", "1e-9", "--database-size", "1e6", "--photos-per-year", "2000", "--match-threshold", "30"]


@pytest.mark.parametrize("command", [["screen", "DIR"], RISK])
def test_output_is_the_spelling_and_out_is_a_deprecated_alias(command, capsys):
    parser = build_parser()
    assert parser.parse_args(command + ["--output", "A"]).output == "A"
    assert parser.parse_args(command).output is None
    assert "deprecated" not in capsys.readouterr().err
    assert parser.parse_args(command + ["--out", "B"]).output == "B"
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out is deprecated" in err and "use --output" in err
    assert "--out " not in parser._subparsers._group_actions[0].choices[command[0]].format_help()


def test_risk_writes_the_same_tables_with_either_spelling(tmp_path, capsys):
    assert main(RISK + ["--output", str(tmp_path / "new")]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(RISK + ["--out", str(tmp_path / "old")]) == 0
    assert "--out is deprecated" in capsys.readouterr().err
    for name in ("risk.csv", "risk_sweep.csv"):
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()


def test_risk_without_results_names_output_when_missing(capsys):
    assert main(RISK) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--output" in err


def test_harness_data_is_read_and_the_old_name_warns(monkeypatch, tmp_path):
    monkeypatch.delenv("PHASH_HARNESS_DATA", raising=False)
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "new"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert default_dest() == str(tmp_path / "new")
    monkeypatch.setenv("PHASH_HARNESS_DATA", str(tmp_path / "old"))
    assert default_dest() == str(tmp_path / "new")  # the new name wins
    monkeypatch.delenv("HARNESS_DATA")
    with pytest.warns(FutureWarning, match="PHASH_HARNESS_DATA is deprecated.*HARNESS_DATA"):
        assert default_dest() == str(tmp_path / "old")


def test_old_env_name_warns_on_stderr_from_the_command_line(tmp_path):
    proc = run_cli(
        "screen",
        "tinyset",
        "--output",
        tmp_path / "s",
        env={"PHASH_HARNESS_DATA": str(tmp_path / "data"), "HARNESS_DATA": ""},
    )
    assert proc.returncode == 2  # tinyset is not fetched there
    assert "PHASH_HARNESS_DATA is deprecated" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_no_old_env_prefix_left_in_the_package():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "harness").rglob("*.py")
        if "PHASH_HARNESS_" in p.read_text() and p.name != "catalog.py"
    ]
    assert not offenders


# ---------------------------------------------------------------- benchmarks
def test_benchmarks_are_not_packaged():
    import setuptools

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(where=str(ROOT), include=conf["include"])
    assert "harness" in packages and "harness.metrics" in packages
    assert not [p for p in packages if p.startswith("benchmarks") or ".bench" in p]
    assert (ROOT / "benchmarks" / "__init__.py").is_file() and not (ROOT / "harness" / "bench").exists()


def test_bench_without_a_checkout_says_so_in_one_line(tmp_path):
    empty = tmp_path / "nowhere"
    empty.mkdir()
    proc = run_cli("bench", "pairs", "--n", "10", env={"HARNESS_BENCHMARKS": str(empty)})
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "source checkout" in proc.stderr
    assert "HARNESS_BENCHMARKS" in proc.stderr


def test_bench_finds_the_checkout_and_an_explicit_folder(tmp_path):
    proc = run_cli("bench", "--help")
    assert proc.returncode == 0 and "transforms" in proc.stdout and "pairs" in proc.stdout
    proc = run_cli("bench", "--help", env={"HARNESS_BENCHMARKS": str(ROOT / "benchmarks")})
    assert proc.returncode == 0 and "study_cost" in proc.stdout


def test_bench_run_has_no_machine_default_for_perception(tmp_path):
    proc = run_cli("bench", "run", "--help")
    assert proc.returncode == 0 and "/work" not in proc.stdout and "venv-perception" not in proc.stdout
    proc = run_cli(
        "bench",
        "run",
        "--dataset",
        tmp_path,
        "--perception-python",
        tmp_path / "no-python",
        "--output",
        tmp_path / "out",
    )
    assert proc.returncode == 2 and "--perception-python" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    text = (ROOT / "benchmarks" / "run.py").read_text()
    assert "/work/" not in text


def test_bench_transforms_times_every_family(tmp_path):
    out = tmp_path / "transforms.csv"
    proc = run_cli("bench", "transforms", "--limit", "1", "--output", out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    from harness.transforms.families import families_in_order

    assert list(table["family"]) == [f.name for f in families_in_order()]
    assert (table["median_ms_per_variant"] > 0).all()
