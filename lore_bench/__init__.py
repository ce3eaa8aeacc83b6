"""lore-bench: benchmark parameter-efficient transfer methods for pre-trained ViTs."""
__version__ = "0.1.0"


def run_trial(spec, **kwargs):
    """Run one trial without Ray (see :func:`lore_bench.suite.run.run_trial`)."""
    from .suite.run import run_trial as _run_trial

    return _run_trial(spec, **kwargs)
