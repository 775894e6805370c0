"""Another process holds an exclusive SQLite write lock for longer than the busy timeout while packets arrive.

What must happen: the author port does not ACK what it could not store (NAK: the sender retries); a packet
from an upstream broker, which VTP lets us ACK only, is kept in memory and stored once the lock is gone;
packets already stored wait, unharmed, and are processed once the lock is gone; the log says why. Nothing is
lost or stored twice.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ingest.conftest import Broker, Daemon, wait_for
from tests.ingest.vtp_author import numbered_packet, send_voevent
from tests.reliability.helpers import DATA, all_processed, daemon_log, event_ivorns, inbox, ivorn_of
from tracet_gui.storage.engine import SQLITE_BUSY_TIMEOUT_ENV

pytestmark = [pytest.mark.reliability, pytest.mark.broker, pytest.mark.sqlite_only]
BUSY_TIMEOUT_MS = 400
LOCK_HELD_S = 3.0  # several busy timeouts (longer if sending takes longer: all is sent while locked)

LOCKER = """
import sqlite3, sys
from tracet_gui.core.vocabulary import Channel
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet

path, *files = sys.argv[1:]
db = Database.open("sqlite:///" + path, migrate=False)
for name in files:  # stored by another process (a file drop), not yet processed by the engine
    raw = open(name, "rb").read()
    store_raw_packet(db.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw), peer=name)
db.close()
con = sqlite3.connect(path, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("LOCKED", flush=True)
sys.stdin.read()  # until the test closes our stdin
con.execute("ROLLBACK")
print("RELEASED", flush=True)
"""


def test_an_exclusive_lock_held_by_another_process_loses_nothing(
    tmp_path: Path, broker: Broker, daemon_factory: Callable[..., Daemon]
) -> None:
    daemon = daemon_factory(
        "--remote",
        f"127.0.0.1:{broker.broadcast_port}",
        "--receive-port",
        "0",
        env={SQLITE_BUSY_TIMEOUT_ENV: str(BUSY_TIMEOUT_MS)},
    )
    assert daemon.receive_port is not None and daemon.process is not None
    url, author_port = daemon.db_url, daemon.receive_port
    daemon.wait_subscribed()
    template = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    before = numbered_packet(template, 0, "before")
    assert send_voevent("127.0.0.1", author_port, before) == "ack"
    wait_for(lambda: all_processed(url), 30, "the first packet")

    dropped = [numbered_packet(template, n, "file") for n in range(3)]
    names = []
    for n, packet in enumerate(dropped):
        names.append(tmp_path / f"drop{n}.xml")
        names[-1].write_bytes(packet)
    path = url.removeprefix("sqlite:///")
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, path, *map(str, names)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "locker.err").open("w"),
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdin is not None
        assert locker.stdout.readline().strip() == "LOCKED", (tmp_path / "locker.err").read_text()
        locked_at = time.monotonic()
        to_author = [numbered_packet(template, n, "author") for n in range(3)]
        to_broker = [numbered_packet(template, n, "broker") for n in range(3)]
        author_replies = []
        for a, b in zip(to_author, to_broker, strict=True):
            assert send_voevent("127.0.0.1", broker.receive_port, b) == "ack"  # the broker takes it, passes it on
            author_replies.append(send_voevent("127.0.0.1", author_port, a, timeout_s=30))
        time.sleep(max(0.0, LOCK_HELD_S - (time.monotonic() - locked_at)))  # held at least this long
        assert daemon.process.poll() is None
        # Not stored, so not acknowledged: the author knows to send it again.
        assert author_replies == ["nak"] * len(to_author)
        assert [r.raw for r in inbox(url)] == [before, *dropped]  # readers still see the database
    finally:
        if locker.stdin is not None:
            locker.stdin.close()
        locker.wait(timeout=30)
    assert locker.returncode == 0

    for packet in to_author:  # the author retries
        assert send_voevent("127.0.0.1", author_port, packet) == "ack"
    everything = [before, *dropped, *to_author, *to_broker]
    wait_for(lambda: len(inbox(url)) == len(everything) and all_processed(url), 30, "every packet stored, processed")
    rows = inbox(url)
    assert sorted(r.raw for r in rows) == sorted(everything)  # nothing lost, nothing twice
    assert [(r.ivorn, r.status, r.error) for r in rows if r.status != "processed"] == []
    assert sorted(event_ivorns(url)) == sorted(ivorn_of(p) for p in everything)
    log = daemon_log(daemon.workdir)
    assert "database is locked" in log
    assert daemon.stop() == 0
