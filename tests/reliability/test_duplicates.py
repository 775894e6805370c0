"""The same alerts arriving at once from several channels (a broker subscription, the author port, a file drop):
stored once, processed once, decided once, and each repeat counted on the original row."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.ingest.conftest import Broker, Daemon, wait_for
from tests.ingest.vtp_author import numbered_packet, send_voevent
from tests.reliability.helpers import DATA, inbox, ivorn_of
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import DecisionLogRow, EventRow, ProposalDecisionRow

pytestmark = [pytest.mark.reliability, pytest.mark.broker]
PACKETS = 24
FILES = 8  # of them also dropped as files, ingested by `tracet-gui ingest` while the engine runs


def test_the_same_alerts_from_three_channels_at_once_are_stored_and_decided_once(
    tmp_path: Path, broker: Broker, daemon_factory: Callable[..., Daemon]
) -> None:
    daemon = daemon_factory("--remote", f"127.0.0.1:{broker.broadcast_port}", "--receive-port", "0")
    assert daemon.receive_port is not None
    url, author_port = daemon.db_url, daemon.receive_port
    daemon.wait_subscribed()
    db = Database.open(url, migrate=False)
    template = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    packets = [numbered_packet(template, n, "dup") for n in range(PACKETS)]
    drop = tmp_path / "drop"
    drop.mkdir()
    for n, packet in enumerate(packets[:FILES]):
        (drop / f"{n:02d}.xml").write_bytes(packet)

    replies: dict[str, list[str]] = {"broker": [], "author": []}
    errors: list[BaseException] = []

    def send_all(port: int, channel: str) -> None:
        try:
            for packet in packets:
                replies[channel].append(send_voevent("127.0.0.1", port, packet))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    senders = [
        threading.Thread(target=send_all, args=(broker.receive_port, "broker"), name="to-broker"),
        threading.Thread(target=send_all, args=(author_port, "author"), name="to-author-port"),
    ]
    for t in senders:
        t.start()
    ingest = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "ingest", str(drop), "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for t in senders:
        t.join(60)
    assert not errors, errors
    assert replies == {"broker": ["ack"] * PACKETS, "author": ["ack"] * PACKETS}  # the broker ACKs, and we do
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert "Traceback" not in ingest.stderr

    expected_repeats = {ivorn_of(p): (2 if n < FILES else 1) for n, p in enumerate(packets)}

    def every_copy_arrived() -> bool:
        rows = inbox(url)
        return (
            len(rows) == PACKETS
            and all(r.status != "new" for r in rows)
            and ({r.ivorn: r.duplicate_count for r in rows} == expected_repeats)
        )

    wait_for(every_copy_arrived, 30, "every copy from every channel")
    rows = inbox(url)
    assert all(r.status == "processed" for r in rows), [(r.ivorn, r.status, r.error) for r in rows]
    assert sorted(r.raw for r in rows) == sorted(packets)  # each alert stored once, byte for byte
    with db.session() as s:
        events = Counter(s.scalars(select(EventRow.ivorn)))
        assert events == Counter({ivorn_of(p): 1 for p in packets})  # processed once
        decided = Counter(s.scalars(select(ProposalDecisionRow.group_id)))
        assert decided and set(decided.values()) == {max(decided.values())}  # every group, the same proposals
        first_looks = Counter(
            s.scalars(select(DecisionLogRow.decision_id).where(DecisionLogRow.text == "Beginning event analysis."))
        )
        assert set(first_looks.values()) == {1}  # each decision evaluated from scratch exactly once
        assert len(first_looks) == sum(decided.values())
    db.close()
    assert daemon.stop() == 0
