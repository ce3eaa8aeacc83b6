"""Start or join Ray for a run: local services on this machine only, token
auth on by default, suite-declared plugin code shipped to the workers."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import ray

from ..spec import TrialSpec

#: Environment variables a worker needs to behave like the driver.
FORWARDED_ENV = ("HF_HUB_OFFLINE", "LORE_BENCH_CACHE", "LORE_BENCH_DATA", "LORE_BENCH_GIT_SHA")


def plugin_runtime_env(specs: list[TrialSpec], remote: bool) -> dict:
    """Ship suite-declared plugin code (methods, protocols, backbones) to the workers: the
    module's import root on PYTHONPATH for a local Ray, the package directory
    for a cluster."""
    roots, packages = set(), set()
    for spec in specs:
        for plugin in (spec.plugin, spec.protocol_plugin, spec.backbone.get("plugin")):
            if not plugin:
                continue
            found = importlib.util.find_spec(plugin.split(":")[0].split(".")[0])
            if found is None or not found.origin:
                continue
            top = Path(found.origin).parent if found.submodule_search_locations else Path(found.origin)
            packages.add(str(top))
            roots.add(str(top.parent))
    if not roots:
        return {}
    if remote:
        return {"py_modules": sorted(packages)}
    path = os.pathsep.join(sorted(roots) + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {"env_vars": {"PYTHONPATH": path}}


def init_ray(options, runtime_env: dict) -> str | None:
    """``ray.init`` for the run; returns the dashboard URL (or None)."""
    if not options.auth:
        os.environ["RAY_AUTH_MODE"] = "disabled"
    env_vars = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    runtime_env = {**runtime_env, "env_vars": {**env_vars, **runtime_env.get("env_vars", {})}}
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        ctx = ray.init(address=address, runtime_env=runtime_env, log_to_driver=options.log_to_driver)
    else:
        kwargs = {}
        if options.temp_dir:
            kwargs["_temp_dir"] = options.temp_dir
        if options.object_store_memory:
            kwargs["object_store_memory"] = options.object_store_memory
        ctx = ray.init(num_cpus=options.num_cpus, num_gpus=options.num_gpus, include_dashboard=options.dashboard,
                       dashboard_host=options.dashboard_host, dashboard_port=options.dashboard_port,
                       runtime_env=runtime_env, log_to_driver=options.log_to_driver, **kwargs)
    url = getattr(ctx, "dashboard_url", None)
    return f"http://{url}" if url and not url.startswith("http") else url
