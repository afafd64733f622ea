"""The report's first screen and its interactive explorer, in real headless
Chromium (the DevTools-pipe driver of tests/test_browser.py).

For a grid of hashers, thresholds and risk inputs set through
``window.explorer.set``, the numbers ``window.explorer.read()`` returns must
equal the FPR, TPR and risk figures computed in Python by harness.Results /
harness.risk to 4 significant digits, including a threshold with zero false
matches and an account tail below 1e-100. The page must log no error,
request nothing but file: and data: URLs, move its slider with the arrow
keys, and read top to bottom with JavaScript disabled.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import contextmanager

import pytest

from benchmarks.browser import open_page, page_problems
from harness import risk
from harness.results import Results
from tests.test_browser import _require_chromium


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    _require_chromium()
    from harness import run_experiment, write_report

    out = tmp_path_factory.mktemp("explorer") / "run"
    results = run_experiment(
        {
            "name": "explorer-check",
            "dataset": {"source": "sample"},
            "hashers": ["phash", "dhash"],
            "transforms": [{"family": "jpeg", "severities": [70, 30]}, {"family": "crop", "severities": [0.9, 0.7]}],
            "seed": 0,
            "output": str(out),
            "metrics": {"target_fpr": 0.01},
            "report": {"database_size": 1000, "photos_per_year": 500, "match_threshold": 3},
        },
        progress=False,
    )
    write_report(results)
    return out


@contextmanager
def page(path, scripts: bool = True):
    """(evaluate, send, browser) for `path` opened in headless Chromium."""
    with open_page(path, scripts=scripts, binary=_require_chromium()) as opened:
        yield opened


def same(a, b) -> bool:
    """Equal to 4 significant digits (exact zeros must be exact)."""
    if b == 0:
        return a == 0
    return a is not None and math.isclose(a, b, rel_tol=5e-5, abs_tol=0.0)


def expected(data: Results, hasher: str, t: int, scenario: dict) -> dict:
    """What the explorer must show, computed with harness.Results / harness.risk."""
    fpr = {}
    for neg in ("orig-orig", "variant-orig"):
        r = risk.rate_at_threshold(risk.fpr_table(data.histograms, hasher, neg), t)
        default = data.table("fpr.csv" if neg == "orig-orig" else "fpr_variant.csv")
        dep = risk.dependent_rate(default, hasher, t)  # the default interval where the run has it
        fpr[neg] = r if dep is None else risk.Rate(r.point, dep.low, dep.high, dep.method, r.x, r.n)
    tpr = {}
    for family in data.families:
        pos = data.hist(hasher, "positive", transforms=data.transforms_of(family))
        tpr[family] = (int(pos[: t + 1].sum()), int(pos.sum()))
    m, n, k, rho = (scenario[x] for x in ("database_size", "photos_per_year", "match_threshold", "rho"))
    q = fpr["orig-orig"].map(lambda p: risk.per_query_probability(p, m))
    acc = q.map(lambda x: risk.account_probability(x, n, k, rho))
    return {"fpr": fpr, "tpr": tpr, "q": q, "acc": acc}


def test_explorer_numbers_equal_harness_risk(report_dir):
    data = Results.load(report_dir)
    hashers = data.hashers
    cases, seen_zero, seen_tiny = 0, False, False
    with page(report_dir / "report.html") as (evaluate, _, browser):
        for hasher in hashers:
            oo = data.hist(hasher, "orig-orig").cumsum()
            t_first = int((oo > 0).argmax())  # smallest t with a false match (orig-orig)
            thresholds = sorted({0, t_first, data.bits(hasher) // 4, data.bits(hasher) // 2, data.bits(hasher)})
            scenarios = [
                {"database_size": 5_000_000, "photos_per_year": 2000, "match_threshold": 30, "rho": 0.0},
                {"database_size": 1000, "photos_per_year": 500, "match_threshold": 3, "rho": 0.2},
                {"database_size": 0, "photos_per_year": 10, "match_threshold": 1, "rho": 0.0},
                # one comparison per photo, 80 of 80 photos: p^80, far below 1e-100 when p ~ 1/119
                {"database_size": 1, "photos_per_year": 80, "match_threshold": 80, "rho": 0.0},
                {"database_size": 1, "photos_per_year": 80, "match_threshold": 60, "rho": 0.01},
            ]
            for t in thresholds:
                for sc in scenarios:
                    args = json.dumps({"hasher": hasher, "threshold": t, **sc})
                    got = json.loads(evaluate(f"JSON.stringify(window.explorer.set({args}))"))
                    assert got == json.loads(evaluate("JSON.stringify(window.explorer.read())"))
                    want = expected(data, hasher, t, sc)
                    where = f"{hasher} t={t} {sc}"
                    assert got["hasher"] == hasher and got["threshold"] == t, where
                    for neg, r in want["fpr"].items():
                        g = got["fpr"][neg]
                        assert (g["matches"], g["pairs"]) == (r.x, r.n), where
                        for key in ("point", "low", "high"):
                            assert same(g[key], getattr(r, key)), (where, neg, key, g[key], getattr(r, key))
                        seen_zero |= r.x == 0
                    assert set(got["tpr"]) == set(want["tpr"]), where
                    for family, (tp, n) in want["tpr"].items():
                        g = got["tpr"][family]
                        assert (g["matches"], g["pairs"]) == (tp, n) and same(g["point"], tp / n), where
                    risk_got = got["risk"]
                    assert risk_got["error"] is None and risk_got["negatives"] == "orig-orig", where
                    for key in ("point", "low", "high"):
                        assert same(risk_got["per_photo"][key], getattr(want["q"], key)), (where, key)
                        a, b = risk_got["per_account"][key], getattr(want["acc"], key)
                        assert same(a, b), (where, key, a, b)
                        seen_tiny |= 0 < b < 1e-100
                    assert same(risk_got["matches_per_year"], sc["photos_per_year"] * want["q"].point)
                    cases += 1
        ready = evaluate("window.explorer.ready_ms")
        errors, requests = page_problems(browser)
    print(f"explorer interactive {ready:.0f} ms after navigation start")  # measured, not asserted
    assert ready > 0
    assert cases == len(hashers) * 5 * len(scenarios) or cases >= 40
    assert seen_zero, "no case with zero false matches"
    assert seen_tiny, "no case with an account tail below 1e-100"
    assert errors == []
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests


def test_the_comparison_can_fail(report_dir, tmp_path):
    """A page whose per-account formula is off (binomial tail of q^2 instead
    of q) disagrees with harness.risk, and an unknown hasher is refused."""
    html = (report_dir / "report.html").read_text()
    broken = html.replace(
        "acc[key] = accountProbability(q[key], n, k, rho);",
        "acc[key] = accountProbability(q[key] * q[key], n, k, rho);",
    )
    assert broken != html
    path = tmp_path / "broken.html"
    path.write_text(broken)
    data = Results.load(report_dir)
    sc = {"database_size": 1, "photos_per_year": 80, "match_threshold": 60, "rho": 0.0}
    hasher = data.hashers[0]
    with page(path) as (evaluate, _, _browser):
        args = json.dumps({"hasher": hasher, "threshold": data.bits(hasher), **sc})
        got = json.loads(evaluate(f"JSON.stringify(window.explorer.set({args}))"))
        want = expected(data, hasher, data.bits(hasher), sc)
        assert want["acc"].point == 1.0 and got["risk"]["per_account"]["point"] == 1.0  # everything matches
        t = int((data.hist(hasher, "orig-orig").cumsum() > 0).argmax())
        got = json.loads(evaluate(f"JSON.stringify(window.explorer.set({json.dumps({'threshold': t})}))"))
        want = expected(data, hasher, t, sc)
        assert not same(got["risk"]["per_account"]["point"], want["acc"].point)
        refused = evaluate(
            "(() => { try { window.explorer.set({hasher: 'nope'}); return 'accepted'; }"
            " catch (e) { return String(e.message); } })()"
        )
        assert refused.startswith("unknown hasher nope")


def test_slider_moves_with_the_keyboard(report_dir):
    with page(report_dir / "report.html") as (evaluate, send, browser):
        evaluate("window.explorer.set({threshold: 5}); document.getElementById('ex-threshold').focus(); 0")
        assert evaluate("document.activeElement.id") == "ex-threshold"
        for _ in range(3):
            for kind in ("keyDown", "keyUp"):
                send(
                    "Input.dispatchKeyEvent",
                    {
                        "type": kind,
                        "key": "ArrowRight",
                        "code": "ArrowRight",
                        "windowsVirtualKeyCode": 39,
                        "nativeVirtualKeyCode": 39,
                    },
                )
        assert evaluate("window.explorer.read().threshold") == 8
        assert evaluate("document.getElementById('ex-tvalue').textContent").startswith("8 ")
        for kind in ("keyDown", "keyUp"):
            send(
                "Input.dispatchKeyEvent",
                {
                    "type": kind,
                    "key": "ArrowLeft",
                    "code": "ArrowLeft",
                    "windowsVirtualKeyCode": 37,
                    "nativeVirtualKeyCode": 37,
                },
            )
        assert evaluate("window.explorer.read().threshold") == 7
        # the histograms follow: the threshold line is drawn for t = 7
        assert "t = 7" in evaluate("document.getElementById('ex-hneg').innerHTML")
        errors, _ = page_problems(browser)
    assert errors == []


def test_without_javascript_the_report_reads_top_to_bottom(report_dir):
    """JavaScript disabled (Emulation.setScriptExecutionDisabled): the
    explorer stays hidden, the static report is all there."""
    with page(report_dir / "report.html", scripts=False) as (evaluate, _, browser):
        assert evaluate("typeof window.explorer") == "undefined"
        assert evaluate("document.getElementById('threshold-explorer').hidden") is True
        assert evaluate("document.getElementById('threshold-explorer').getClientRects().length") == 0
        headings = evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        assert headings[0].startswith("Answer first") and "How to read this" in headings
        assert evaluate("document.querySelectorAll('.first table.tpr td').length") > 0
        assert evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        errors, _ = page_problems(browser)
    assert errors == []


def test_figures_once_tables_in_boxes_long_tables_collapsed(report_dir, tmp_path):
    from harness.report.document import LONG_TABLE, render_html

    html = (report_dir / "report.html").read_text()
    figures = re.findall(r"data:image/(png|svg\+xml|jpeg);base64", html)
    names = {p.stem for p in (report_dir / "figures").glob("*.png")}
    assert figures and len(figures) == len(names)
    # every table sits in a box that scrolls sideways
    assert html.count("<table") == len(re.findall(r'<div class="scroll"><table', html)) + html.count("<table id=")
    long_rows = [[str(i), "x"] for i in range(LONG_TABLE + 1)]
    out = render_html(
        [("h", 1, "t"), ("table", ["a", "b"], long_rows), ("table", ["a", "b"], long_rows[:3])], str(tmp_path), "t"
    )
    assert out.count("<details>") == 1 and f"{LONG_TABLE + 1} rows" in out


def test_report_assumptions_are_validated():
    from harness.config import load_config
    from harness.errors import ConfigError

    base = {"dataset": {"source": "sample"}, "hashers": ["phash"], "transforms": []}
    assert load_config(base).report.database_size == 5_000_000
    with pytest.raises(ConfigError) as err:
        load_config({**base, "report": {"photos_per_year": 10, "match_threshold": 11}})
    assert "report.match_threshold" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config({**base, "report": {"rho": 1.0}})
    assert "report.rho" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config({**base, "report": {"users": 3}})
    assert "report.users" in str(err.value)


def test_bench_report_prints_size_figure_bytes_and_load_times(report_dir):
    """`phash-harness bench report DIR` on a small report: the size it
    prints is the file's, the figure bytes are those of the embedded
    figures, and every run has its times (their values are not checked)."""
    import base64
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "harness", "bench", "report", str(report_dir), "--runs", "2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    html = (report_dir / "report.html").read_bytes()
    size = re.search(r"^size: ([0-9.]+) MB \((\d+) bytes\)$", out, re.M)
    assert size and int(size.group(2)) == os.path.getsize(report_dir / "report.html"), out
    assert float(size.group(1)) == round(int(size.group(2)) / 1e6, 2)
    uris = re.findall(rb"data:image/[a-z+]+;base64,([A-Za-z0-9+/=]+)", html)
    figures = re.search(r"^figures: (\d+) embedded, (\d+) bytes as base64 \((\d+) bytes decoded", out, re.M)
    assert figures, out
    assert int(figures.group(1)) == len(uris) == html.count(b"<img ") > 0
    assert int(figures.group(2)) == sum(map(len, uris)) < int(size.group(2))
    assert int(figures.group(3)) == sum(len(base64.b64decode(u)) for u in uris)
    times = r"load ([0-9.]+) ms, explorer ([0-9.]+) ms, read ([0-9.]+) ms, interactive ([0-9.]+) ms$"
    runs = re.findall(r"^run \d: " + times, out, re.M)
    assert len(runs) == 2, out
    for load, explorer, _read, interactive in runs:
        assert float(load) > 0 and float(explorer) > 0 and float(interactive) >= float(load)
    assert re.search(r"^median of 2: " + times, out, re.M), out


def test_bench_report_refuses_a_folder_without_a_report(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "harness", "bench", "report", str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and "DIR: no report.html" in res.stderr and res.stdout == ""


# ------------------------------------------------------------ two hashes
@pytest.fixture(scope="module")
def cascade_dir(tmp_path_factory):
    """A sample run with joint histograms of (phash, pdq) and (dhash, phash)."""
    _require_chromium()
    from harness import run_experiment, write_report

    out = tmp_path_factory.mktemp("explorer-cascade") / "run"
    results = run_experiment(
        {
            "name": "explorer-cascade-check",
            "dataset": {"source": "sample"},
            "hashers": ["phash", "dhash", "pdq"],
            "transforms": [{"family": "jpeg", "severities": [70, 30]}, {"family": "crop", "severities": [0.9, 0.7]}],
            "seed": 0,
            "output": str(out),
            "metrics": {"target_fpr": 0.01, "hasher_pairs": [["phash", "pdq"], ["dhash", "phash"]]},
            "report": {"database_size": 1000, "photos_per_year": 500, "match_threshold": 3},
        },
        progress=False,
    )
    write_report(results)
    return out


def expected_cascade(data: Results, h1: str, h2: str, t1: int, t2: int, sc: dict) -> dict:
    """The AND rule computed with harness.metrics.cascade / clopper_pearson /
    harness.risk; (h1, h2) in either stored order."""
    from harness.metrics.cascade import cascade_rates, independence
    from harness.metrics.intervals import clopper_pearson

    table = data.table("joint_histograms.parquet")
    stored = set(zip(table["hasher_1"], table["hasher_2"]))

    def joint(kind, **kw):
        return data.joint_hist(h1, h2, kind, **kw) if (h1, h2) in stored else data.joint_hist(h2, h1, kind, **kw).T

    fpr = {}
    for neg in ("orig-orig", "variant-orig"):
        J = joint(neg)
        got = cascade_rates(J, t1, t2, "and")
        lo, hi = clopper_pearson(got.count, got.total)
        ind = independence(J, t1, t2, "and")
        fpr[neg] = {"matches": got.count, "pairs": got.total, "point": got.rate, "low": lo, "high": hi}
        fpr[neg].update({k: ind[k] for k in ("rate_1", "rate_2", "predicted", "ratio")})
    tpr = {}
    for family in data.families:
        got = cascade_rates(joint("positive", transforms=data.transforms_of(family)), t1, t2, "and")
        tpr[family] = {"matches": got.count, "pairs": got.total, "point": got.rate}
    m, n, k, rho = (sc[x] for x in ("database_size", "photos_per_year", "match_threshold", "rho"))
    q = {key: risk.per_query_probability(fpr["orig-orig"][key], m) for key in ("point", "low", "high")}
    acc = {key: risk.account_probability(q[key], n, k, rho) for key in q}
    return {"fpr": fpr, "tpr": tpr, "q": q, "acc": acc}


def test_explorer_cascade_numbers_equal_harness_metrics(cascade_dir):
    data = Results.load(cascade_dir)
    sc = {"database_size": 5_000_000, "photos_per_year": 2000, "match_threshold": 30, "rho": 0.0}
    cases, seen_zero, seen_ratio = 0, False, False
    with page(cascade_dir / "report.html") as (evaluate, _, browser):
        for h1, h2 in [("phash", "pdq"), ("pdq", "phash"), ("dhash", "phash"), ("phash", "dhash")]:
            b1, b2 = data.n_bins(h1) - 1, data.n_bins(h2) - 1
            for t1 in sorted({0, b1 // 8, b1 // 4, b1 // 2, b1}):
                for t2 in sorted({0, b2 // 8, b2 // 4, b2}):
                    args = json.dumps({"hasher": h1, "threshold": t1, "hasher2": h2, "threshold2": t2, **sc})
                    got = json.loads(evaluate(f"JSON.stringify(window.explorer.set({args}))"))
                    assert got == json.loads(evaluate("JSON.stringify(window.explorer.read())"))
                    where = f"{h1} t1={t1} {h2} t2={t2}"
                    c = got["cascade"]
                    assert (got["hasher2"], got["threshold2"]) == (h2, t2) and c["rule"] == "and", where
                    want = expected_cascade(data, h1, h2, t1, t2, sc)
                    assert set(c["fpr"]) == set(want["fpr"]), where
                    for neg, w in want["fpr"].items():
                        g = c["fpr"][neg]
                        assert (g["matches"], g["pairs"]) == (w["matches"], w["pairs"]), where
                        for key in ("point", "low", "high", "rate_1", "rate_2", "predicted"):
                            assert same(g[key], w[key]), (where, neg, key, g[key], w[key])
                        if w["predicted"] > 0:
                            assert same(g["ratio"], w["ratio"]), (where, neg)
                            seen_ratio = True
                        else:
                            assert g["ratio"] is None, where
                        seen_zero |= w["matches"] == 0
                    assert set(c["tpr"]) == set(want["tpr"]) == set(data.families), where
                    for family, w in want["tpr"].items():
                        g = c["tpr"][family]
                        assert (g["matches"], g["pairs"]) == (w["matches"], w["pairs"]) and same(g["point"], w["point"])
                    assert c["risk"]["error"] is None and c["risk"]["negatives"] == "orig-orig", where
                    for key in ("point", "low", "high"):
                        assert same(c["risk"]["per_photo"][key], want["q"][key]), (where, key)
                        assert same(c["risk"]["per_account"][key], want["acc"][key]), (where, key)
                    cases += 1
        # dropping the second hash, and a pair without joint histograms
        assert evaluate("window.explorer.set({hasher2: null}).cascade") is None
        refused = evaluate(
            "(() => { try { window.explorer.set({hasher: 'pdq', hasher2: 'dhash'}); return 'accepted'; }"
            " catch (e) { return String(e.message); } })()"
        )
        assert refused.startswith("no joint histograms of (pdq, dhash)")
        assert evaluate("document.getElementById('ex-cascade').hidden") is True
        evaluate("window.explorer.set({hasher: 'phash', hasher2: 'pdq', threshold: 10, threshold2: 40}); 0")
        assert evaluate("document.getElementById('ex-cascade').hidden") is False
        assert "measured / independent" in evaluate("document.getElementById('ex-cfpr').innerHTML")
        errors, requests = page_problems(browser)
    assert cases >= 60 and seen_zero and seen_ratio
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def test_the_cascade_comparison_can_fail(cascade_dir, tmp_path):
    """A page that forgets the second condition (counts d1 <= t1 only) disagrees."""
    html = (cascade_dir / "report.html").read_text()
    broken = html.replace("if (a <= t1 && b <= t2) both += c;", "if (a <= t1) both += c;")
    assert broken != html
    path = tmp_path / "broken.html"
    path.write_text(broken)
    data = Results.load(cascade_dir)
    sc = {"database_size": 1000, "photos_per_year": 500, "match_threshold": 3, "rho": 0.0}
    with page(path) as (evaluate, _, _browser):
        args = json.dumps({"hasher": "phash", "threshold": 32, "hasher2": "pdq", "threshold2": 0, **sc})
        got = json.loads(evaluate(f"JSON.stringify(window.explorer.set({args}))"))["cascade"]
    want = expected_cascade(data, "phash", "pdq", 32, 0, sc)
    assert got["fpr"]["variant-orig"]["matches"] > want["fpr"]["variant-orig"]["matches"]


def test_without_joint_histograms_there_is_no_second_hash(report_dir):
    with page(report_dir / "report.html") as (evaluate, _, browser):
        assert evaluate("document.getElementById('ex-hasher2')") is None
        assert evaluate("document.getElementById('ex-cascade')") is None
        got = evaluate("window.explorer.read()")
        assert "cascade" not in got and "hasher2" not in got
        refused = evaluate(
            "(() => { try { window.explorer.set({hasher2: 'dhash'}); return 'accepted'; }"
            " catch (e) { return String(e.message); } })()"
        )
        assert refused.startswith("no joint histograms in this report")
        errors, _ = page_problems(browser)
    assert errors == []
