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
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
]


def _require_chromium() -> str:
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("HARNESS_REQUIRE_DATA") == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; required in CI")
    pytest.skip(message)


class DevTools:
    """Minimal DevTools-protocol client over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: str):
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()

        def child_fds():  # put our pipe ends on fds 3 and 4 of the child
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no answer from the browser")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise EOFError("browser closed the pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self._read(deadline - time.monotonic())
            self.events.append(ev)
            if ev.get("method") == method:
                return ev
        raise TimeoutError(method)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.events.append(self._read(end - time.monotonic()))
            except TimeoutError:
                break

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  src: i.src.slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})))"""


def inspect_page(path: Path) -> dict:
    """Open `path` in headless Chromium; return {'images': [...], 'errors':
    [...], 'requests': [...]}: image load states, console/JS/log errors and
    every URL the page requested."""
    binary = _require_chromium()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    browser = DevTools(binary, profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", timeout=60)
        browser.drain(0.5)
        res = browser.send("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True}, session=session)
        images = json.loads(res["result"]["value"])
        errors, requests = [], []
        for ev in browser.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                errors.append(p["exceptionDetails"].get("text", "exception"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console: " + json.dumps(p.get("args"))[:200])
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append("log: " + p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                requests.append(p["request"]["url"][:60])
            elif m == "Network.loadingFailed":
                errors.append("load failed: " + p.get("errorText", ""))
        return {"images": images, "errors": errors, "requests": requests}
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


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
