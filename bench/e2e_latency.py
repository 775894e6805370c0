"""End-to-end latency: in-process VTP author → real `twistd comet` broker → engine → committed decision.

Beside it, in the same run and the same reactor, a bare Comet subscriber with a no-op handler records when
each event reached it: the floor any subscriber pays. Both subscribe to the same broker; the author sends one
packet at a time (waiting for the broker's ACK, then a short gap), so the figures are latency, not queueing.

Usage: .venv/bin/python bench/e2e_latency.py [--events 500] [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from comet.protocol.subscriber import VOEventSubscriberFactory  # noqa: E402
from twisted.internet import reactor as _reactor  # noqa: E402
from twisted.internet import threads  # noqa: E402

from tests.ingest.conftest import Broker, free_port, wait_for  # noqa: E402
from tests.ingest.vtp_author import numbered_packet, send_voevent  # noqa: E402
from tracet_gui.app import ensure_default_proposals  # noqa: E402
from tracet_gui.config import Settings  # noqa: E402
from tracet_gui.ingest.engine import Engine  # noqa: E402
from tracet_gui.ingest.vtp import _ensure_reactor, stop_reactor  # noqa: E402
from tracet_gui.pipeline.processor import ProcessedPacket  # noqa: E402
from tracet_gui.storage.database import Database  # noqa: E402

reactor: Any = _reactor
IVORN = re.compile(rb'ivorn="([^"]+)"')


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1e3 for v in values]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p99_ms": pct(ms, 0.99), "max_ms": max(ms)}


def main() -> None:
    args_parser = argparse.ArgumentParser(description=__doc__)
    args_parser.add_argument("--events", type=int, default=500)
    args_parser.add_argument("--gap-ms", type=float, default=20.0)
    args_parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "e2e_latency.json"))
    args = args_parser.parse_args()

    template = (ROOT / "tests" / "data" / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    sent: dict[str, float] = {}
    bare: dict[str, float] = {}
    decided: dict[str, float] = {}
    lock = threading.Lock()

    def on_result(result: ProcessedPacket) -> None:
        if result.ivorn is not None and result.inbox_id is not None:
            with lock:
                decided.setdefault(result.ivorn, time.perf_counter())

    def noop_handler(event: Any) -> None:
        bare.setdefault(event.element.attrib["ivorn"], time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(free_port(), free_port(), Path(tmp) / "broker")
        broker.start()
        db = Database.open(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        ensure_default_proposals(db, "bench")
        settings = replace(Settings(db_url="unused"), remotes=(f"127.0.0.1:{broker.broadcast_port}",))
        engine = Engine(settings, db, on_result=on_result)
        engine.start()
        _ensure_reactor()
        factory = VOEventSubscriberFactory(local_ivo="ivo://bench/bare", handlers=[noop_handler])
        connector = threads.blockingCallFromThread(
            reactor, reactor.connectTCP, "127.0.0.1", broker.broadcast_port, factory
        )
        time.sleep(3)  # both subscriptions up
        for n in range(args.events):
            # A new trigger each time (real streams: many triggers, a few packets each).
            packet = numbered_packet(template, n, "lat").replace(
                b'name="TrigID" value="1093742"', f'name="TrigID" value="{2_000_000 + n}"'.encode()
            )
            ivorn = IVORN.search(packet).group(1).decode()  # type: ignore[union-attr]
            sent[ivorn] = time.perf_counter()
            assert send_voevent("127.0.0.1", broker.receive_port, packet) == "ack"
            time.sleep(args.gap_ms / 1e3)
        wait_for(lambda: len(decided) >= args.events and len(bare) >= args.events, 120, "every event")

        def stop_bare() -> None:
            factory.stopTrying()
            connector.disconnect()

        threads.blockingCallFromThread(reactor, stop_bare)
        engine.stop()
        db.close()
        broker.stop()
        stop_reactor()

    ours = [decided[i] - sent[i] for i in sent]
    floor = [bare[i] - sent[i] for i in sent]
    result = {
        "benchmark": "e2e_latency",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "events": args.events,
        "gap_ms": args.gap_ms,
        "tracet_gui_send_to_committed_decision": summary(ours),
        "bare_comet_subscriber_noop": summary(floor),
    }
    result["median_difference_ms"] = (
        result["tracet_gui_send_to_committed_decision"]["median_ms"] - result["bare_comet_subscriber_noop"]["median_ms"]
    )
    result["p99_difference_ms"] = (
        result["tracet_gui_send_to_committed_decision"]["p99_ms"] - result["bare_comet_subscriber_noop"]["p99_ms"]
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    o, b = result["tracet_gui_send_to_committed_decision"], result["bare_comet_subscriber_noop"]
    print(
        f"{args.events} events: send -> committed decision median {o['median_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms; "
        f"bare Comet subscriber (no-op) median {b['median_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
