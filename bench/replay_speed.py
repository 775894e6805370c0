"""Replay cost: every supplied packet through parse → group → all default proposals → recorder.

Baseline measured in the same run: committing the same packets to the inbox only (the unavoidable
durable write). Usage: .venv/bin/python bench/replay_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import percentile, write_result

from tracet_gui.app import ensure_default_proposals, make_processor
from tracet_gui.config import Settings
from tracet_gui.core.clock import FixedClock
from tracet_gui.core.vocabulary import Channel
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def one_round(tmp: Path, packets: list[bytes], n: int) -> tuple[list[float], list[float]]:
    store_only = Database.open(f"sqlite:///{tmp / f'store{n}.sqlite3'}")
    full = Database.open(f"sqlite:///{tmp / f'full{n}.sqlite3'}")
    ensure_default_proposals(full, "bench")
    settings = Settings(db_url="unused")
    clock = FixedClock(datetime(2023, 5, 18, 13, 0, tzinfo=UTC))
    processor, _runner = make_processor(full, settings, clock=clock)
    base: list[float] = []
    ours: list[float] = []
    for raw in packets:
        t0 = time.perf_counter()
        store_raw_packet(store_only.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw))
        base.append(time.perf_counter() - t0)
        clock.advance(timedelta(seconds=1))
        t0 = time.perf_counter()
        stored = store_raw_packet(full.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw))
        if not stored.duplicate:
            processor.process(stored.inbox_id)
        ours.append(time.perf_counter() - t0)
    store_only.close()
    full.close()
    return base, ours


def main() -> None:
    args_parser = argparse.ArgumentParser(description=__doc__)
    args_parser.add_argument("--rounds", type=int, default=3)
    args_parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "replay_speed.json"))
    args = args_parser.parse_args()
    packets = [p.read_bytes() for p in sorted(DATA.glob("*.xml"))]
    base: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        one_round(Path(tmp), packets, -1)  # warm-up: imports, astropy tables, first transforms
        for n in range(args.rounds):
            b, o = one_round(Path(tmp), packets, n)
            base += b
            ours += o
    summary = {
        "benchmark": "replay_speed",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "packets_per_round": len(packets),
        "rounds": args.rounds,
        "store_only_median_ms": statistics.median(base) * 1e3,
        "store_only_p99_ms": percentile(base, 0.99) * 1e3,
        "full_median_ms": statistics.median(ours) * 1e3,
        "full_p99_ms": percentile(ours, 0.99) * 1e3,
        "full_max_ms": max(ours) * 1e3,
        "median_ratio_to_store_only": statistics.median(ours) / statistics.median(base),
    }
    write_result(args.out, summary)
    print(
        f"{len(packets)} packets x {args.rounds} rounds, default proposals: full processing median "
        f"{summary['full_median_ms']:.1f} ms, p99 {summary['full_p99_ms']:.1f} ms, max {summary['full_max_ms']:.1f} ms "
        f"per packet; inbox-only commit median {summary['store_only_median_ms']:.1f} ms "
        f"(ratio {summary['median_ratio_to_store_only']:.1f}x)"
    )


if __name__ == "__main__":
    main()
