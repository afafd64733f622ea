"""Report stage: figures and documents from a results folder.

`write_report(results)` reads the tables of a results folder (metrics.csv,
histograms.parquet, run.json, and optional tables: images.csv, errors.csv,
close_pairs.parquet, risk.csv, any other *.csv) and writes report.md, a
self-contained report.html (figures embedded, no network access needed) and
every figure into ``figures/`` as PNG (and SVG when asked): roc,
roc-<family>, det-<family>, histograms, robustness, robustness-by-hasher,
heatmap, gallery when available.
"""

from __future__ import annotations

import os

from ..results import FIGURES, Results
from .build import build_blocks
from .document import render_html, render_markdown
from .style import report_style


def write_report(results, processes: int = 1, svg: bool = False) -> str:
    """Write report.md, report.html and the figures of a results folder.

    The report is drawn from the files in the folder (never from tables
    held in memory), so ``write_report(run_experiment(config))`` and
    ``phash-harness report DIR`` write the same bytes.

    Parameters
    ----------
    results : Results or str
        What `harness.run_experiment` returned, a `harness.Results`, or
        the path of a results folder.
    processes : int, default 1
        Draw the figures in that many forked processes (same files, byte
        for byte; less wall time).
    svg : bool, default False
        Also write every figure as SVG next to its PNG in ``figures/``.

    Returns
    -------
    str
        The path of report.md.

    Examples
    --------
    >>> import os, tempfile, harness
    >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash"],
    ...           "transforms": [{"family": "jpeg", "severities": [30]}],
    ...           "output": tempfile.mkdtemp() + "/run"}
    >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
    >>> os.path.exists(results.path("report.md"))  # run_experiment draws nothing
    False
    >>> os.path.basename(harness.write_report(results))
    'report.md'
    >>> "roc.png" in os.listdir(results.path("figures"))
    True
    """
    folder = results.output if isinstance(results, Results) else os.fspath(results)
    data = Results.load(folder)
    os.makedirs(os.path.join(folder, FIGURES), exist_ok=True)
    formats = ("png", "svg") if svg else ("png",)
    with report_style():
        blocks, _ = build_blocks(data, processes, formats)
    title = blocks[0][2] if blocks and blocks[0][0] == "h" else "phash-harness report"
    md_path = os.path.join(folder, "report.md")
    _write_text(md_path, render_markdown(blocks))
    _write_text(os.path.join(folder, "report.html"), render_html(blocks, folder, title))
    return md_path


def first_screen_summary(results) -> str:
    """The report's first screen in a few plain-text lines (printed at the
    end of ``phash-harness run``): per hasher at its recommended threshold,
    the FPR of each negative set with its interval, the per-photo and
    per-account false-match probabilities under the config's ``report``
    assumptions, and the family with the lowest TPR."""
    from .firstscreen import first_screen_text
    from .model import build_model

    folder = results.output if isinstance(results, Results) else os.fspath(results)
    data = Results.load(folder)
    return first_screen_text(data, build_model(data))


def _write_text(path: str, text: str) -> None:
    """Write a file whole or not at all (a temporary file, then a rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


__all__ = ["first_screen_summary", "write_report"]
