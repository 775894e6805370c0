"""Database scale: the console over a synthetic database of 1,000,000 events in 100,000 groups.

The database is generated with bulk SQL (``INSERT … SELECT`` over a recursive CTE, consistent with
``storage/schema.py``: inbox rows, groups of ten events, two decisions per visible group, a reason line per
decision, an observation per triggered decision) and cached under ``bench/.cache/`` so reruns are quick.
Each database is measured in a fresh process (so peak RSS is that database's):

* open: ``Database.open`` + ``MainWindow(...)`` + show, until the first page (the dashboard) is painted;
* the first page of the groups list, of the events list;
* a quick search on the groups list and a source-type filter through its filter panel;
* sorting the groups by trig id; the next page (scrolling);
* peak RSS (``resource.getrusage``).

Baselines in the same run: the same operations on a small database (1,000 events, 100 groups), and the bare
SQL of the groups list's first page (``sqlite3``, no ORM, no Qt) on the big one.

Usage: .venv/bin/python bench/db_scale.py [--events 1000000] [--groups 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import write_result  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
GENERATOR_VERSION = 1
"""Bump when the generated rows change (the cache file name carries it)."""

OPEN_LIMIT_S = 1.0
PAGE_LIMIT_S = 0.3
"""What counts as slow: opening the console, and showing a page or applying a filter or sort (s)."""

EVENTS_PER_GROUP = 10
BASE = "2021-01-01 00:00:00"

# group g (1-based): source by g % 4, ignored unless g % 3 == 0, one group every 1,500 s
GROUP_SQL = """
INSERT INTO event_group (id, trig_id, source_type, source_name, telescope, ra_deg, dec_deg, pos_error_deg,
    best_event_id, earliest_observed_utc, latest_observed_utc, first_received_utc, last_received_utc, ignored,
    event_count, needs_attention)
WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < :groups)
SELECT g, printf('T%07d', g),
    CASE g % 4 WHEN 0 THEN 'GRB' WHEN 1 THEN 'FS' WHEN 2 THEN 'NU' ELSE 'GW' END,
    CASE g % 4 WHEN 1 THEN printf('HD %d', g) WHEN 3 THEN printf('S%07d', g) ELSE NULL END,
    CASE g % 4 WHEN 0 THEN (CASE WHEN g % 8 = 0 THEN 'SWIFT' ELSE 'Fermi' END) WHEN 1 THEN 'SWIFT'
        WHEN 2 THEN 'Antares' ELSE 'LVC' END,
    (g * 37) % 360, ((g * 53) % 180) - 90, 0.05 + (g % 7),
    (g - 1) * :per + :per,
    datetime(:base, printf('+%d seconds', g * 1500)) || '.000000',
    datetime(:base, printf('+%d seconds', g * 1500 + (:per - 1) * 60)) || '.000000',
    datetime(:base, printf('+%d seconds', g * 1500 + 5)) || '.000000',
    datetime(:base, printf('+%d seconds', g * 1500 + (:per - 1) * 60 + 5)) || '.000000',
    g % 3 != 0, :per, 0
FROM n
"""

INBOX_SQL = """
INSERT INTO inbox (id, received_utc, channel, peer, topic, ivorn, sha256, size_bytes, raw, status, processed_utc,
    duplicate_count)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :events)
SELECT i, datetime(:base, printf('+%d seconds', ((i - 1) / :per + 1) * 1500 + ((i - 1) % :per) * 60 + 5)) || '.000000',
    'vtp', '127.0.0.1', NULL, printf('ivo://bench/synthetic#%d', i), printf('%064x', i), 7, X'3C766F652F3E',
    'done', datetime(:base, printf('+%d seconds', ((i - 1) / :per + 1) * 1500 + ((i - 1) % :per) * 60 + 6))
        || '.000000', 0
FROM n
"""

EVENT_SQL = """
INSERT INTO event (id, inbox_id, group_id, ivorn, role, telescope, event_type, stream, trig_id,
    self_generated_trig_id, source_type, source_name, ignored, ignore_reason, observed_utc, received_utc, ra_deg,
    dec_deg, pos_error_deg, duration_s, sequence_num, extra)
SELECT i.id, i.id, g.id, i.ivorn, CASE WHEN i.id % 100 = 0 THEN 'test' ELSE 'observation' END, g.telescope,
    CASE g.source_type WHEN 'GW' THEN 'Preliminary' WHEN 'NU' THEN 'Alert' ELSE 'GRB_Pos' END,
    g.telescope || '_' || CASE g.source_type WHEN 'GW' THEN 'Preliminary' WHEN 'NU' THEN 'Alert' ELSE 'GRB_Pos' END,
    g.trig_id, 0, g.source_type, g.source_name, g.ignored, CASE WHEN g.ignored THEN 'not interesting' END,
    datetime(i.received_utc, '-5 seconds') || '.000000', i.received_utc, g.ra_deg, g.dec_deg, g.pos_error_deg,
    (i.id % 50) * 0.5, (i.id - 1) % :per + 1, '{}'
FROM inbox AS i JOIN event_group AS g ON g.id = (i.id - 1) / :per + 1
"""

# two decisions per visible group; a few pending, one in fifty triggered
DECISION_SQL = """
INSERT INTO proposal_decision (group_id, proposal_pk, decision, ra_deg, dec_deg, pos_error_deg, duration_s,
    needs_attention, created_utc, updated_utc, last_event_id)
WITH p(id, k, n) AS (SELECT id, row_number() OVER (ORDER BY id) - 1, count(*) OVER () FROM proposal)
SELECT g.id, p.id,
    CASE WHEN g.id % 997 = 0 THEN 'P' WHEN g.id % 50 = 0 THEN 'T' ELSE 'I' END,
    g.ra_deg, g.dec_deg, g.pos_error_deg, 600, 0, g.first_received_utc, g.last_received_utc, g.best_event_id
FROM event_group AS g JOIN p ON p.k IN (g.id % p.n, (g.id + 1) % p.n)
WHERE NOT g.ignored
"""

LOG_SQL = """
INSERT INTO decision_log (decision_id, group_id, event_id, at_utc, kind, text)
SELECT d.id, d.group_id, d.last_event_id, d.updated_utc, 'decision',
    CASE d.decision WHEN 'T' THEN 'Triggered: synthetic' WHEN 'P' THEN 'Pending: synthetic' ELSE 'Ignored: synthetic'
    END
FROM proposal_decision AS d
"""

OBSERVATION_SQL = """
INSERT INTO observation (decision_id, event_id, telescope, kind, pretend, reason, request, response, ok,
    trigger_id, requested_utc, responded_utc)
SELECT d.id, d.last_event_id, 'MWA_VCS', 'trigger', 1, 'synthetic', '{}', '{}', 1, printf('obs%d', d.id),
    d.updated_utc, d.updated_utc
FROM proposal_decision AS d WHERE d.decision = 'T'
"""

GROUP_PAGE_SQL = """
SELECT * FROM event_group WHERE ignored = 0
ORDER BY last_received_utc DESC, id DESC LIMIT 200
"""


def cache_path(events: int, groups: int) -> Path:
    return CACHE / f"db_scale_v{GENERATOR_VERSION}_{events}e_{groups}g.sqlite3"


def generate(path: Path, events: int, groups: int) -> float:
    """Create the synthetic database at ``path`` (schema through the app's migrations); seconds taken."""
    from tracet_gui.app import ensure_default_proposals
    from tracet_gui.storage.database import Database

    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    db = Database.open(f"sqlite:///{tmp}")
    ensure_default_proposals(db, "bench")
    db.close()
    params = {"events": events, "groups": groups, "per": EVENTS_PER_GROUP, "base": BASE}
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    with conn:
        for sql in (GROUP_SQL, INBOX_SQL, EVENT_SQL, DECISION_SQL, LOG_SQL, OBSERVATION_SQL):
            conn.execute(sql, {k: v for k, v in params.items() if f":{k}" in sql})
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.replace(path)
    return time.perf_counter() - t0


def ensure_database(events: int, groups: int) -> Path:
    path = cache_path(events, groups)
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} …", flush=True)
        print(f"  {generate(path, events, groups):.0f} s", flush=True)
    return path


# ------------------------------------------------------------------------------------------------------
# measuring (in a child process)
# ------------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(path: Path) -> dict[str, Any]:
    """One fresh console over ``path``: seconds per operation, peak RSS."""
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from tracet_gui.config import Settings
    from tracet_gui.storage.database import Database
    from tracet_gui.ui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="tracet-scale-"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp)
    app = QApplication(sys.argv[:1])
    url = f"sqlite:///{path}"
    Database.open(url).close()  # a pending migration runs here, not inside the timings
    settings = Settings(db_url=url, operator="bench")
    out: dict[str, float] = {}
    holder: list[Any] = []

    def open_console() -> None:
        db = Database.open(url)
        window = MainWindow(settings, db, None, qsettings=QSettings(str(tmp / "l.ini"), QSettings.Format.IniFormat))
        window.resize(1500, 920)
        window.show()
        app.processEvents()
        window.repaint()
        holder.extend([db, window])

    out["open_console_s"] = timed(open_console)
    db, window = holder
    groups = window.groups

    def show(index: int) -> Callable[[], None]:
        def run() -> None:
            window.show_page(index)
            app.processEvents()
            window.repaint()

        return run

    out["groups_first_page_s"] = timed(show(1))
    out["groups_next_page_s"] = timed(groups.model.fetchMore)

    def search(text: str) -> Callable[[], None]:
        def run() -> None:
            groups.search.setText(text)
            groups._search_now()  # what Enter in the search box does
            app.processEvents()

        return run

    out["groups_search_s"] = timed(search("T00123"))
    found_search = groups.model.total
    out["groups_search_clear_s"] = timed(search(""))

    def source_filter(value: str) -> Callable[[], None]:
        def run() -> None:
            groups.filter_panel._editors["source_type"].setCurrentText(value)
            groups.filter_panel.apply()
            app.processEvents()

        return run

    out["groups_source_filter_s"] = timed(source_filter("GW"))
    found_source = groups.model.total
    out["groups_source_filter_clear_s"] = timed(source_filter("Any"))
    column = groups.model.column_of("trig_id")
    assert column is not None
    out["groups_sort_trig_id_s"] = timed(lambda: groups.proxy.sort(column, Qt_ascending()))
    out["events_first_page_s"] = timed(show(2))
    out["decisions_first_page_s"] = timed(show(3))

    def poll_applied() -> None:
        """A poll reads on the watcher's thread: until its result is applied on this one."""
        before = window.watcher.polls_done
        window.watcher.poll()
        while window.watcher.polls_done <= before or window.watcher.busy:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)

    out["watcher_poll_idle_s"] = timed(poll_applied)
    totals = {"groups_listed": groups.model.total, "events_listed": window.events.model.total}
    window.close()
    db.close()
    bare = sqlite3.connect(path)
    out["bare_sql_group_page_s"] = min(timed(lambda: bare.execute(GROUP_PAGE_SQL).fetchall()) for _ in range(3))
    out["bare_sql_group_count_s"] = min(
        timed(lambda: bare.execute("SELECT count(*) FROM event_group WHERE ignored = 0").fetchone()) for _ in range(3)
    )
    bare.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": out,
        "peak_rss_mb": peak_kb / 1024,
        **totals,
        "search_matches": found_search,
        "gw_groups": found_source,
    }


def Qt_ascending() -> Any:  # noqa: N802 (reads like the Qt enum it returns)
    from PySide6.QtCore import Qt

    return Qt.SortOrder.AscendingOrder


def measure_in_child(path: Path, rounds: int) -> dict[str, Any]:
    """Median over ``rounds`` fresh processes (peak RSS: the largest)."""
    runs = []
    for _ in range(rounds):
        done = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    seconds = {k: statistics.median(r["seconds"][k] for r in runs) for k in runs[0]["seconds"]}
    return {**runs[-1], "seconds": seconds, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "db_scale.json"))
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return

    big = ensure_database(args.events, args.groups)
    small = ensure_database(1_000, 100)
    large = measure_in_child(big, args.rounds)
    baseline = measure_in_child(small, args.rounds)
    s = large["seconds"]
    slow = sorted(
        k
        for k, v in s.items()
        if not k.startswith("bare_") and v > (OPEN_LIMIT_S if k == "open_console_s" else PAGE_LIMIT_S)
    )
    result = {
        "benchmark": "db_scale",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores python {platform.python_version()}",
        "load_average_1min_at_end": os.getloadavg()[0],
        "database": {"events": args.events, "groups": args.groups, "file_mb": big.stat().st_size / 2**20},
        "large": large,
        "baseline_small_database": {"events": 1_000, "groups": 100, **baseline},
        "ratio_to_small": {k: s[k] / max(baseline["seconds"][k], 1e-6) for k in s},
        "groups_first_page_over_bare_sql": s["groups_first_page_s"] / max(s["bare_sql_group_page_s"], 1e-6),
        "limits_s": {"open": OPEN_LIMIT_S, "page_filter_sort": PAGE_LIMIT_S},
        "slow": slow,
    }
    write_result(args.out, result)
    for key, value in s.items():
        print(f"{key:32s} {value * 1e3:9.1f} ms   (small database: {baseline['seconds'][key] * 1e3:7.1f} ms)")
    print(f"peak RSS {large['peak_rss_mb']:.0f} MB (small database: {baseline['peak_rss_mb']:.0f} MB)")
    print("slow: " + (", ".join(slow) if slow else "none"))


if __name__ == "__main__":
    main()
