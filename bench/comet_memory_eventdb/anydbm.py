"""Comet's previously-seen event store, kept in memory: for the `twistd comet` broker of the burst benchmark.

Comet's ``Event_DB`` opens ``anydbm`` (falling back to ``dbm``) for every event it checks. This Python has no
gdbm or ndbm, so ``dbm`` is ``dbm.dumb``, which rewrites its whole index file on every close: each check costs
time in proportion to the events already seen, and a 10,000-event burst slows the broker to about 11 events/s
by its end. Put on the broker's ``PYTHONPATH``, this module is found first (``import anydbm``) and keeps the
same check (a key per event, added when first seen) in a dict, as a gdbm file would at constant cost.
"""

from __future__ import annotations

from typing import Any

_databases: dict[str, _Database] = {}


class _Database(dict[Any, Any]):
    def close(self) -> None:
        pass


def open(path: str, flag: str = "c", mode: int = 0o666) -> _Database:
    return _databases.setdefault(path, _Database())
