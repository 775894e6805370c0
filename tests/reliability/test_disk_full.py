"""The database's disk fills up while packets arrive, then space comes back.

Wanted: a clear error (log line, the ``database`` health entry the GUI shows), no crash, nothing acknowledged
lost (authors get a NAK and send again; a broker's packets are kept in memory and stored later; stored packets
wait and are never marked failed), and recovery without a restart once there is space again.

Two ways to fill it: a real small file system (a tmpfs mounted for the test: needs root, as in CI), and, where
mounting is not allowed, SQLite's own "database or disk is full" (``PRAGMA max_page_count``) on the same code
paths in-process, which runs everywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from tests.ingest.conftest import Broker, Daemon, wait_for
from tests.ingest.vtp_author import numbered_packet, send_voevent
from tests.reliability.helpers import DATA, all_processed, daemon_log, event_ivorns, inbox, ivorn_of
from tracet_gui.config import Settings
from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.engine import DATABASE_HEALTH, Engine
from tracet_gui.ingest.health import ConnectionState
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet

pytestmark = [pytest.mark.reliability, pytest.mark.sqlite_only]

TEMPLATE = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
PADDING = 90_000  # bytes of comment per "big" packet: each needs fresh pages, and Comet brokers pass it on (< 99,999)


def big_packet(n: int, tag: str) -> bytes:
    return numbered_packet(TEMPLATE, n, tag).replace(b"</What>", b"<!--" + b"p" * PADDING + b"--></What>")


# ---------------------------------------------------------------------------------------- a real small disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted on a temporary directory (unmounted afterwards, whatever happens)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8); covered by the max_page_count test")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tracet-test", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mount is not permitted here ({done.stderr.strip()}); covered by the max_page_count test")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1 << 9):  # big writes, then top up what is left
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_reported_loses_nothing_and_recovers_without_restart(
    small_disk: Path, broker: Broker, daemon_factory: Callable[..., Daemon]
) -> None:
    url = f"sqlite:///{small_disk / 'engine.sqlite3'}"
    daemon = daemon_factory("--remote", f"127.0.0.1:{broker.broadcast_port}", "--receive-port", "0", db_url=url)
    assert daemon.receive_port is not None and daemon.process is not None
    author_port = daemon.receive_port
    daemon.wait_subscribed()
    first = numbered_packet(TEMPLATE, 0, "first")
    assert send_voevent("127.0.0.1", author_port, first) == "ack"
    wait_for(lambda: all_processed(url), 30, "the first packet")

    filler = fill(small_disk)
    acked: list[bytes] = [first]
    refused: list[bytes] = []
    for n in range(40):  # 3.6 MB in all: whatever SQLite can still fit in its WAL, it soon cannot
        packet = big_packet(n, "author")
        (acked if send_voevent("127.0.0.1", author_port, packet, timeout_s=30) == "ack" else refused).append(packet)
        if len(refused) >= 3:
            break
    assert refused, "the full disk never refused a packet"
    to_broker = [big_packet(n, "broker") for n in range(3)]
    for packet in to_broker:  # the broker ACKs its author; we must keep them although we cannot store them yet
        assert send_voevent("127.0.0.1", broker.receive_port, packet) == "ack"
    wait_for(lambda: "not stored yet (the database or disk is full)" in daemon_log(daemon.workdir), 20, "the log")
    assert daemon.process.poll() is None
    log = daemon_log(daemon.workdir)
    assert "NOT stored: the database or disk is full; NAK sent" in log

    filler.unlink()  # space comes back; no restart
    for packet in refused:  # the author sends again what was refused
        assert send_voevent("127.0.0.1", author_port, packet, timeout_s=30) == "ack"
    everything = [*acked, *refused, *to_broker]
    wait_for(lambda: len(inbox(url)) == len(everything) and all_processed(url), 60, "every packet stored, processed")
    rows = inbox(url)
    assert sorted(r.raw for r in rows) == sorted(everything)  # nothing lost, nothing twice
    assert [(r.ivorn, r.error) for r in rows if r.status != "processed"] == []
    assert sorted(event_ivorns(url)) == sorted(ivorn_of(p) for p in everything)
    assert daemon.stop() == 0


# ------------------------------------------------------------------------- SQLite's own "disk full", in-process


class PageLimit:
    """Caps the database file at ``pages`` pages on every connection the engine checks out (None: no cap)."""

    def __init__(self, database: Database) -> None:
        self.pages: int | None = None
        event.listen(database.engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: object, _record: object, _proxy: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"PRAGMA max_page_count={self.pages or 1_073_741_823}")
        cursor.close()


def test_sqlite_database_full_keeps_packets_waiting_and_recovers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    database = Database.open(url)
    limit = PageLimit(database)
    waiting = [numbered_packet(TEMPLATE, n, "waiting") for n in range(8)]
    other = Database.open(url, migrate=False)  # another writer (a file drop) stored these before the engine ran
    for packet in waiting:
        store_raw_packet(other.sessions, packet, Channel.FILE, ivorn=peek_ivorn(packet), peer="drop")
    other.close()
    with database.session() as s:
        limit.pages = int(s.execute(text("PRAGMA page_count")).scalar_one())  # not one page more

    engine = Engine(Settings(db_url=url), database)
    engine.start()
    try:

        def database_health() -> tuple[ConnectionState, str | None] | None:
            found = engine.health_registry.get(DATABASE_HEALTH)
            return None if found is None else (found.state, found.last_error)

        wait_for(lambda: database_health() is not None, 20, "the database health entry")
        assert database_health() == (
            ConnectionState.ERROR,
            "the database or disk is full: packets wait (authors get NAK), retrying",
        )  # type: ignore[comparison-overlap]
        with pytest.raises(Exception, match="database or disk is full"):
            engine.submit_bytes(big_packet(0, "refused"))  # the console's own submit is told at once
        assert [r.status for r in inbox(url) if r.status == "failed"] == []  # waiting, never failed
        limit.pages = None  # space again
        wait_for(lambda: all_processed(url), 20, "the waiting packets")
        late = big_packet(1, "late")
        assert not engine.submit_bytes(late).duplicate
        wait_for(lambda: all_processed(url) and len(inbox(url)) == len(waiting) + 1, 20, "the late packet")
        state = database_health()
        assert state is not None and state[0] is ConnectionState.CONNECTED
    finally:
        engine.stop()
        database.close()
    rows = inbox(url)
    assert [r.status for r in rows] == ["processed"] * len(rows)
    assert sorted(r.raw for r in rows) == sorted([*waiting, late])
