"""A minimal headless-Chromium driver over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages separated by NUL bytes, the browser
reads fd 3 and writes fd 4), so no Selenium or websocket package is needed.
Used by `phash-harness bench report` and by the browser tests.

``open_page(path)`` starts a fresh browser (its own temporary profile),
opens `path` from disk and waits for the load event; it yields
(evaluate, send, browser).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

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


def chromium_binary() -> str | None:
    """$HARNESS_CHROMIUM (default /usr/bin/chromium) when it is an executable, else None."""
    return CHROMIUM if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK) else None


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


@contextmanager
def open_page(path, scripts: bool = True, binary: str | None = None, timeout: float = 60):
    """(evaluate, send, browser) for `path` (a pathlib.Path) opened in a
    fresh headless Chromium; the load event has fired when it yields."""
    binary = binary or chromium_binary()
    if binary is None:
        raise FileNotFoundError(f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    browser = DevTools(binary, profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        if not scripts:
            browser.send("Emulation.setScriptExecutionDisabled", {"value": True}, session=session)
        browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", timeout=timeout)

        def evaluate(expr: str):
            res = browser.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
            if "exceptionDetails" in res:
                raise AssertionError(res["exceptionDetails"])
            return res["result"].get("value")

        def send(method: str, params: dict):
            return browser.send(method, params, session=session)

        yield evaluate, send, browser
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def page_problems(browser) -> tuple[list, list]:
    """(errors, requested URLs) among the DevTools events `browser` has seen:
    uncaught exceptions, console errors and asserts, log errors and failed
    loads; every URL the page requested (first 60 characters)."""
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
    return errors, requests
