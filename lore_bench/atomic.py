"""Writing a file whole: readers see the old file or the new one, never part of one.

Claims, checkpoints, the disk caches and the store's small index files all
write this way: into a temporary file beside the target (a leading "." and a
".tmp" suffix, which every folder scan here skips), then ``os.replace`` over
it, which is atomic on one file system. A write torn by a full disk or a
killed process leaves no temporary file behind where Python can still clean up.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable


def temp_beside(path: Path) -> Path:
    """A temporary name next to ``path``, unique per writer (process and call), so two
    writers of one file never write into the same temporary file."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def replace_whole(path: str | os.PathLike, write: Callable[[Path], object], fsync: bool = False) -> Path:
    """``write(tmp)`` fills a temporary file, which then replaces ``path``.

    ``fsync``: flush the data to disk before the rename makes it visible (the
    store's result files: a crash must not leave a visible empty file).
    Whatever ``write`` raises is re-raised after the temporary file is removed."""
    path = Path(path)
    tmp = temp_beside(path)
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
