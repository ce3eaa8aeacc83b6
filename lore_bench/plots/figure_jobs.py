"""Drawing the report's figures: every plot of one backbone, one backbone per worker process.

A report draws five figures per backbone (PNG + PDF), ~3.4 s of matplotlib on one core
whatever the store's size, so a store of many backbones spends most of its report here
(62 backbones: 212 s). The backbones are independent, so they are drawn in forked worker
processes, which inherit the rows and the registered plots (third-party plots included)
without pickling them. Where fork is not the platform's way (macOS, Windows) or there
are few backbones, they are drawn in this process.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from .figures import PLOTS

#: Fewer backbones than this are drawn in this process: a worker's start costs about a figure.
MIN_PARALLEL_BACKBONES = 3
_JOB: dict = {}  # what forked workers read: set before the pool forks


def default_jobs(backbones: int) -> int:
    if backbones < MIN_PARALLEL_BACKBONES or not sys.platform.startswith("linux"):
        return 1
    return max(1, min(backbones, len(os.sched_getaffinity(0)), 8))


def draw_backbone(ok: pd.DataFrame, backbone: str, colors: dict, stems: dict[str, Path]) -> list[tuple[str, list[Path]]]:
    """(plot name, files written) of every registered plot, in registry order."""
    return [(name, plot(ok, backbone, colors, stems[name])) for name, plot in PLOTS.items()]


def _draw_in_worker(backbone: str) -> list[tuple[str, list[Path]]]:
    return draw_backbone(_JOB["ok"].get(backbone, _JOB["empty"]), backbone, _JOB["colors"], _JOB["stems"][backbone])


def draw_all(ok: pd.DataFrame, backbones: list[str], colors: dict, stems: dict[str, dict[str, Path]],
             jobs: int | None = None) -> dict[str, list[tuple[str, list[Path]]]]:
    """Every backbone's plots; ``stems[backbone][plot name]`` is where each goes.
    ``jobs``: worker processes (None: :func:`default_jobs`; 1: this process)."""
    parts = dict(tuple(ok.groupby("backbone", sort=False)))
    jobs = default_jobs(len(backbones)) if jobs is None else max(1, int(jobs))
    if jobs == 1 or len(backbones) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return {b: draw_backbone(parts.get(b, ok.iloc[:0]), b, colors, stems[b]) for b in backbones}
    _JOB.update(ok=parts, empty=ok.iloc[:0], colors=colors, stems=stems)
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(backbones)),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            return dict(zip(backbones, pool.map(_draw_in_worker, backbones)))
    finally:
        _JOB.clear()
