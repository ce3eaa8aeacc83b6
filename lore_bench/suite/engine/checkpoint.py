"""Checkpoints of a trial's trainable state, so a retried or resumed trial
continues where it stopped. One file per stage, replaced atomically; read back
with ``torch.load(weights_only=True)`` (tensors and plain data only).

Written at most every ``every_s`` seconds (``training.checkpoint_every_s``), not
every epoch: a LORE trial on ViT-B/16 writes ~72 MB per save. After the last
epoch of a stage only when something reads it (``keep_final``: a White Box that
a frozen-feature trial loads, the easy stage an easy-to-hard trial builds on).
A resumed trial replays the epochs after its last save exactly: data order and
augmentation are reseeded per (seed, epoch).

The checkpoint root is a local folder (or a path every node mounts, such as
NFS) or a filesystem URI that pyarrow understands (``s3://bucket/prefix``,
``gs://...``, ``hdfs://...``, ``file:///...``): with a URI every node of a
cluster reads and writes the same checkpoints, so a trial retried on another
node resumes where it stopped. Checkpoints are keyed by trial id (not by Tune's
per-experiment folders), so they also survive a restart of the driver.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import torch

from ...atomic import replace_whole


def is_uri(location: str | Path) -> bool:
    return "://" in str(location)


def checkpoint_root(location: str | Path) -> CheckpointRoot:
    """The checkpoint root for a folder or a URI (URIs keep their spelling)."""
    return RemoteRoot(str(location)) if is_uri(location) else LocalRoot(Path(location).expanduser().resolve())


def checkpoint_file(checkpoint_dir: str | Path, trial_id: str, stage: str = "main") -> Path:
    """Where a trial's stage checkpoint lives under a local checkpoint folder."""
    return Path(checkpoint_dir) / trial_id / f"stage-{stage}.pt"


class CheckpointRoot:
    """A run's checkpoint folder: one subfolder per trial id."""

    def trial(self, trial_id: str, every_s: float = 0.0, keep_final: bool = True) -> Cadence:
        """One trial's checkpoints (``every_s``, ``keep_final``: see :class:`Cadence`)."""
        raise NotImplementedError

    def exists(self, trial_id: str, stage: str = "main") -> bool:
        raise NotImplementedError

    def discard(self, trial_id: str) -> bool:
        """Remove a trial's checkpoints; True if there were any."""
        raise NotImplementedError

    def check_writable(self) -> None:
        """Raise OSError (with the reason) unless checkpoints can be written here."""
        raise NotImplementedError

    def put_bytes(self, trial_id: str, name: str, data: bytes) -> None:
        """A small file beside a trial's checkpoints (a search trial's validation
        record), written whole then moved into place."""
        raise NotImplementedError

    def get_bytes(self, trial_id: str, name: str) -> bytes | None:
        """What :meth:`put_bytes` wrote, or None."""
        raise NotImplementedError


def save_whole(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename it over ``path``: a reader
    sees the old file or the new one. Through a Python file object, so a full
    disk is the OSError ENOSPC it is (torch's own file writer reports it as an
    opaque RuntimeError, "unexpected pos", which would read as a trial's bug);
    nothing partial is left behind."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
    replace_whole(path, write)


class Cadence:
    """When a trial's checkpoint is due: at most every ``every_s`` seconds, and
    after a stage's last epoch only when it is kept (``keep_final``)."""

    def __init__(self, every_s: float = 0.0, keep_final: bool = True):
        self.every_s = float(every_s)
        self.keep_final = keep_final
        self._last_save = time.monotonic()  # the trial's start counts as a save point
        self.saves = 0  # files written (tests and perf scripts read it)

    def due(self, last_epoch: bool, keep_final: bool | None = None) -> bool:
        """Whether to save the epoch that just ended."""
        if last_epoch:
            return self.keep_final if keep_final is None else keep_final
        return self.every_s <= 0 or time.monotonic() - self._last_save >= self.every_s

    def _saved(self) -> None:
        self._last_save = time.monotonic()
        self.saves += 1


class StageCheckpoint(Cadence):
    """The checkpoints of one trial in a local folder, one file per stage."""

    def __init__(self, directory: Path, every_s: float = 0.0, keep_final: bool = True):
        super().__init__(every_s, keep_final)
        self.directory = Path(directory)

    def path(self, stage: str) -> Path:
        return checkpoint_file(self.directory.parent, self.directory.name, stage)

    def save(self, stage: str, state: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        save_whole(state, self.path(stage))
        self._saved()

    def load(self, stage: str) -> dict | None:
        path = self.path(stage)
        if not path.exists():
            return None
        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # torn by a crash mid-write of an older format: start the stage afresh
            return None


class LocalRoot(CheckpointRoot):
    def __init__(self, path: Path):
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def trial(self, trial_id: str, every_s: float = 0.0, keep_final: bool = True) -> StageCheckpoint:
        return StageCheckpoint(self.path / trial_id, every_s, keep_final)

    def exists(self, trial_id: str, stage: str = "main") -> bool:
        return checkpoint_file(self.path, trial_id, stage).exists()

    def discard(self, trial_id: str) -> bool:
        import shutil

        folder = self.path / trial_id
        if not folder.is_dir():
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def check_writable(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path, os.W_OK):
            raise PermissionError(f"{self.path} is not writable")

    def put_bytes(self, trial_id: str, name: str, data: bytes) -> None:
        path = self.path / trial_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, lambda tmp: tmp.write_bytes(data))

    def get_bytes(self, trial_id: str, name: str) -> bytes | None:
        path = self.path / trial_id / name
        return path.read_bytes() if path.is_file() else None


class RemoteRoot(CheckpointRoot):
    """Checkpoints on a pyarrow filesystem named by a URI."""

    def __init__(self, uri: str):
        from pyarrow import fs as pafs

        self.uri = uri
        try:
            self.fs, self.base = pafs.FileSystem.from_uri(uri)
        except (ValueError, OSError) as err:  # unknown scheme, bad bucket spec, no credentials
            raise OSError(f"cannot open '{uri}' as a filesystem: {err}") from None
        self.base = self.base.rstrip("/")

    def __str__(self) -> str:
        return self.uri

    def _file(self, trial_id: str, stage: str) -> str:
        return f"{self.base}/{trial_id}/stage-{stage}.pt"

    def trial(self, trial_id: str, every_s: float = 0.0, keep_final: bool = True) -> RemoteStageCheckpoint:
        return RemoteStageCheckpoint(self, trial_id, every_s, keep_final)

    def exists(self, trial_id: str, stage: str = "main") -> bool:
        from pyarrow import fs as pafs

        return self.fs.get_file_info(self._file(trial_id, stage)).type == pafs.FileType.File

    def discard(self, trial_id: str) -> bool:
        from pyarrow import fs as pafs

        folder = f"{self.base}/{trial_id}"
        listed = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        if not listed:
            return False
        try:
            self.fs.delete_dir(folder)
        except OSError:  # object stores without directory markers: delete the files one by one
            for info in listed:
                self.fs.delete_file(info.path)
        return True

    def put_bytes(self, trial_id: str, name: str, data: bytes) -> None:
        _write_whole(self.fs, f"{self.base}/{trial_id}/{name}", data)

    def get_bytes(self, trial_id: str, name: str) -> bytes | None:
        from pyarrow import fs as pafs

        path = f"{self.base}/{trial_id}/{name}"
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.fs.open_input_file(path) as src:
            return src.read()

    def check_writable(self) -> None:
        probe = f"{self.base}/.lore-bench-write-check-{os.getpid()}"
        self.fs.create_dir(self.base, recursive=True)
        with self.fs.open_output_stream(probe) as out:
            out.write(b"ok")
        self.fs.delete_file(probe)


class RemoteStageCheckpoint(Cadence):
    """One trial's checkpoints on a pyarrow filesystem: written whole to a
    temporary name, then moved over the old one (a reader never sees half a file)."""

    def __init__(self, root: RemoteRoot, trial_id: str, every_s: float = 0.0, keep_final: bool = True):
        super().__init__(every_s, keep_final)
        self.root, self.trial_id = root, trial_id

    def save(self, stage: str, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _write_whole(self.root.fs, self.root._file(self.trial_id, stage), buffer.getbuffer())
        self._saved()

    def load(self, stage: str) -> dict | None:
        if not self.root.exists(self.trial_id, stage):
            return None
        # Other read errors (network, permissions) propagate: the attempt fails
        # and is retried, instead of silently restarting the stage from epoch 0.
        with self.root.fs.open_input_file(self.root._file(self.trial_id, stage)) as src:
            data = src.read()
        try:
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        except Exception:  # a torn or foreign file: start the stage afresh
            return None


def _write_whole(fs, final: str, data) -> None:
    """Write ``data`` to a temporary key, then move it over ``final``: a reader
    sees the old file or the new one, never half of one."""
    tmp = f"{final}.{os.getpid()}.tmp"
    fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
    try:
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        fs.move(tmp, final)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise
