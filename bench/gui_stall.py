"""GUI responsiveness during a packet burst: the longest Qt event-loop stall while 1,000 packets arrive.

The console runs as ``tracet-gui run`` runs it (the default, ``--engine headless``): the real ``MainWindow`` as a
viewer, the engine (``tracet-gui headless``) in its own process on the same SQLite file, subscribed to a real
``twistd comet`` broker on 127.0.0.1. ``--engine embedded`` puts the engine's threads (pipeline, Twisted
reactor) in the console's process instead: the difference is what they cost the GUI thread (one GIL).
An author process pushes the packets to the broker as fast as it ACKs them (a new trigger every second packet,
so groups are both created and updated). It is a process of its own, as real authors are: a sender thread in
the console's process would compete with the window for the interpreter lock, which no deployment does.
The operator has looked at every page once and the groups list is on screen.

The probe is a QTimer firing every ``--tick-ms`` on the GUI thread; a stall is the gap between two firings
minus the interval. Baseline in the same run: the same probe over the same window, idle (engine running,
no packets), for ``--idle-s`` seconds.

Usage: .venv/bin/python bench/gui_stall.py [--packets 1000] [--idle-s 10] [--engine embedded|headless] [--profile]
(QT_QPA_PLATFORM defaults to offscreen.)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import platform
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import percentile, write_result  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.ingest.conftest import Broker, Daemon, free_port  # noqa: E402
from tests.ingest.vtp_author import numbered_packet, send_voevent  # noqa: E402
from tracet_gui.app import ensure_default_proposals  # noqa: E402
from tracet_gui.config import Settings  # noqa: E402
from tracet_gui.ingest.vtp import stop_reactor  # noqa: E402
from tracet_gui.storage.database import Database  # noqa: E402
from tracet_gui.storage.views import read_watermarks  # noqa: E402
from tracet_gui.ui.main_window import FREEZE_AFTER_START_MS, MainWindow, make_engine  # noqa: E402

STALL_LIMIT_MS = 100.0
"""Target: no GUI stall longer than this during the burst (ms)."""


class StallProbe:
    """A QTimer on the GUI thread; records the gap between consecutive firings."""

    def __init__(self, tick_ms: int) -> None:
        self.tick_ms = tick_ms
        self.gaps_s: list[float] = []
        self._last: float | None = None
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps_s.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self.gaps_s = []
        self._last = None
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        stalls = [max(0.0, g * 1e3 - self.tick_ms) for g in self.gaps_s] or [0.0]
        ordered = sorted(stalls)
        return {
            "ticks": len(self.gaps_s),
            "longest_stall_ms": ordered[-1],
            "p99_stall_ms": percentile(ordered, 0.99),
            "median_stall_ms": statistics.median(ordered),
            "stalls_over_limit": sum(1 for s in stalls if s > STALL_LIMIT_MS),
        }


def pump(seconds: float) -> None:
    """Run the Qt event loop for ``seconds``."""
    loop = QEventLoop()
    QTimer.singleShot(max(0, int(seconds * 1000)), loop.quit)
    loop.exec()


def pump_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")
        pump(0.1)


def newest_event(db: Database) -> int:
    """Highest event id committed (the headless engine reports nothing to this process)."""
    return read_watermarks(db.sessions).event_id


def burst_packets(count: int) -> list[bytes]:
    """``count`` Swift BAT positions with unique IVORNs; a new trigger every second packet."""
    template = (ROOT / "tests" / "data" / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    return [
        numbered_packet(template, n, "stall").replace(
            b'name="TrigID" value="1093742"', f'name="TrigID" value="{3_000_000 + n // 2}"'.encode()
        )
        for n in range(count)
    ]


def send_all(port: int, count: int, go: Any, replies: Any) -> None:
    """The author process: every packet to the broker's receive port, each after the previous one's ACK."""
    packets = burst_packets(count)
    go.wait()
    replies.put([send_voevent("127.0.0.1", port, packet) for packet in packets])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packets", type=int, default=1000)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--tick-ms", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the GUI thread during the burst")
    parser.add_argument(
        "--engine",
        choices=("embedded", "headless"),
        default="headless",
        help="headless (default, as `tracet-gui run` runs it): `tracet-gui headless` in its own process on the same "
        "SQLite file, the console a viewer; embedded: the engine in the GUI process",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gui_stall.json"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tracet-stall-"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(tmp / var.lower())
        (tmp / var.lower()).mkdir()
    app = QApplication(sys.argv[:1])
    broker = Broker(free_port(), free_port(), tmp / "broker")
    broker.start()
    settings = replace(
        Settings(db_url=f"sqlite:///{tmp / 'stall.sqlite3'}", operator="bench"),
        remotes=(f"127.0.0.1:{broker.broadcast_port}",),
    )
    db = Database.open(settings.db_url)
    ensure_default_proposals(db, settings.operator)
    results: list[Any] = []
    holder: list[MainWindow] = []

    def on_result(result: Any) -> None:  # engine thread, exactly as run_gui wires it
        results.append(result)
        if holder:
            holder[0].watcher.on_engine_result(result)

    engine: Any = None
    daemon: Daemon | None = None
    if args.engine == "embedded":
        engine = make_engine(settings, db, on_result)
    else:
        daemon = Daemon(settings.db_url, ["--remote", settings.remotes[0]], tmp / "daemon")
        daemon.start()
    window = MainWindow(settings, db, engine, qsettings=QSettings(str(tmp / "layout.ini"), QSettings.Format.IniFormat))
    holder.append(window)
    window.resize(1500, 920)
    window.show()
    window.start()
    for index in range(window.tabs.count()):  # the operator has looked at every page once
        window.show_page(index)
        pump(0.2)
    window.show_page(1)  # the groups list on screen
    pump(max(3.0, FREEZE_AFTER_START_MS / 1e3 + 1.0))  # subscription up, first paints done, start-up objects frozen

    probe = StallProbe(args.tick_ms)
    probe.start()
    pump(args.idle_s)
    idle = probe.stop()

    context = multiprocessing.get_context("spawn")  # no fork of a process running Qt
    replies = context.Queue()
    go = context.Event()
    sender = context.Process(target=send_all, args=(broker.receive_port, args.packets, go, replies), name="author")
    sender.start()

    def shown() -> int:
        """Events the console has taken in (its watcher's watermark; the hidden events page defers its rows)."""
        return window.watcher.watermarks.event_id

    profiler = cProfile.Profile() if args.profile else None
    probe.start()
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    go.set()
    if daemon is None:
        pump_until(lambda: len(results) >= args.packets, 600, "the engine to process every packet")
    else:
        # read off the GUI thread: the probe measures the console, not this wait's own queries
        newest = [0]
        watching = threading.Event()

        def watch() -> None:
            while not watching.wait(0.1):
                newest[0] = newest_event(db)

        watcher = threading.Thread(target=watch, name="bench-newest-event")
        watcher.start()
        try:
            pump_until(lambda: newest[0] >= args.packets, 600, "the engine to process every packet")
        finally:
            watching.set()
            watcher.join()
    t_processed = time.perf_counter() - t0
    pump_until(lambda: shown() >= args.packets, 60, "the console to take in every event")
    t_shown = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
    burst = probe.stop()
    sent: list[str] = replies.get(timeout=60)
    sender.join()

    window.close()
    if engine is not None:
        engine.stop()
    if daemon is not None:
        daemon.stop()
    db.close()
    broker.stop()
    stop_reactor()

    profile_text = None
    if profiler is not None:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
        profile_text = stream.getvalue()
        print(profile_text)

    result = {
        "benchmark": "gui_stall",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores python {platform.python_version()}",
        "load_average_1min_at_end": os.getloadavg()[0],
        "qt_platform": os.environ["QT_QPA_PLATFORM"],
        "engine": args.engine,
        "packets": args.packets,
        "acked": sum(1 for s in sent if s == "ack"),
        "tick_ms": args.tick_ms,
        "limit_ms": STALL_LIMIT_MS,
        "burst": {**burst, "processed_s": t_processed, "shown_s": t_shown},
        "baseline_idle": {**idle, "duration_s": args.idle_s},
        "longest_stall_over_idle_ms": burst["longest_stall_ms"] - idle["longest_stall_ms"],
    }
    write_result(args.out, result)
    print(
        f"{args.packets} packets in {t_processed:.1f} s (all taken in by the console after {t_shown:.1f} s): "
        f"longest GUI stall {burst['longest_stall_ms']:.0f} ms, p99 {burst['p99_stall_ms']:.1f} ms, "
        f"{burst['stalls_over_limit']} over {STALL_LIMIT_MS:.0f} ms; idle baseline: longest "
        f"{idle['longest_stall_ms']:.0f} ms, p99 {idle['p99_stall_ms']:.1f} ms"
    )
    del app


if __name__ == "__main__":
    main()
