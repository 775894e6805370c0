"""What every benchmark script in bench/ does the same way: percentiles, the result file, the broker's event store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MEMORY_EVENTDB = Path(__file__).resolve().parent / "comet_memory_eventdb"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``: the nearest rank, no interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write_result(out: str | Path, result: dict[str, Any]) -> None:
    """Write a benchmark's result as indented JSON (bench/results/<name>.json by default)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))


def add_broker_eventdb_argument(parser: argparse.ArgumentParser, dumb_note: str) -> None:
    """``--broker-eventdb memory|dumb``: the broker's previously-seen store (see :func:`broker_env`)."""
    parser.add_argument(
        "--broker-eventdb",
        choices=("memory", "dumb"),
        default="memory",
        help="the broker's previously-seen store: in memory (bench/comet_memory_eventdb), or Comet's fallback "
        f"dbm.dumb {dumb_note}",
    )


def broker_env(eventdb: str) -> dict[str, str]:
    """The environment that gives a ``twistd comet`` broker the in-memory event store (``memory``), else none."""
    return {"PYTHONPATH": str(MEMORY_EVENTDB)} if eventdb == "memory" else {}
