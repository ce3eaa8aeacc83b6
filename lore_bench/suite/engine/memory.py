"""Peak memory of one trial (the stored ``peak_memory_mb``), not of the worker's lifetime.

A Ray worker runs many trials, so the process-wide peak would follow run
order. :func:`start_trial_memory` marks the trial's start, once its backbone
is on the device; :func:`trial_peak_memory_mb` reads the peak since then.

- GPU: ``torch.cuda.max_memory_allocated`` after a reset at the start: the
  trial's peak of allocated tensors, the resident backbone included.
- CPU: the trial's own growth: the peak resident set size during the trial
  minus the resident set size at its start (so the process, the libraries and
  the cached backbone are not counted; what the trial allocated, its private
  backbone copy included, is). Linux: the kernel's high-water mark (VmHWM) is
  reset at the start by writing 5 to /proc/self/clear_refs. Elsewhere, or where
  that is not allowed, the lifetime peak (ru_maxrss) is used when the trial
  raised it (measured from the RSS at the start, or from the earlier peak where
  that is unknown: a lower bound), and the figure is unknown (None) when it did not.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_start: dict = {}


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _maxrss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes, Linux KiB


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def start_trial_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    rss = _status_kib("VmRSS")
    _start.clear()
    _start.update(hwm=_reset_high_water_mark(), rss=rss, maxrss=_maxrss_kib())


def trial_peak_memory_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if not _start:
        return None  # no trial started in this process (a method evaluated by hand)
    start = _start["rss"] if _start["rss"] is not None else _start["maxrss"]
    if _start["hwm"]:
        peak = _status_kib("VmHWM")
    else:
        peak = _maxrss_kib()
        if peak <= _start["maxrss"]:
            return None  # the trial stayed below an earlier trial's peak: its own is unknown
    if peak is None:
        return None
    return max(0, peak - start) / 1024
