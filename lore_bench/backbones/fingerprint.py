"""A cheap, exact fingerprint of a backbone: what it computes and what it trains.

Per tensor (every parameter and buffer, persistent or not) it records name,
shape, dtype, ``requires_grad`` and a CRC-32 of the raw bytes; per module its
class and how many hooks are attached. CRC-32 sees any change of any bit (a
sum of the values would miss a change below its rounding); zlib computes it at
about a gigabyte a second and releases the GIL, so the tensors are checksummed
on a few threads. The device is left out: moving a tower to a GPU is not a change.

Two uses: the process-cached backbone is fingerprinted once when built and
checked after every trial (``lore_bench.backbones.pristine_backbone``), and the
digest names the weights in feature-cache keys.
"""
from __future__ import annotations

import hashlib
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import nn

#: Tensors are checksummed in pieces of this many bytes (bounded host copies of GPU tensors).
_PIECE = 64 * 2**20


@dataclass(frozen=True)
class Fingerprint:
    tensors: dict[str, tuple]  # name -> (shape, dtype, requires_grad, crc32)
    modules: dict[str, tuple]  # qualified name -> (class name, hook count)
    attributes: tuple  # plain values that change the output (logit scale)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (sorted(self.tensors.items()), sorted(self.modules.items()), self.attributes):
            h.update(repr(part).encode())
        return h.hexdigest()[:24]

    def changes(self, other: "Fingerprint", limit: int = 4) -> list[str]:
        """Human-readable differences from ``other`` (the reference), at most ``limit`` of each kind."""
        out: list[str] = []
        values = [n for n in self.tensors if n in other.tensors and self.tensors[n][3] != other.tensors[n][3]]
        grads = [n for n in self.tensors if n in other.tensors and self.tensors[n][2] != other.tensors[n][2]]
        meta = [n for n in self.tensors if n in other.tensors and self.tensors[n][:2] != other.tensors[n][:2]]
        added = [n for n in self.tensors if n not in other.tensors]
        removed = [n for n in other.tensors if n not in self.tensors]
        modules = [n for n in set(self.modules) | set(other.modules) if self.modules.get(n) != other.modules.get(n)]
        for what, names in (("values changed", values), ("requires_grad changed", grads),
                            ("shape/dtype changed", meta), ("tensors added", added), ("tensors removed", removed),
                            ("modules replaced or hooked", modules)):
            if names:
                shown = ", ".join(sorted(names)[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
                out.append(f"{what}: {shown}")
        if self.attributes != other.attributes:
            out.append(f"attributes changed: {other.attributes} -> {self.attributes}")
        return out


def _crc(tensor: torch.Tensor) -> int:
    flat = tensor.detach().reshape(-1)
    if flat.numel() == 0:
        return 0
    raw = flat.view(torch.uint8) if flat.is_contiguous() else flat.contiguous().view(torch.uint8)
    crc = 0
    for start in range(0, raw.numel(), _PIECE):
        piece = raw[start : start + _PIECE]
        crc = zlib.crc32(piece.cpu().numpy().data, crc)
    return crc


def _hooks(module: nn.Module) -> int:
    return sum(len(getattr(module, attr, {}) or {}) for attr in (
        "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
        "_state_dict_hooks", "_load_state_dict_pre_hooks"))


def fingerprint(module: nn.Module) -> Fingerprint:
    named = list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))
    # One checksum per distinct storage: tied weights are read once.
    unique: dict[int, torch.Tensor] = {}
    for _, t in named:
        unique.setdefault(id(t), t)
    threads = max(1, min(8, os.cpu_count() or 1, len(unique)))
    with ThreadPoolExecutor(threads) as pool:
        crcs = dict(zip(unique, pool.map(_crc, unique.values())))
    tensors = {name: (tuple(t.shape), str(t.dtype), bool(t.requires_grad), crcs[id(t)]) for name, t in named}
    modules = {name: (type(m).__qualname__, _hooks(m)) for name, m in module.named_modules(remove_duplicate=False)}
    return Fingerprint(tensors, modules, (getattr(module, "logit_scale", None),))
