"""report.html opened in a real browser (headless Chromium, from disk):
every figure must load (naturalWidth > 0) and nothing may log an error.

The browser is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages separated by NUL bytes, the browser
reads fd 3 and writes fd 4), so no Selenium or websocket package is needed.
Skipped with a reason when /usr/bin/chromium is missing, except under
HARNESS_REQUIRE_DATA=1 or CI=true, where that is a failure (.ci/run installs
Debian's chromium).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, open_page, page_problems


def _require_chromium() -> str:
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("HARNESS_REQUIRE_DATA") == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; required in CI")
    pytest.skip(message)


IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  src: i.src.slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})))"""


def inspect_page(path: Path) -> dict:
    """Open `path` in headless Chromium; return {'images': [...], 'errors':
    [...], 'requests': [...]}: image load states, console/JS/log errors and
    every URL the page requested."""
    with open_page(path, binary=_require_chromium()) as (evaluate, _, browser):
        browser.drain(0.5)
        images = json.loads(evaluate(IMAGES_JS))
        errors, requests = page_problems(browser)
    return {"images": images, "errors": errors, "requests": requests}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    _require_chromium()
    from harness import run_experiment, write_report

    out = tmp_path_factory.mktemp("browser") / "run"
    results = run_experiment(
        {
            "name": "browser-check",
            "dataset": {"source": "sample"},
            "hashers": ["phash", "dhash"],
            "transforms": [{"family": "jpeg", "severities": [70, 30]}, {"family": "crop", "severities": [0.9, 0.7]}],
            "seed": 0,
            "output": str(out),
            "metrics": {"target_fpr": 0.01},
        },
        progress=False,
    )
    write_report(results)
    return out


def test_report_html_loads_every_figure_without_console_errors(report_dir):
    page = inspect_page(report_dir / "report.html")
    n_figures = (report_dir / "report.html").read_text().count("<img ")
    assert n_figures >= 8  # robustness x2, heatmap, roc, roc/det per family, histograms
    assert len(page["images"]) == n_figures
    for img in page["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    assert page["errors"] == []
    # self-contained: nothing but the file itself (and data: URIs) was requested
    assert all(u.startswith(("file:", "data:")) for u in page["requests"]), page["requests"]


def test_a_broken_figure_is_detected(report_dir, tmp_path):
    """The check can fail: a corrupted embedded image is reported."""
    html = (report_dir / "report.html").read_text()
    start = html.index('src="data:image/png;base64,') + len('src="data:image/png;base64,')
    broken = html[:start] + "AAAA" + html[start + 4 :]
    path = tmp_path / "broken.html"
    path.write_text(broken)
    page = inspect_page(path)
    assert any(img["w"] == 0 for img in page["images"])


def test_console_errors_and_missing_files_are_detected(tmp_path):
    """The check can fail: a page with a missing image, console.error and an
    uncaught exception reports all three."""
    _require_chromium()
    path = tmp_path / "bad.html"
    path.write_text(
        '<html><body><img src="missing.png"><script>console.error("boom"); undefinedFn();</script></body></html>'
    )
    page = inspect_page(path)
    assert page["images"][0]["w"] == 0
    text = " ".join(page["errors"])
    assert "boom" in text and "Uncaught" in text and "ERR_FILE_NOT_FOUND" in text
