"""Third-party methods reach lore-bench without editing it: through the
``lore_bench.methods`` entry-point group of an installed distribution."""
from __future__ import annotations

import importlib
import sys

from conftest import TESTS_DIR


def test_entry_point_plugin_is_registered(tmp_path, monkeypatch):
    # An installed distribution, as pip would leave it: a dist-info with entry_points.txt.
    dist = tmp_path / "lb_example_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-example-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lore_bench.methods]\ntext_init_head = lb_example_plugin:TextInitHead\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(f"{TESTS_DIR}/plugins")
    from lore_bench.methods.registry import METHODS
    from lore_bench.plugins import Registry

    METHODS.names()  # built-ins imported (and registered) before the fresh registry looks
    fresh = Registry("method", "lore_bench.methods", "lore_bench.methods")  # as a new process would build it
    cls = fresh.get("text_init_head")
    assert cls.__name__ == "TextInitHead" and cls.__module__ == "lb_example_plugin"
    sys.modules.pop("lb_example_plugin", None)
    importlib.invalidate_caches()
