"""A dataset whose test split must never be read: loading it raises. The
tuned protocol's search trials run on it to prove they see training shots only."""
from __future__ import annotations

from lb_dataset_plugin import Stripes


class TestSplitRead(RuntimeError):
    """Something read the test split of lb_sealed_test."""


class SealedTest(Stripes):
    name = "lb_sealed_test"
    description = "generated stripes whose test split raises when read (test plugin)"

    def load_split(self, split: str):
        if split != "train":
            raise TestSplitRead(f"the {split} split of lb_sealed_test was read")
        return super().load_split(split)
