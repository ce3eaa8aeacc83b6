"""Orchestration: pending trials fanned out with Ray Tune, results written by
the driver alone. The only package of lore_bench that imports Ray."""
from .driver import RunOptions, RunSummary, run_suite  # noqa: F401
