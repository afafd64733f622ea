"""The report stage: report.md / report.html contents, figures, numbers
checked against an independent brute-force computation, reproducibility,
optional tables, and the `report` / `compare` commands."""

from __future__ import annotations

import re
import shutil
import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from harness import Results
from harness.report import write_report
from harness.report.compare import compare_folders, hanley_mcneil
from harness.report.style import HASHER_COLOURS, hasher_colour
from harness.report.summary import middle_severity, pooled_summary, robustness_fpr, severity_order
from tests.helpers import run_cli, run_main

CONFIG = {
    "name": "report-test",
    "dataset": {"source": "sample"},
    "hashers": ["phash", "dhash"],
    "transforms": [{"family": "jpeg", "severities": [70, 30]}, {"family": "rotate", "severities": [2, 10]}],
    "seed": 0,
    "metrics": {"target_fpr": 0.01, "fpr_points": [0.01, 0.001]},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from harness import run_experiment

    out = tmp_path_factory.mktemp("report") / "run"
    results = run_experiment(dict(CONFIG, output=str(out)), progress=False)
    assert not (out / "report.md").exists() and not (out / "figures").exists()  # the run draws nothing
    write_report(results, svg=True)
    return out


@pytest.fixture
def copy_dir(run_dir, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run_dir, dst)
    return dst


FIGURES = [
    "roc",
    "roc-jpeg",
    "roc-rotate",
    "det-jpeg",
    "det-rotate",
    "histograms",
    "robustness",
    "robustness-by-hasher",
    "heatmap",
]


def test_report_has_every_section_and_figure(run_dir):
    md = (run_dir / "report.md").read_text()
    for heading in (
        "How to read this",
        "What was run",
        "Summary per hasher",
        "Results per transform",
        "Robustness against severity",
        "Hasher x family at a middle severity",
        "ROC curves",
        "DET curves",
        "Distance histograms",
        "Collision gallery",
        "Deployment risk",
        "Errors",
        "Configuration",
    ):
        assert f"## {heading}" in md, heading
    for name in FIGURES:
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 1000, name
        assert (run_dir / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml"), name
        assert f"](figures/{name}.png)" in md and f"(figures/{name}.svg)" in md
    # tables at the top, figures only in figures/
    assert not [p.name for p in run_dir.iterdir() if p.suffix in (".png", ".svg")]
    info = Results.load(run_dir).run_info
    assert info["dataset"]["manifest_sha256"] in md
    assert "seed 0" in md and "library versions: " in md and "numpy" in md
    assert "16 hashed" in md


def test_html_is_self_contained(run_dir):
    html = (run_dir / "report.html").read_text()
    srcs = re.findall(r'<img src="([^"]{0,30})', html)
    assert len(srcs) == len(FIGURES) + (run_dir / "figures" / "gallery.png").is_file()
    assert all(re.match(r"data:image/(png|jpeg|svg\+xml);base64,", s) for s in srcs), srcs
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # no external reference at all (in-page links only)
    # the only scripts are the explorer's: its data (JSON) and its inline code, nothing loaded from elsewhere
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/json" id="explorer-data">', "<script>"]
    assert "http://" not in html and "https://" not in html


def test_each_figure_is_embedded_as_its_smallest_form(tmp_path):
    """A plot: its palette PNG (or its SVG when that is smaller); a
    photograph: a JPEG when smaller than the PNG. The files stay as they are."""
    import io

    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    from harness.report.document import embedded_figure
    from harness.report.style import save_figure

    fig = Figure(figsize=(14, 3))
    fig.subplots().plot([0, 1, 2], [1, 0, 1], color="#0072B2")
    save_figure(fig, str(tmp_path / "plot"))
    png = (tmp_path / "plot.png").read_bytes()
    with Image.open(tmp_path / "plot.png") as im:
        assert im.mode == "P" and im.width == 1100  # palette, at most MAX_PNG_WIDTH px for 14 inches
    assert embedded_figure(str(tmp_path / "plot")) == ("image/png", png)
    (tmp_path / "plot.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert embedded_figure(str(tmp_path / "plot"))[0] == "image/svg+xml"
    noise = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "photo.png")
    mime, data = embedded_figure(str(tmp_path / "photo"))
    assert mime == "image/jpeg" and len(data) < (tmp_path / "photo.png").stat().st_size
    assert Image.open(io.BytesIO(data)).size == (300, 200)


def _bruteforce(run_dir, hasher):
    """Positive and variant-orig negative distances straight from
    hashes.parquet (Python int popcount, no harness code)."""
    h = pd.read_parquet(run_dir / "hashes.parquet")
    h = h[h["hasher"] == hasher]
    orig = h[h["transform"] == "original()"].set_index("image_id")
    pos, neg = [], []
    for _, v in h[h["transform"] != "original()"].iterrows():
        hv = int(v["hash_hex"], 16)
        for img, o in orig.iterrows():
            d = bin(hv ^ int(o["hash_hex"], 16)).count("1")
            if img == v["image_id"]:
                pos.append(d)
            elif o["group"] != v["group"]:
                neg.append(d)
    return np.array(pos), np.array(neg)


def test_pooled_summary_equals_bruteforce(run_dir):
    data = Results.load(run_dir)
    summary = pooled_summary(data).set_index("hasher")
    for hasher in ("phash", "dhash"):
        pos, neg = _bruteforce(run_dir, hasher)
        row = summary.loc[hasher]
        assert row["n_pos"] == len(pos) == 16 * 4 and row["n_neg"] == len(neg)
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        assert row["auc"] == pytest.approx(roc_auc_score(y, -np.r_[pos, neg]), abs=1e-12)
        # threshold: largest t with FPR(t) <= 0.01, by brute force over t
        t = max(t for t in range(-1, 65) if (neg <= t).mean() <= 0.01)
        assert row["threshold"] == t
        assert row["tpr_at_threshold"] == pytest.approx((pos <= t).mean())
        assert row["fpr_at_threshold"] == pytest.approx((neg <= t).mean())
        k = int((pos <= t).sum())
        ci = stats.binomtest(k, len(pos)).proportion_ci(0.95, method="exact")
        assert (row["tpr_at_threshold_lo"], row["tpr_at_threshold_hi"]) == pytest.approx((ci.low, ci.high))
        # FPR 1e-4 cannot be observed with a few hundred negative pairs
        assert np.isnan(row["tpr_at_fpr_0.0001"]) and np.isnan(row["tpr_at_fpr_0.0001_lo"])


def test_not_measurable_is_printed_never_a_number(run_dir):
    md = (run_dir / "report.md").read_text()
    table = md.split("## Summary per hasher")[1].split("## ")[0]
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    col = header.index("TPR at FPR 0.0001")
    for ln in lines[1:]:
        assert [c.strip() for c in ln.strip("|").split("|")][col] == "not measurable"
    per = [ln for ln in md.split("## Results per transform")[1].split("## ")[0].splitlines() if ln.startswith("| ")]
    col = [c.strip() for c in per[0].strip("|").split("|")].index("tpr_at_fpr_1e-3")
    assert {[c.strip() for c in ln.strip("|").split("|")][col] for ln in per[2:]} == {"not measurable"}
    assert not re.search(r"\bnan\b", md.lower())


def test_report_is_byte_reproducible(run_dir, copy_dir):
    """Regenerating the report (in another process, via the CLI) gives the
    same bytes for report.md, report.html and every PNG and SVG."""
    names = ["report.md", "report.html"] + [f"figures/{f}.{e}" for f in FIGURES for e in ("png", "svg")]
    before = {n: (copy_dir / n).read_bytes() for n in names}  # as write_report(results) drew them
    res = run_cli("report", copy_dir, "--svg")
    assert res.returncode == 0, res.stderr
    assert "report.html" in res.stdout
    for n in names:
        assert (copy_dir / n).read_bytes() == before[n], n


def test_intervals_and_recommended_threshold_columns_are_rendered(run_dir, copy_dir):
    m = pd.read_csv(copy_dir / "metrics.csv")
    m["tpr_at_fpr_1e-2_lo"] = 0.123456
    m["tpr_at_fpr_1e-2_hi"] = 0.987654
    m["recommended_threshold"] = m["hasher"].map({"phash": 9, "dhash": 11})
    m.to_csv(copy_dir / "metrics.csv", index=False)
    (copy_dir / "thresholds.csv").unlink(missing_ok=True)  # else it takes precedence over metrics.csv
    write_report(str(copy_dir))
    md = (copy_dir / "report.md").read_text()
    assert "[0.123, 0.988]" in md
    per = md.split("## Results per transform")[1].split("## ")[0]
    assert "recommended_threshold" in per and "tpr_at_fpr_1e-2_lo" not in per
    summary = pooled_summary(Results.load(copy_dir)).set_index("hasher")
    assert summary.loc["phash", "recommended_threshold"] == 9 and summary.loc["dhash", "recommended_threshold"] == 11
    assert summary.loc["phash", "recommended_from"] == "metrics.csv"
    assert "recommended t (metrics stage)" in md.split("## Summary per hasher")[1].split("## ")[0]
    # the point threshold is still the pooled one, not the recommendation
    original = pooled_summary(Results.load(run_dir)).set_index("hasher")
    assert (summary["threshold"] == original["threshold"]).all()


def test_optional_tables_risk_extra_and_gallery(copy_dir, monkeypatch):
    pd.DataFrame({"scenario": ["apple"], "fpr": [1e-6], "per_account": [float("nan")]}).to_csv(
        copy_dir / "risk.csv", index=False
    )
    pd.DataFrame({"check": ["decode"], "value": [3]}).to_csv(copy_dir / "diagnostics.csv", index=False)
    pd.DataFrame({"threshold": [1, 2], "p_flag": [1e-30, 1e-20]}).to_csv(copy_dir / "risk_sweep.csv", index=False)
    shutil.copy(copy_dir / "figures" / "heatmap.png", copy_dir / "risk.png")  # where older versions put it
    pd.DataFrame(
        {
            "hasher": ["phash", "phash", "dhash"],
            "negatives": "orig-orig",
            "target_fpr": 0.01,
            "recommended_threshold": [7, 7, -1],
            "fp": [0, 0, 0],
            "n_neg": 119,
            "fpr_upper": 0.0096,
            "transform": ["jpeg(70)", "rotate(10)", "jpeg(70)"],
            "family": ["jpeg", "rotate", "jpeg"],
            "severity": [70, 10, 70],
            "tpr": [1.0, 0.25, 0.0],
            "tpr_cp_lo": [0.79, 0.07, 0.0],
            "tpr_cp_hi": [1.0, 0.52, 0.2],
        }
    ).to_csv(copy_dir / "thresholds.csv", index=False)
    pd.DataFrame({"hasher": ["phash"], "threshold": [0], "fpr_model": [1e-9]}).to_csv(
        copy_dir / "extrapolation.csv", index=False
    )
    # without close_pairs.parquet: the gallery section says why it is missing
    (copy_dir / "close_pairs.parquet").unlink(missing_ok=True)
    write_report(str(copy_dir))
    md = (copy_dir / "report.md").read_text()
    risk = md.split("## Deployment risk")[1].split("## ")[0]
    assert "apple" in risk and "not measurable" in risk and "](risk.png)" in risk
    (copy_dir / "risk.png").rename(copy_dir / "figures" / "risk.png")
    write_report(str(copy_dir))
    md = (copy_dir / "report.md").read_text()
    assert "](figures/risk.png)" in md.split("## Deployment risk")[1].split("## ")[0]
    assert "`risk_sweep.csv` (2 rows)" in md and "1e-30" not in md
    assert "## Other table: diagnostics.csv" in md
    rec = md.split("## Recommended thresholds")[1].split("## ")[0]
    assert "| phash | orig-orig | 7 |" in rec and "| dhash | orig-orig | none |" in rec
    assert "| rotate(10) | 0.25 [0.07, 0.52] |" in rec
    # a model's extrapolated FPR is never printed among measured figures
    assert "1e-09" not in md and "extrapolation.csv" in md
    assert "Not drawn" in md.split("## Collision gallery")[1].split("## ")[0]
    # with close pairs and a gallery module: its sheet is embedded
    pd.DataFrame({"hasher": ["phash"], "distance": [3], "a": ["x"], "b": ["y"]}).to_parquet(
        copy_dir / "close_pairs.parquet"
    )
    calls = []

    def collision_sheet(close_pairs, images, path, k, per_hasher=None):
        calls.append((len(close_pairs), len(images), k, per_hasher))
        from PIL import Image

        Image.new("RGB", (40, 20), (200, 0, 0)).save(path)

    fake = types.ModuleType("harness.report.gallery")
    fake.collision_sheet = collision_sheet
    monkeypatch.setitem(sys.modules, "harness.report.gallery", fake)
    import harness.report as report_pkg

    monkeypatch.setattr(report_pkg, "gallery", fake, raising=False)
    write_report(str(copy_dir))
    assert calls == [(1, 16, 12, 4)]
    md = (copy_dir / "report.md").read_text()
    assert "](figures/gallery.png)" in md and (copy_dir / "figures" / "gallery.png").is_file()
    assert (copy_dir / "report.html").read_text().count("<img ") == len(FIGURES) + 2  # + risk, gallery


def test_hasher_colours_are_fixed_and_distinct():
    assert hasher_colour("phash") == HASHER_COLOURS["phash"]
    shipped = ["ahash", "phash", "dhash", "whash", "pdq"]
    assert len({hasher_colour(h) for h in shipped}) == len(shipped)
    assert hasher_colour("my-new-hasher") == hasher_colour("my-new-hasher")
    assert hasher_colour("my-new-hasher") not in HASHER_COLOURS.values()


def test_series_separates_parameter_sets():
    from harness.report.summary import series_of

    assert series_of("crop(0.9)", "crop") == "crop"
    assert series_of('crop(0.9,position="off-centre")', "crop") == "crop (position=off-centre)"
    assert series_of('flip("horizontal")', "flip") == "flip"


def test_severity_order_runs_mild_to_severe():
    assert severity_order("jpeg", ["30", "90", "70"]) == ["90", "70", "30"]
    assert severity_order("rotate", ["10", "1", "5"]) == ["1", "5", "10"]
    assert severity_order("resize", [0.25, 0.75, 0.5]) == [0.75, 0.5, 0.25]
    assert middle_severity("jpeg", ["90", "70", "50", "30", "10"]) == "50"


def test_robustness_fpr_falls_back_when_not_measurable(run_dir):
    data = Results.load(run_dir)
    fpr, reason = robustness_fpr(data)
    assert fpr == 0.01 and "not measurable" in reason  # 0.001 needs >= 1000 negative pairs per edit
    data.metrics["n_neg"] = 5000
    assert robustness_fpr(data)[0] == 1e-3


def test_figures_use_the_hasher_colour(run_dir):
    svg = (run_dir / "figures" / "robustness.svg").read_text().lower()
    for h in ("phash", "dhash"):
        assert hasher_colour(h).lower() in svg


def test_det_axes_are_normal_deviates(run_dir):
    from scipy.stats import norm

    from harness.report import figures as F

    data = Results.load(run_dir)
    fig = F.det_family(data, "rotate", {})
    ax = fig.axes[0]
    labels = [float(t.get_text()) for t in ax.get_xticklabels()]
    assert np.allclose(ax.get_xticks(), norm.ppf(labels))


# ----------------------------------------------------------------- compare
def test_compare_flags_only_real_differences(run_dir, copy_dir, tmp_path):
    text, summary, table = compare_folders(str(run_dir), str(run_dir))
    assert (table["status"] == "").all() and "0 flagged" in summary
    m = pd.read_csv(copy_dir / "metrics.csv")
    i = m.index[(m["hasher"] == "phash") & (m["transform"] == "rotate(10)") & (m["negatives"] == "variant-orig")][0]
    j = m.index[(m["hasher"] == "dhash") & (m["transform"] == "jpeg(70)") & (m["negatives"] == "variant-orig")][0]
    a_tpr = m.at[i, "tpr_at_threshold"]
    m.at[i, "tpr_at_threshold"] = 0.0 if a_tpr > 0.5 else 1.0  # far outside a 16-pair interval
    m.at[j, "tpr_at_threshold"] = m.at[j, "tpr_at_threshold"] - 1 / 16  # one pair: within the interval
    m.at[j, "auc"] = float("nan")
    m.to_csv(copy_dir / "metrics.csv", index=False)
    text, summary, table = compare_folders(str(run_dir), str(copy_dir))
    flagged = table[table["status"] != ""]
    got = set(zip(flagged["hasher"], flagged["transform"], flagged["metric"], flagged["status"]))
    assert got == {
        ("phash", "rotate(10)", "tpr_at_threshold", "DIFFERS"),
        ("dhash", "jpeg(70)", "auc", "measurable in one run only"),
    }
    assert "## Flagged: 2 of" in text


def test_compare_uses_interval_columns_when_present(run_dir, copy_dir):
    m = pd.read_csv(copy_dir / "metrics.csv")
    m["auc"] = m["auc"] + 1e-3  # tiny shift, but beyond these (artificially) narrow intervals
    for c in ("auc", "tpr_at_threshold"):
        m[c + "_lo"], m[c + "_hi"] = m[c] - 1e-6, m[c] + 1e-6
    m.to_csv(copy_dir / "metrics.csv", index=False)
    a = copy_dir.parent / "a"
    shutil.copytree(copy_dir, a)
    ma = m.copy()
    ma["auc"] = ma["auc"] - 1e-3
    ma["auc_lo"], ma["auc_hi"] = ma["auc"] - 1e-6, ma["auc"] + 1e-6
    ma.to_csv(a / "metrics.csv", index=False)
    _, _, table = compare_folders(str(a), str(copy_dir))
    auc = table[(table["metric"] == "auc") & table["a"].notna()]
    assert (auc["method"] == "metrics.csv").all() and (auc["status"] == "DIFFERS").all()


def test_hanley_mcneil_is_a_sensible_interval():
    lo, hi = hanley_mcneil(0.9, 50, 500)
    assert lo < 0.9 < hi and hi - lo < 0.2
    lo2, hi2 = hanley_mcneil(0.9, 500, 5000)
    assert hi2 - lo2 < hi - lo


def test_compare_and_report_commands(run_dir, tmp_path):
    out = tmp_path / "sub" / "cmp.md"
    res = run_cli("compare", run_dir, run_dir, "--output", out)
    assert res.returncode == 0, res.stderr
    assert "0 flagged" in res.stdout and out.read_text().startswith("# phash-harness compare")
    bad = run_main("compare", run_dir, tmp_path / "missing", "--output", tmp_path / "x.md")
    assert bad.returncode == 2 and "DIR_B" in bad.stderr and not (tmp_path / "x.md").exists()
    bad = run_main("report", tmp_path)
    assert bad.returncode == 2 and "DIR" in bad.stderr


def _synthetic_folder(path, hashers, specs, n_neg=300, seed=1):
    """A results folder built from made-up histograms (no images): text
    severities, a single-severity family, five hashers, a transform without
    negative pairs."""
    from harness.metrics.summary import summarise

    rng = np.random.default_rng(seed)
    rows = []
    for hasher in hashers:
        oo = rng.multinomial(n_neg // 2, np.ones(65) / 65)
        rows += [(hasher, 64, "original()", "original", "", "orig-orig", d, int(c)) for d, c in enumerate(oo) if c]
        for key, family, sev in specs:
            pos = rng.multinomial(20, np.r_[np.ones(10), np.zeros(55)] / 10)
            rows += [(hasher, 64, key, family, sev, "positive", d, int(c)) for d, c in enumerate(pos) if c]
            if key != "pad(0.1)":  # no negatives for this one: everything not measurable
                neg = rng.multinomial(n_neg, np.r_[np.zeros(8), np.ones(57)] / 57)
                rows += [(hasher, 64, key, family, sev, "variant-orig", d, int(c)) for d, c in enumerate(neg) if c]
    hist = pd.DataFrame(
        rows, columns=["hasher", "bits", "transform", "family", "severity", "kind", "distance", "count"]
    )
    path.mkdir(parents=True)
    hist.to_parquet(path / "histograms.parquet", index=False)
    summarise(hist, 1e-3, (1e-2, 1e-3)).to_csv(path / "metrics.csv", index=False)
    (path / "run.json").write_text('{"name": "synthetic", "seed": 3}')
    return path


def test_report_copes_with_text_severities_many_hashers_and_missing_negatives(tmp_path):
    hashers = ["ahash", "phash", "dhash", "whash", "pdq"]
    specs = [
        ("flip(horizontal)", "flip", "horizontal"),
        ("flip(vertical)", "flip", "vertical"),
        ("jpeg(50)", "jpeg", "50"),
        ("pad(0.1)", "pad", "0.1"),
    ]
    folder = _synthetic_folder(tmp_path / "syn", hashers, specs)
    write_report(str(folder), svg=True)
    md = (folder / "report.md").read_text()
    assert "## Robustness against severity" in md and "## Configuration" in md
    assert not re.search(r"\bnan\b", md.lower())
    per = [ln for ln in md.split("## Results per transform")[1].split("## ")[0].splitlines() if "pad(0.1)" in ln]
    assert len(per) == 5 and all(ln.count("not measurable") >= 4 for ln in per)
    for name in ("roc-flip", "det-flip", "roc-pad", "heatmap", "robustness"):
        assert (folder / "figures" / f"{name}.png").is_file(), name
    # five hashers, five fixed colours in the robustness figure
    svg = (folder / "figures" / "robustness-by-hasher.svg").read_text().lower()
    assert all(hasher_colour(h).lower() in svg for h in hashers)


def test_a_failing_figure_is_reported_not_fatal(copy_dir, monkeypatch):
    from harness.report import figures as F

    def broken(*args, **kwargs):
        raise ValueError("synthetic failure")

    monkeypatch.setattr(F, "heatmap", broken)
    with pytest.warns(RuntimeWarning, match="heatmap"):
        write_report(str(copy_dir))
    md = (copy_dir / "report.md").read_text()
    assert "Figure `heatmap` could not be drawn: ValueError: synthetic failure" in md
    assert "](figures/robustness.png)" in md


def test_svg_only_when_asked(copy_dir):
    """PNG by default; SVG with svg=True (or --svg); a report without SVG
    removes the SVGs of an earlier one, so figures/ never mixes two reports."""
    assert (copy_dir / "figures" / "roc.svg").is_file()  # the fixture's report asked for SVG
    write_report(Results.load(copy_dir))
    figures = sorted(p.name for p in (copy_dir / "figures").iterdir())
    assert "roc.png" in figures and not [n for n in figures if n.endswith(".svg")]
    md = (copy_dir / "report.md").read_text()
    assert ".svg" not in md and "](figures/roc.png)" in md
    res = run_cli("report", copy_dir, "--svg")
    assert res.returncode == 0, res.stderr
    assert {f"{f}.svg" for f in FIGURES} <= {p.name for p in (copy_dir / "figures").iterdir()}
