"""Size and time-to-interactive of an existing report.html in headless Chromium.

`phash-harness bench report DIR [--runs 5]` builds nothing: it opens
DIR/report.html from disk in a fresh headless Chromium per run (the
DevTools-pipe driver of benchmarks/browser.py, the one the browser tests
use) and prints

- the file's size (bytes and MB = 10^6 bytes), and how much of it is
  embedded figures (the base64 text of every ``data:image/...`` URI, and the
  figures' own bytes after decoding) and explorer data (the JSON block);
- per run and as the median over the runs: ``load`` (navigation start to
  the end of the load event, from the page's Navigation Timing entry),
  ``explorer`` (navigation start to the end of the explorer's script,
  ``window.explorer.ready_ms``), ``read`` (one ``window.explorer.read()``
  call) and ``interactive`` = max(load, explorer + read): the page is
  loaded and the explorer answers. All in milliseconds.

A page without the explorer (no negative pairs) reports n/a for the last
three. Nothing is written. A missing DIR/report.html or Chromium: one line,
exit 2.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from benchmarks.browser import CHROMIUM, chromium_binary, open_page

DATA_URI = re.compile(rb"data:(image/[a-z+]+);base64,([A-Za-z0-9+/=]+)")
EXPLORER_DATA = re.compile(rb'<script type="application/json" id="explorer-data">(.*?)</script>', re.S)

#: evaluated after the load event: (load end, explorer ready, one read() in ms)
TIMING_JS = """(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const out = {load: nav ? nav.loadEventEnd : null, explorer: null, read: null};
  if (window.explorer && typeof window.explorer.read === 'function') {
    const a = performance.now();
    window.explorer.read();
    out.read = performance.now() - a;
    out.explorer = window.explorer.ready_ms;
  }
  return JSON.stringify(out);
})()"""


def add_arguments(p) -> None:
    p.add_argument("dir", metavar="DIR", help="a results folder with report.html")
    p.add_argument("--runs", type=int, default=5, help="page loads, each in a fresh browser (default 5)")


def page_bytes(path: str) -> dict:
    """Size of report.html and of what it embeds: {"bytes", "figures",
    "figure_base64_bytes", "figure_bytes", "explorer_data_bytes"}."""
    with open(path, "rb") as fh:
        raw = fh.read()
    uris = DATA_URI.findall(raw)
    data = EXPLORER_DATA.search(raw)
    return {
        "bytes": len(raw),
        "figures": len(uris),
        "figure_base64_bytes": sum(len(b) for _, b in uris),
        "figure_bytes": sum(len(b) * 3 // 4 - len(b) + len(b.rstrip(b"=")) for _, b in uris),  # decoded size
        "explorer_data_bytes": len(data.group(1)) if data else 0,
    }


def load_times(path: Path, runs: int) -> list[dict]:
    """One {"load", "explorer", "read", "interactive"} (ms) per run."""
    import json

    out = []
    for _ in range(runs):
        with open_page(path, timeout=120) as (evaluate, _send, _browser):
            t = json.loads(evaluate(TIMING_JS))
        t["interactive"] = max(t["load"], t["explorer"] + t["read"]) if t["explorer"] is not None else None
        out.append(t)
    return out


def _ms(x) -> str:
    return "n/a" if x is None else f"{x:.1f} ms"


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(args) -> int:
    from harness.errors import ConfigError

    path = Path(args.dir) / "report.html"
    if not path.is_file():
        raise ConfigError("DIR", f"no report.html in {args.dir} (write it with `phash-harness report {args.dir}`)")
    if args.runs < 1:
        raise ConfigError("--runs", f"must be a whole number >= 1 (got {args.runs})")
    if chromium_binary() is None:
        raise ConfigError("bench report", f"needs Chromium at {CHROMIUM} (or set HARNESS_CHROMIUM)")
    size = page_bytes(str(path))
    print(f"report: {path}")
    print(f"size: {size['bytes'] / 1e6:.2f} MB ({size['bytes']} bytes)")
    print(
        f"figures: {size['figures']} embedded, {size['figure_base64_bytes']} bytes as base64 "
        f"({size['figure_bytes']} bytes decoded, {size['figure_base64_bytes'] / max(1, size['bytes']):.0%} of the page)"
    )
    print(f"explorer data: {size['explorer_data_bytes']} bytes")
    times = load_times(path, args.runs)
    for i, t in enumerate(times, 1):
        print(
            f"run {i}: load {_ms(t['load'])}, explorer {_ms(t['explorer'])}, read {_ms(t['read'])}, "
            f"interactive {_ms(t['interactive'])}"
        )
    med = {k: _median([t[k] for t in times]) for k in ("load", "explorer", "read", "interactive")}
    print(
        f"median of {len(times)}: load {_ms(med['load'])}, explorer {_ms(med['explorer'])}, "
        f"read {_ms(med['read'])}, interactive {_ms(med['interactive'])}"
    )
    if med["interactive"] is not None and med["interactive"] > 3000:
        print("note: over the 3 s the report aims for")
    return 0
