"""Where a result came from: code version, packages, host."""
from __future__ import annotations

import json
import os
import socket
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchvision", "open_clip_torch", "timm", "ray", "numpy", "pandas", "pyarrow")


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit of the lore_bench checkout (``+dirty`` with local changes);
    ``LORE_BENCH_GIT_SHA`` wins, for installs without a checkout."""
    if os.environ.get("LORE_BENCH_GIT_SHA"):
        return os.environ["LORE_BENCH_GIT_SHA"]
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                               cwd=here.parent, capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def package_versions() -> str:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return json.dumps(versions, sort_keys=True)


def hostname() -> str:
    return socket.gethostname()
