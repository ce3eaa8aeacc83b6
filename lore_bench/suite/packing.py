"""Trial packing: how much of a GPU each trial asks Ray for, and how many trials run at once.

A prompt-learning trial on ViT-B/16 uses a fraction of an H200's 141 GB, so
``resources: {gpu: 1}`` (one whole GPU per trial) leaves most of the device
idle. A trial's GPU share comes from, in order:

1. the suite: ``resources.gpu_per_method: {coop: 0.25}``;
2. the measured peak memory of stored trials of the same method and backbone on
   a GPU (``peak_memory_mb`` of ok rows; the largest, so the worst dataset
   counts), with 20 % + 1 GB headroom (allocator fragmentation, the CUDA context);
3. a method's declared ``Method.train_memory_gb`` (plugins may set it);
4. otherwise ``resources.gpu`` (a whole GPU each: never pack on a guess).

A share is ``gpu / k`` where k trials fit in the GPU's memory
(``resources.gpu_memory_gb``, else the driver's first CUDA device), at most
``MAX_PER_GPU``. ``resources.pack: false`` turns 2-4 off. Pure functions: no
Ray, no GPU needed (tests/test_packing.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

MAX_PER_GPU = 8  # beyond this, host-side work (Python, launches) of the co-located trials dominates
HEADROOM = 1.2
CONTEXT_GB = 1.0  # a CUDA context and the caching allocator's slack, per trial process


@dataclass(frozen=True)
class Share:
    gpu: float  # the fraction of one GPU Ray reserves for the trial
    source: str  # suite | measured | declared | whole (for the run's message)


def trials_per_gpu(memory_gb: float, gpu_memory_gb: float) -> int:
    """How many trials that each peak at ``memory_gb`` fit in one GPU."""
    need = memory_gb * HEADROOM + CONTEXT_GB
    return max(1, min(MAX_PER_GPU, int(gpu_memory_gb // need)))


def gpu_share(method: str, backbone: str, resources: Mapping, measured_mb: Mapping[tuple[str, str], float],
              declared_gb: float | None, gpu_memory_gb: float | None) -> Share:
    """The GPU share of one trial of ``method`` on ``backbone`` (see the module docstring)."""
    whole = float(resources.get("gpu", 0) or 0)
    if whole <= 0:
        return Share(0.0, "whole")  # a CPU suite
    override = (resources.get("gpu_per_method") or {}).get(method)
    if override is not None:
        return Share(float(override), "suite")
    if not resources.get("pack", True) or not gpu_memory_gb or whole > 1:
        return Share(whole, "whole")
    if (method, backbone) in measured_mb:
        memory, source = measured_mb[(method, backbone)] / 1024, "measured"
    elif declared_gb:
        memory, source = float(declared_gb), "declared"
    else:
        return Share(whole, "whole")
    k = trials_per_gpu(memory, gpu_memory_gb)
    return Share(math.floor(whole / k * 10_000) / 10_000, source) if k > 1 else Share(whole, "whole")


def concurrency(cluster: Mapping[str, float], shares: Iterable[tuple[float, float]], max_concurrent: int = 0) -> int:
    """Trials running at once for (cpu, gpu) shares: what the CPUs allow and what the GPUs allow (at the
    average GPU share of the pending trials), the smaller; capped by ``max_concurrent`` when set."""
    shares = list(shares)
    if not shares:
        return 1
    cpu = sum(c for c, _ in shares) / len(shares)
    gpu = sum(g for _, g in shares) / len(shares)
    limits = [cluster.get("CPU", 1) / max(cpu, 1e-9)]
    if gpu > 0:
        limits.append(cluster.get("GPU", 0) / gpu)
    n = max(1, int(min(limits) + 1e-9))
    return min(n, max_concurrent) if max_concurrent else n


def measured_peaks(rows) -> dict[tuple[str, str], float]:
    """Largest GPU peak memory (MB) per (method, backbone) among stored ok rows measured on a GPU."""
    if rows is None or len(rows) == 0:
        return {}
    gpu_rows = rows[(rows["status"] == "ok") & rows["peak_memory_mb"].notna()
                    & ~rows["device"].fillna("cpu").str.lower().str.startswith("cpu")]
    return {k: float(v) for k, v in gpu_rows.groupby(["method", "backbone"])["peak_memory_mb"].max().items()}
