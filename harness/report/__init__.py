"""Report stage: figures and documents from a results folder."""
from __future__ import annotations

import json
import os

import pandas as pd

from .figures import roc_figure
from .markdown import render_markdown


def write_report(folder: str, metrics: pd.DataFrame | None = None, histograms: pd.DataFrame | None = None,
                 run_info: dict | None = None) -> str:
    """Write roc.png and report.md into `folder` (reading the tables from
    it when not given). Returns the path of report.md."""
    if metrics is None:
        metrics = pd.read_csv(os.path.join(folder, "metrics.csv"))
    if histograms is None:
        histograms = pd.read_parquet(os.path.join(folder, "histograms.parquet"))
    if run_info is None:
        with open(os.path.join(folder, "run.json"), encoding="utf-8") as fh:
            run_info = json.load(fh)
    roc_figure(histograms, os.path.join(folder, "roc.png"))
    path = os.path.join(folder, "report.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_markdown(metrics, run_info))
    return path


__all__ = ["write_report"]
