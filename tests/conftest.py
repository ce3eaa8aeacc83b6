"""Shared test set-up: offline, no Ray token auth, caches in a temp dir."""
from __future__ import annotations

import os
import tempfile

# Before anything imports huggingface_hub or ray.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("LORE_BENCH_CACHE", tempfile.mkdtemp(prefix="lb-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def tiny_backbone():
    from lore_bench.backbones import build_backbone

    return build_backbone("micro_clip_random")


def make_spec(method="coop", dataset="sklearn_digits", shots=2, seed=1, training=None, method_cfg=None,
              backbone="micro_clip_random", plugin=None, protocol="few_shot", protocol_config=None):
    """A resolved TrialSpec as the suite expansion would build it."""
    from lore_bench.suite.grid import trial_spec

    return trial_spec(method, dataset, backbone, shots, seed, protocol=protocol, method_config=method_cfg,
                      suite_training=training or {"epochs": 2, "augment": False}, protocol_config=protocol_config,
                      plugin=plugin, suite="test")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on a shared 2-core machine one thread is
    many times faster than two under load (frozen-feature tests)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class TrialStopped(Exception):
    """Raised from a trial's epoch callback: stops it as a killed worker would."""


def interrupt_after_epoch(spec, checkpoint_dir, epoch: int = 2) -> None:
    """Run ``spec`` until epoch ``epoch`` has ended, then stop it; its checkpoint stays."""
    from lore_bench import run_trial

    def stop(record):
        if record["epoch"] == epoch:
            raise TrialStopped

    with pytest.raises(TrialStopped):
        run_trial(spec, on_epoch=stop, checkpoint_dir=checkpoint_dir)
