"""Report stage: figures and documents from a results folder.

`write_report(folder)` reads the folder (metrics.csv, histograms.parquet,
run.json, and optional tables: images.csv, errors.csv, close_pairs.parquet,
risk.csv, any other *.csv) and writes report.md, a self-contained
report.html (figures embedded, no network access needed) and every figure as
PNG and SVG (roc, roc-<family>, det-<family>, histograms, robustness,
robustness-by-hasher, heatmap, gallery when available).
"""
from __future__ import annotations

import os

from .build import build_blocks
from .data import ResultsFolder, load_folder
from .document import render_html, render_markdown
from .style import report_style


def write_report(folder: str, processes: int = 1) -> str:
    """Write report.md, report.html and the figures into `folder`; returns
    the path of report.md. processes > 1 draws the figures in that many
    forked processes (same files, byte for byte; less wall time)."""
    data = load_folder(folder)
    with report_style():
        blocks, _ = build_blocks(data, processes)
    title = blocks[0][2] if blocks and blocks[0][0] == "h" else "phash-harness report"
    md_path = os.path.join(folder, "report.md")
    with open(md_path, "w", encoding="utf-8") as fh:
        fh.write(render_markdown(blocks))
    with open(os.path.join(folder, "report.html"), "w", encoding="utf-8") as fh:
        fh.write(render_html(blocks, folder, title))
    return md_path


__all__ = ["ResultsFolder", "load_folder", "write_report"]
