"""End-to-end latency: in-process VTP author → real `twistd comet` broker → engine → committed decision → telescope.

Beside it, in the same run and the same reactor, a bare Comet subscriber with a no-op handler records when
each event reached it: the floor any subscriber pays. Both subscribe to the same broker; the author sends one
packet at a time (waiting for the broker's ACK, then a short gap), so the figures are latency, not queueing.

Each packet is a Swift BAT GRB position with a new trigger placed near the MWA zenith at send time, so the
default catalogue's ``MWA_VCS_GRB_swif`` proposal (pretend mode) triggers for every one of them (so does
``ATCA_short_GRB``); the requests go to an in-process telescope simulator over HTTP (``telescope_base_url``,
simulator credentials, as ``tracet-gui run`` does). The simulator's server-side receipt time of the MWA trigger
request (``POST triggervcs``, sent after the client's ``vcsfree`` query) minus our engine's receipt time of the
packet (the inbox row's ``received_utc``: when our VTP subscriber handed it over for storing, in the reactor
thread) is the receipt → telescope request latency; the same request minus the author's send time is also
given. All three clocks are this process's wall clock.

The broker keeps its previously-seen check in memory (``bench/comet_memory_eventdb``, as the burst benchmark
does): this Python has no gdbm, and Comet's fallback, ``dbm.dumb``, makes the broker slower with every event
it has seen (its median delivery time to the no-op subscriber grew from 6 to 15 ms over 1,000 packets), and
its growing CPU use on this 2-core machine is felt by both subscribers. ``--broker-eventdb dumb`` measures that.

The first ``--warmup`` packets (imports, first connections) are sent but not counted. The machine's load
average and the scheduling policy are recorded with the figures: on a shared machine, ``chrt -f 20`` in front
of the command (real-time priority for this process and its broker) keeps other jobs' CPU use out of them.

Usage: .venv/bin/python bench/e2e_latency.py [--events 1000] [--gap-ms 20] [--warmup 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
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
from common import add_broker_eventdb_argument, broker_env, percentile, write_result  # noqa: E402
from sqlalchemy import select  # noqa: E402
from twisted.internet import reactor as _reactor  # noqa: E402
from twisted.internet import threads  # noqa: E402

from tests.ingest.conftest import Broker, free_port, wait_for  # noqa: E402
from tests.ingest.vtp_author import numbered_packet, send_voevent  # noqa: E402
from tracet_gui.app import ensure_default_proposals  # noqa: E402
from tracet_gui.config import Settings  # noqa: E402
from tracet_gui.core.visibility import MWA_SITE, altaz_to_radec  # noqa: E402
from tracet_gui.ingest.engine import Engine  # noqa: E402
from tracet_gui.ingest.vtp import _ensure_reactor, stop_reactor  # noqa: E402
from tracet_gui.pipeline.processor import ProcessedPacket  # noqa: E402
from tracet_gui.storage.database import Database  # noqa: E402
from tracet_gui.storage.schema import InboxRow  # noqa: E402
from tracet_gui.telescopes.simulator import TelescopeSimulator  # noqa: E402

reactor: Any = _reactor
IVORN = re.compile(rb'ivorn="([^"]+)"')
TRIGGERING_PROPOSAL = "MWA_VCS_GRB_swif"
FIRST_TRIG_ID = 2_000_000


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1e3 for v in values]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p99_ms": percentile(ms, 0.99), "max_ms": max(ms)}


def packet_for(template: bytes, n: int) -> bytes:
    """A new trigger (own IVORN and TrigID) 1 deg from the MWA zenith now, so the MWA proposal triggers."""
    ra, dec = altaz_to_radec(MWA_SITE, 89.0, 0.0, datetime.now(UTC))
    return (
        numbered_packet(template, n, "lat")
        .replace(b'name="TrigID" value="1093742"', f'name="TrigID" value="{FIRST_TRIG_ID + n}"'.encode())
        .replace(b"<C1>192.2744</C1>", f"<C1>{ra:.4f}</C1>".encode())
        .replace(b"<C2>22.9093</C2>", f"<C2>{dec:.4f}</C2>".encode())
    )


def bare_subscriber(port: int, stop: Any, arrivals: Any) -> None:
    """The baseline in a process of its own: a Comet subscriber with a no-op handler noting when each event
    arrived (``time.perf_counter``: CLOCK_MONOTONIC, the same clock in every process on Linux)."""
    from twisted.internet import reactor as own_reactor
    from twisted.internet import task

    loop: Any = own_reactor
    seen: dict[str, float] = {}

    def noop_handler(event: Any) -> None:
        seen.setdefault(event.element.attrib["ivorn"], time.perf_counter())

    factory = VOEventSubscriberFactory(local_ivo="ivo://bench/bare", handlers=[noop_handler])
    loop.connectTCP("127.0.0.1", port, factory)

    def check() -> None:
        if stop.is_set():
            factory.stopTrying()
            loop.stop()

    task.LoopingCall(check).start(0.2)
    loop.run()
    arrivals.put(seen)


def main() -> None:
    args_parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args_parser.add_argument("--events", type=int, default=1000, help="packets measured (default 1000)")
    args_parser.add_argument("--gap-ms", type=float, default=20.0, help="pause after each ACK (default 20 ms)")
    args_parser.add_argument("--warmup", type=int, default=20, help="packets sent first and not counted")
    add_broker_eventdb_argument(args_parser, "(slower with every event)")
    args_parser.add_argument(
        "--bare-in-process",
        action="store_true",
        help="run the bare subscriber in this process's reactor, beside ours (it then waits behind our handler, and "
        "its work competes with the engine's threads for the interpreter lock); default: a process of its own",
    )
    args_parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "e2e_latency.json"))
    args = args_parser.parse_args()

    template = (ROOT / "tests" / "data" / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    sent: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    bare: dict[str, float] = {}
    decided: dict[str, float] = {}
    triggered: set[str] = set()
    lock = threading.Lock()

    def on_result(result: ProcessedPacket) -> None:
        if result.ivorn is not None and result.inbox_id is not None:
            now = time.perf_counter()
            with lock:
                decided.setdefault(result.ivorn, now)
                if any(c.proposal_id == TRIGGERING_PROPOSAL and c.decision == "T" for c in result.decision_changes):
                    triggered.add(result.ivorn)

    def noop_handler(event: Any) -> None:
        bare.setdefault(event.element.attrib["ivorn"], time.perf_counter())

    def trigger_requests(simulator: TelescopeSimulator) -> dict[str, float]:
        """Trig id → wall time the simulator received its MWA trigger request (first one)."""
        out: dict[str, float] = {}
        for r in simulator.received():
            if r.get("protocol") == "mwa" and r.get("endpoint") == "triggervcs":
                obsname = str((r.get("query") or {}).get("obsname", ""))
                trig = obsname.rsplit("_", 1)[-1]
                out.setdefault(trig, datetime.fromisoformat(r["at_utc"]).timestamp())
        return out

    measured: list[str] = []
    total = args.warmup + args.events
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, TelescopeSimulator(port=0) as simulator:
        env = broker_env(args.broker_eventdb)
        broker = Broker(free_port(), free_port(), Path(tmp) / "broker", env=env)
        broker.start()
        engine: Engine | None = None
        try:
            db = Database.open(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            ensure_default_proposals(db, "bench")
            settings = replace(
                Settings(db_url="unused"),
                remotes=(f"127.0.0.1:{broker.broadcast_port}",),
                telescope_base_url=simulator.base_url,
                simulator_credentials=True,
            )
            engine = Engine(settings, db, on_result=on_result)
            engine.start()
            _ensure_reactor()
            bare_process: Any = None
            if args.bare_in_process:
                factory = VOEventSubscriberFactory(local_ivo="ivo://bench/bare", handlers=[noop_handler])
                connector = threads.blockingCallFromThread(
                    reactor, reactor.connectTCP, "127.0.0.1", broker.broadcast_port, factory
                )
            else:
                context = multiprocessing.get_context("spawn")
                bare_stop, bare_arrivals = context.Event(), context.Queue()
                bare_process = context.Process(
                    target=bare_subscriber, args=(broker.broadcast_port, bare_stop, bare_arrivals), name="bare"
                )
                bare_process.start()
            time.sleep(3)  # both subscriptions up
            for n in range(total):
                # A new trigger each time (real streams: many triggers, a few packets each).
                packet = packet_for(template, n)
                ivorn = IVORN.search(packet).group(1).decode()  # type: ignore[union-attr]
                if n >= args.warmup:
                    measured.append(ivorn)
                sent_wall[ivorn] = time.time()
                sent[ivorn] = time.perf_counter()
                assert send_voevent("127.0.0.1", broker.receive_port, packet) == "ack"
                time.sleep(args.gap_ms / 1e3)
            wait_for(lambda: len(decided) >= total, 120, "every event decided")
            wait_for(lambda: len(trigger_requests(simulator)) >= len(triggered), 60, "every telescope request")
            if bare_process is None:
                wait_for(lambda: len(bare) >= total, 60, "every event at the bare subscriber")

                def stop_bare() -> None:
                    factory.stopTrying()
                    connector.disconnect()

                threads.blockingCallFromThread(reactor, stop_bare)
            else:
                bare_stop.set()
                bare.update(bare_arrivals.get(timeout=60))
                bare_process.join()
                assert len(bare) >= total, "the bare subscriber missed events"
            engine.stop()
            engine = None
            with db.session() as session:
                received = {
                    ivorn: at.timestamp()
                    for ivorn, at in session.execute(select(InboxRow.ivorn, InboxRow.received_utc)).all()
                    if ivorn is not None
                }
            requests_at = trigger_requests(simulator)
            db.close()
        finally:
            if engine is not None:
                engine.stop()
            broker.stop()
            stop_reactor()

    def trig_of(ivorn: str) -> str:
        n = int(ivorn.rsplit("-lat", 1)[1])
        return str(FIRST_TRIG_ID + n)

    ours = [decided[i] - sent[i] for i in measured]
    floor = [bare[i] - sent[i] for i in measured]
    with_request = [i for i in measured if i in triggered and trig_of(i) in requests_at]
    receipt_to_request = [requests_at[trig_of(i)] - received[i] for i in with_request]
    send_to_request = [requests_at[trig_of(i)] - sent_wall[i] for i in with_request]
    receipt_to_decision = [(decided[i] - sent[i]) - (received[i] - sent_wall[i]) for i in measured]
    result: dict[str, Any] = {
        "benchmark": "e2e_latency",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "load_average_1_5_15_min_at_start": [round(x, 2) for x in load_before],
        "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()],
        "scheduling": "SCHED_FIFO (real-time priority)" if os.sched_getscheduler(0) == os.SCHED_FIFO else "normal",
        "events": args.events,
        "warmup_events": args.warmup,
        "gap_ms": args.gap_ms,
        "broker_eventdb": args.broker_eventdb,
        "bare_subscriber": "in this process's reactor" if args.bare_in_process else "a process of its own",
        "tracet_gui_send_to_committed_decision": summary(ours),
        "bare_comet_subscriber_noop": summary(floor),
    }
    result["median_difference_ms"] = (
        result["tracet_gui_send_to_committed_decision"]["median_ms"] - result["bare_comet_subscriber_noop"]["median_ms"]
    )
    result["p99_difference_ms"] = (
        result["tracet_gui_send_to_committed_decision"]["p99_ms"] - result["bare_comet_subscriber_noop"]["p99_ms"]
    )
    result["tracet_gui_receipt_to_committed_decision"] = summary(receipt_to_decision)
    result["telescope"] = {
        "proposal": f"{TRIGGERING_PROPOSAL} (default catalogue, pretend mode)",
        "request": "MWA VCS trigger (POST /mwa/triggervcs) to the in-process telescope simulator",
        "events_triggered": len(triggered),
        "requests_received": len(with_request),
        "receipt_to_request": "simulator receipt time of the request - engine receipt time (inbox received_utc)",
        "send_to_request": "simulator receipt time of the request - author send time",
    }
    result["tracet_gui_receipt_to_telescope_request"] = summary(receipt_to_request) if receipt_to_request else None
    result["author_send_to_telescope_request"] = summary(send_to_request) if send_to_request else None
    write_result(args.out, result)
    o, b = result["tracet_gui_send_to_committed_decision"], result["bare_comet_subscriber_noop"]
    print(
        f"{args.events} events: send -> committed decision median {o['median_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms; "
        f"bare Comet subscriber (no-op) median {b['median_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms "
        f"(differences {result['median_difference_ms']:.1f} / {result['p99_difference_ms']:.1f} ms)"
    )
    t = result["tracet_gui_receipt_to_telescope_request"]
    if t is not None:
        print(
            f"{len(with_request)} telescope requests: engine receipt -> request at the simulator median "
            f"{t['median_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms, max {t['max_ms']:.1f} ms"
        )
    else:
        print("no telescope request reached the simulator")


if __name__ == "__main__":
    main()
