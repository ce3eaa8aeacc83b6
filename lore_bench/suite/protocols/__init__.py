"""Protocols: how a suite becomes trials and how one trial runs its stages.

Each module registers one :class:`Protocol` (its ``Config``, ``expand`` and
``run``); third parties use the entry-point group ``lore_bench.protocols`` or a
``plugin:`` path in the suite's ``protocol:`` section.
"""
from .base import PROTOCOLS, EarlyStopping, Protocol, ProtocolInputs, register_protocol, resolve_protocol  # noqa: F401
