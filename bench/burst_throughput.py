"""Burst throughput: 10,000 distinct packets pushed through a real `twistd comet` broker as fast as it relays them.

In one run and one reactor: our engine subscribed to the broker, and beside it a bare Comet subscriber with a
no-op handler (the rate any subscriber can see: the baseline). Several author processes push the packets (each a
new trigger) to the broker's receive port, each waiting for the broker's ACK before its next packet (one
connection per packet, like ``comet-sendvo``). Measured from the moment the authors start:

* bare: the rate at which packets reach the no-op handler;
* ours, stored: the rate at which packets are committed to the inbox (durably: SQLite ``synchronous=FULL``;
  each one is ACKed to the broker only after its commit), and how long after the bare subscriber had a packet
  ours had it committed;
* ours, un-ACKed: how many events the broker had sent us without our ACK yet (a Comet broker drops a
  subscriber with 10 or more at its iamalive, every 60 s);
* ours, decided: the rate at which the pipeline commits the processed packet (event, group, decisions), and
  the time until the last decision (the pipeline lags the store: it is reported separately).

Then the database is checked: every IVORN sent is in the inbox exactly once, every inbox row processed, one
event row for each, nothing else stored; the checks and their counts go into the JSON.

The broker keeps its previously-seen check in memory (``bench/comet_memory_eventdb``): this Python has no gdbm,
and Comet's fallback, ``dbm.dumb``, makes each check cost in proportion to the events seen, down to ~11 events/s
by 10,000 (``--broker-eventdb dumb`` measures that). The burst starts right after the broker, so its iamalive
check does not fall inside it; ``--across-iamalive`` moves it there: a saturated Comet broker then drops every
subscriber, the no-op one included, and what it broadcasts until they are back is lost (counted in the JSON).

Usage: .venv/bin/python bench/burst_throughput.py [--packets 10000] [--authors 4] [--across-iamalive]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import add_broker_eventdb_argument, broker_env, percentile, write_result  # noqa: E402

from tests.ingest.vtp_author import new_trigger_packet, send_voevent  # noqa: E402

TEMPLATE = ROOT / "tests" / "data" / "SWIFT_BAT_GRB_Pos_1093742-465.xml"


def burst_packet(template: bytes, n: int) -> bytes:
    return new_trigger_packet(template, n, "burst")


def author(port: int, numbers: Sequence[int], start: Any, results: Any) -> None:
    """One author process: its share of the packets, one at a time, each waiting for the broker's ACK."""
    template = TEMPLATE.read_bytes()
    packets = [burst_packet(template, n) for n in numbers]
    replies: dict[str, int] = {}
    start.wait()
    for packet in packets:
        try:
            reply = send_voevent("127.0.0.1", port, packet, timeout_s=60)
        except OSError as exc:
            reply = f"error: {type(exc).__name__}"
        replies[reply] = replies.get(reply, 0) + 1
    results.put((time.monotonic(), replies))


def rate(n: int, t0: float, times: Sequence[float]) -> dict[str, float]:
    """``n`` packets over the time from ``t0`` (the authors' start) to the last of ``times``."""
    span = max(times) - t0
    return {"packets": n, "span_s": span, "packets_per_s": n / span}


def progress_table(t0: float, series: dict[str, Sequence[float]], steps: int = 10) -> list[dict[str, float]]:
    """Seconds after ``t0`` by which each tenth of the packets had reached each stage (the broker slows down as
    its own event database grows, so the rate is not constant through the burst)."""
    ordered = {name: sorted(times) for name, times in series.items()}
    n = min(len(times) for times in ordered.values())
    rows = []
    for k in range(1, steps + 1):
        count = n * k // steps
        rows.append({"packets": count, **{f"{name}_s": times[count - 1] - t0 for name, times in ordered.items()}})
    return rows


def lag_summary(values: Sequence[float]) -> dict[str, float]:
    ms = [v * 1e3 for v in values]
    return {"median_ms": statistics.median(ms), "p99_ms": percentile(ms, 0.99), "max_ms": max(ms)}


COMET_MAX_OUTSTANDING_ACK = 10
"""A Comet broker drops a subscriber with this many events un-ACKed when it sends its iamalive."""
IAMALIVE_S = 60.0
STALL_S = 60.0
"""Stop waiting once no packet has arrived, been stored or decided for this long."""
"""Comet's broker sends iamalive when it starts and then every 60 s."""


def iamalive_checks(broker_up: float, start: float, end: float) -> int:
    """How many of the broker's iamalive checks fell between ``start`` and ``end`` (estimated from its start)."""
    return sum(1 for k in range(1, int((end - broker_up) / IAMALIVE_S) + 1) if start <= broker_up + k * IAMALIVE_S)


def unacknowledged(arrivals: Sequence[float], acks: Sequence[float]) -> dict[str, float]:
    """Events the broker had sent us without our ACK yet, estimated as the packets that had reached the bare
    subscriber (same broker, same moment) minus the ACKs our subscriber had sent: the most at any moment, and
    the share of the burst during which there were so many that the broker would drop us at its iamalive."""
    steps = sorted([(t, 1) for t in arrivals] + [(t, -1) for t in acks])
    level = peak = 0
    over_s = 0.0
    for (t, step), (t_next, _) in zip(steps, steps[1:] + steps[-1:], strict=True):
        level += step
        peak = max(peak, level)
        if level >= COMET_MAX_OUTSTANDING_ACK:
            over_s += t_next - t
    return {
        "max": peak,
        "comet_drops_a_subscriber_at": COMET_MAX_OUTSTANDING_ACK,
        "share_of_burst_at_or_over_it": over_s / (steps[-1][0] - steps[0][0]),
    }


def verify(db: Any, sent: set[str], results: dict[str, int]) -> dict[str, Any]:
    """The proof, from the database: every packet stored exactly once, processed, and one event for each."""
    from sqlalchemy import func, select

    from tracet_gui.storage.schema import EventRow, InboxRow, ProposalDecisionRow

    with db.session() as s:
        inbox = s.execute(select(InboxRow.id, InboxRow.ivorn, InboxRow.status, InboxRow.duplicate_count)).all()
        events = s.execute(select(EventRow.inbox_id, EventRow.ivorn)).all()
        decided_groups = s.scalar(select(func.count(func.distinct(ProposalDecisionRow.group_id)))) or 0
    inbox_ivorns = [r.ivorn for r in inbox]
    inbox_ids = {r.id for r in inbox}
    statuses: dict[str, int] = {}
    for r in inbox:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    event_inbox_ids = [e.inbox_id for e in events]
    checks = {
        "every_sent_ivorn_in_inbox": sent <= set(inbox_ivorns),
        "nothing_else_in_inbox": set(inbox_ivorns) <= sent,
        "each_ivorn_in_inbox_once": len(inbox_ivorns) == len(set(inbox_ivorns)),
        "every_inbox_row_processed": set(statuses) == {"processed"},
        "one_event_per_inbox_row": sorted(event_inbox_ids) == sorted(inbox_ids),
        "event_ivorns_are_the_inbox_ones": sorted(e.ivorn for e in events) == sorted(inbox_ivorns),
        "each_stored_packet_decided_once_in_this_run": set(results) == set(inbox_ivorns)
        and set(results.values()) == {1},
    }
    return {
        "all_passed": all(checks.values()),
        "checks": checks,
        "counts": {
            "sent": len(sent),
            "lost": len(sent - set(inbox_ivorns)),
            "inbox_rows": len(inbox),
            "distinct_inbox_ivorns": len(set(inbox_ivorns)),
            "inbox_status": statuses,
            "inbox_duplicate_count_total": sum(r.duplicate_count for r in inbox),
            "event_rows": len(events),
            "distinct_event_inbox_ids": len(set(event_inbox_ids)),
            "groups_with_proposal_decisions": decided_groups,
            "pipeline_results_in_this_run": sum(results.values()),
        },
    }


def main() -> None:
    from comet.protocol.subscriber import VOEventSubscriberFactory
    from twisted.internet import reactor as _reactor
    from twisted.internet import threads

    from tests.ingest.conftest import Broker, free_port
    from tracet_gui.app import ensure_default_proposals
    from tracet_gui.config import Settings
    from tracet_gui.core.vocabulary import InboxStatus
    from tracet_gui.ingest.engine import Engine
    from tracet_gui.ingest.vtp import StoringSubscriber, _ensure_reactor, stop_reactor
    from tracet_gui.pipeline.parse import peek_ivorn
    from tracet_gui.pipeline.processor import ProcessedPacket
    from tracet_gui.storage.database import Database
    from tracet_gui.storage.inbox import RawPacket, StoredPacket

    reactor: Any = _reactor

    args_parser = argparse.ArgumentParser(description=__doc__)
    args_parser.add_argument("--packets", "--events", type=int, default=10_000, dest="packets")
    args_parser.add_argument("--authors", type=int, default=4, help="concurrent author processes")
    add_broker_eventdb_argument(args_parser, "files, which slow the broker to ~11 events/s by 10,000 events")
    args_parser.add_argument(
        "--across-iamalive",
        action="store_true",
        help="start the burst 5 s before the broker's first iamalive after its start (60 s), instead of at once: "
        "a saturated Comet broker then drops every subscriber, the no-op one too, and what it sends meanwhile is lost",
    )
    args_parser.add_argument("--timeout-s", type=float, default=3600.0, help="give up waiting after this long")
    args_parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "burst_throughput.json"))
    args = args_parser.parse_args()

    template = TEMPLATE.read_bytes()
    sent = {peek_ivorn(burst_packet(template, n)) for n in range(args.packets)}
    assert len(sent) == args.packets
    bare: dict[str, float] = {}
    stored: dict[str, float] = {}
    decided: dict[str, float] = {}
    results: dict[str, int] = {}
    batches: list[int] = []
    lock = threading.Lock()

    class TimedEngine(Engine):
        """Our engine, noting when each packet's inbox transaction has committed (before any is ACKed)."""

        def _store_packets(self, packets: Sequence[RawPacket]) -> list[StoredPacket]:
            outcome = super()._store_packets(packets)
            now = time.monotonic()
            with lock:
                batches.append(len(packets))
                for p in packets:
                    if p.ivorn is not None:
                        stored.setdefault(p.ivorn, now)
            return outcome

    def on_result(result: ProcessedPacket) -> None:
        if result.ivorn is not None and result.inbox_id is not None:
            now = time.monotonic()
            with lock:
                decided.setdefault(result.ivorn, now)
                if result.status is InboxStatus.PROCESSED:
                    results[result.ivorn] = results.get(result.ivorn, 0) + 1

    def noop_handler(event: Any) -> None:
        bare.setdefault(event.element.attrib["ivorn"], time.monotonic())

    acks: list[float] = []
    send_xml = StoringSubscriber.send_xml

    def noting_acks(self: Any, document: Any) -> None:
        if document.element.get("role") == "ack":
            acks.append(time.monotonic())
        send_xml(self, document)

    StoringSubscriber.send_xml = noting_acks  # type: ignore[method-assign]

    context = multiprocessing.get_context("spawn")  # no fork of a process running the reactor thread
    with tempfile.TemporaryDirectory() as tmp:
        env = broker_env(args.broker_eventdb)
        broker = Broker(free_port(), free_port(), Path(tmp) / "broker", env=env)
        broker.start()
        broker_up = time.monotonic()  # its first iamalive goes out now, then one every IAMALIVE_S
        db = Database.open(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        ensure_default_proposals(db, "bench")
        settings = replace(Settings(db_url="unused"), remotes=(f"127.0.0.1:{broker.broadcast_port}",))
        engine = TimedEngine(settings, db, on_result=on_result)
        engine.start()
        _ensure_reactor()
        bare_drops: list[float] = []

        class BareFactory(VOEventSubscriberFactory):  # type: ignore[misc]
            def clientConnectionLost(self, connector: Any, reason: Any) -> None:  # noqa: N802 (Twisted's name)
                bare_drops.append(time.monotonic())
                super().clientConnectionLost(connector, reason)

        factory = BareFactory(local_ivo="ivo://bench/bare", handlers=[noop_handler])
        connector = threads.blockingCallFromThread(
            reactor, reactor.connectTCP, "127.0.0.1", broker.broadcast_port, factory
        )
        start = context.Event()
        replies_queue = context.Queue()
        shares = [range(k, args.packets, args.authors) for k in range(args.authors)]
        authors = [
            context.Process(target=author, args=(broker.receive_port, share, start, replies_queue), name=f"author-{k}")
            for k, share in enumerate(shares)
        ]
        for p in authors:
            p.start()
        time.sleep(3)  # both subscriptions up, the authors' packets built
        if args.across_iamalive:  # the broker checks its subscribers' un-ACKed events at its iamalive
            time.sleep(max(0.0, broker_up + IAMALIVE_S - 5.0 - time.monotonic()))
        load_before = os.getloadavg()
        t0 = time.monotonic()
        start.set()
        author_ends: list[float] = []
        replies: dict[str, int] = {}
        for _ in authors:
            end, counts = replies_queue.get(timeout=args.timeout_s)
            author_ends.append(end)
            for reply, count in counts.items():
                replies[reply] = replies.get(reply, 0) + count
        for p in authors:
            p.join()

        # Until every packet is stored and decided, or nothing has moved for STALL_S (packets lost: the proof
        # below says which), or the timeout.
        seen, moved, shown = (-1, -1, -1), time.monotonic(), time.monotonic()
        while time.monotonic() - t0 < args.timeout_s:
            with lock:
                now_seen = (len(bare), len(stored), len(decided))
            if min(now_seen) >= args.packets:
                break
            if now_seen != seen:
                seen, moved = now_seen, time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                print(f"  nothing moved for {STALL_S:.0f} s: giving up waiting", file=sys.stderr)
                break
            if time.monotonic() - shown > 15:
                shown = time.monotonic()
                print(f"  bare {seen[0]}, stored {seen[1]}, decided {seen[2]}", file=sys.stderr)
            time.sleep(0.1)
        load_after = os.getloadavg()
        t_stopping = time.monotonic()

        def stop_bare() -> None:
            factory.stopTrying()
            connector.disconnect()

        threads.blockingCallFromThread(reactor, stop_bare)
        ours = engine.health_registry.get(f"vtp://127.0.0.1:{broker.broadcast_port}")
        engine.stop()
        proof = verify(db, sent, results)
        db.close()
        broker.stop()
        stop_reactor()

    bare_rate = rate(len(bare), t0, list(bare.values()))
    stored_rate = rate(len(stored), t0, list(stored.values()))
    decided_rate = rate(len(decided), t0, list(decided.values()))
    result = {
        "benchmark": "burst_throughput",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {multiprocessing.cpu_count()} cores python {platform.python_version()}",
        "load_average_1min_before_and_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "packets": args.packets,
        "authors": args.authors,
        "broker_eventdb": args.broker_eventdb,
        "across_iamalive": args.across_iamalive,
        "packet": f"{TEMPLATE.name} with a unique IVORN and TrigID each ({len(template)} bytes)",
        "broker_replies": replies,
        "broker_iamalive_checks_during_burst": iamalive_checks(broker_up, t0, max(bare.values())),
        "subscriptions_dropped_by_the_broker": {
            "ours": ours.reconnects if ours is not None else None,
            "bare": sum(1 for t in bare_drops if t < t_stopping),
        },
        "packets_lost": {"ours": len(sent - set(stored)), "bare": len(sent - set(bare))},
        "broker_accepted": rate(replies.get("ack", 0), t0, author_ends),
        "baseline_bare_comet_subscriber_noop": bare_rate,
        "tracet_gui_stored": stored_rate,
        "tracet_gui_decided": decided_rate,
        "stored_rate_ratio_to_bare": stored_rate["packets_per_s"] / bare_rate["packets_per_s"],
        "decided_rate_ratio_to_bare": decided_rate["packets_per_s"] / bare_rate["packets_per_s"],
        "stored_after_bare_arrival": lag_summary([stored[i] - bare[i] for i in sent if i in stored and i in bare]),
        "unacknowledged_by_us": unacknowledged(list(bare.values()), acks),
        "last_decision_after_last_bare_arrival_s": max(decided.values()) - max(bare.values()),
        "time_to_last_decision_s": max(decided.values()) - t0,
        "progress": progress_table(
            t0, {"bare": list(bare.values()), "stored": list(stored.values()), "decided": list(decided.values())}
        ),
        "inbox_commits": {
            "transactions": len(batches),
            "packets_per_transaction_mean": statistics.mean(batches),
            "packets_per_transaction_max": max(batches),
        },
        "proof": proof,
    }
    write_result(args.out, result)
    print(
        f"{args.packets} packets, {args.authors} authors: bare subscriber {bare_rate['packets_per_s']:.0f}/s; "
        f"ours stored {stored_rate['packets_per_s']:.0f}/s ({result['stored_rate_ratio_to_bare']:.2f}x), "
        f"decided {decided_rate['packets_per_s']:.0f}/s ({result['decided_rate_ratio_to_bare']:.2f}x), "
        f"last decision {result['time_to_last_decision_s']:.1f} s after the start; "
        f"proof {'PASSED' if proof['all_passed'] else 'FAILED'}"
    )
    if not proof["all_passed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
