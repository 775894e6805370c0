"""The VTP inbox writer: group commit, each packet's Deferred fired only after the commit that stored it.

The reactor is stood in for by a queue of the calls the writer hands back (``callFromThread``), run by the test
thread as the reactor thread would run them; the store function is a real inbox on SQLite.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest import vtp
from tracet_gui.ingest.vtp import InboxWriter
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import RawPacket, StoredPacket, store_raw_packets
from tracet_gui.storage.schema import InboxRow

WAIT_S = 10.0


class FakeReactor:
    """``callFromThread`` queues the call; ``run_one`` runs the next one in the calling (test) thread."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.Queue()

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.calls.put((f, args))

    def run_one(self) -> None:
        f, args = self.calls.get(timeout=WAIT_S)
        f(*args)


@pytest.fixture
def reactor(monkeypatch: pytest.MonkeyPatch) -> FakeReactor:
    fake = FakeReactor()
    monkeypatch.setattr(vtp, "reactor", fake)
    return fake


def packet(n: int) -> bytes:
    return f'<voe:VOEvent ivorn="ivo://test/writer#{n}" role="test"/>'.encode()


class GatedStore:
    """The inbox store, holding its first transaction until released, recording each batch."""

    def __init__(self, db: Database, fail_on: bytes | None = None) -> None:
        self.db = db
        self.batches: list[list[bytes]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, packets: Sequence[RawPacket]) -> list[StoredPacket]:
        self.batches.append([p.raw for p in packets])
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(WAIT_S)
        if self.fail_on is not None and any(p.raw == self.fail_on for p in packets):
            raise RuntimeError("this packet cannot be stored")
        return store_raw_packets(self.db.sessions, packets)


@pytest.fixture
def writer_for() -> Iterator[Callable[[GatedStore], InboxWriter]]:
    started: list[InboxWriter] = []

    def make(store: GatedStore) -> InboxWriter:
        writer = InboxWriter(store)
        writer.start()
        started.append(writer)
        return writer

    yield make
    for writer in started:
        writer.stop()


def test_packets_arriving_during_a_commit_share_the_next_one_and_are_acked_after_it(
    db: Database, reactor: FakeReactor, writer_for: Callable[[GatedStore], InboxWriter]
) -> None:
    store = GatedStore(db)
    writer = writer_for(store)
    first = writer.run(packet(0), Channel.VTP_REMOTE, "vtp://broker")
    assert store.entered.wait(WAIT_S)  # the first commit is in progress...
    rest = [writer.run(packet(n), Channel.VTP_REMOTE, "vtp://broker") for n in range(1, 6)]
    drained = writer.drained()
    assert len(writer) == 6
    assert not first.called and not any(d.called for d in rest)  # nothing ACKed before its commit
    store.release.set()
    reactor.run_one()  # the first transaction's results reach the reactor
    assert first.called and not any(d.called for d in rest) and not drained.called
    reactor.run_one()
    assert all(d.called for d in rest) and drained.called and len(writer) == 0
    assert store.batches == [[packet(0)], [packet(n) for n in range(1, 6)]]  # one commit for the five
    results: list[bool] = []
    for d in [first, *rest]:
        d.addCallback(results.append)
    assert results == [True] * 6  # all new
    with db.session() as s:
        rows = s.execute(select(InboxRow.raw, InboxRow.channel, InboxRow.peer, InboxRow.ivorn)).all()
    assert sorted(r.raw for r in rows) == sorted(packet(n) for n in range(6))
    assert {(r.channel, r.peer) for r in rows} == {("vtp-remote", "vtp://broker")}
    assert {r.ivorn for r in rows} == {f"ivo://test/writer#{n}" for n in range(6)}  # peeked for de-duplication


def test_a_duplicate_in_the_same_batch_is_stored_once(
    db: Database, reactor: FakeReactor, writer_for: Callable[[GatedStore], InboxWriter]
) -> None:
    store = GatedStore(db)
    writer = writer_for(store)
    writer.run(packet(0), Channel.VTP_REMOTE, "a")
    assert store.entered.wait(WAIT_S)
    again = [writer.run(packet(1), Channel.VTP_REMOTE, "a"), writer.run(packet(1), Channel.VTP_AUTHOR, "b")]
    store.release.set()
    reactor.run_one()
    reactor.run_one()
    new: list[bool] = []
    for d in again:
        d.addCallback(new.append)
    assert new == [True, False]
    with db.session() as s:
        counts = s.execute(select(InboxRow.ivorn, InboxRow.duplicate_count).order_by(InboxRow.id)).all()
    assert [tuple(r) for r in counts] == [("ivo://test/writer#0", 0), ("ivo://test/writer#1", 1)]


def test_a_packet_that_cannot_be_stored_fails_alone(
    db: Database, reactor: FakeReactor, writer_for: Callable[[GatedStore], InboxWriter]
) -> None:
    store = GatedStore(db, fail_on=packet(2))
    writer = writer_for(store)
    writer.run(packet(0), Channel.VTP_AUTHOR, "author")
    assert store.entered.wait(WAIT_S)
    later = [writer.run(packet(n), Channel.VTP_AUTHOR, "author") for n in (1, 2, 3)]
    store.release.set()
    reactor.run_one()
    reactor.run_one()
    outcomes: list[object] = []
    for d in later:
        d.addCallbacks(outcomes.append, lambda f: outcomes.append(f.getErrorMessage()))
    assert outcomes == [True, "this packet cannot be stored", True]  # an author gets a NAK for that one only
    assert store.batches[1:] == [[packet(1), packet(2), packet(3)], [packet(1)], [packet(2)], [packet(3)]]
    with db.session() as s:
        assert sorted(s.scalars(select(InboxRow.raw))) == sorted([packet(0), packet(1), packet(3)])


def test_stop_writes_what_was_queued_first(db: Database, reactor: FakeReactor) -> None:
    store = GatedStore(db)
    store.release.set()
    writer = InboxWriter(store)
    writer.start()
    deferreds = [writer.run(packet(n), Channel.VTP_REMOTE, "a") for n in range(3)]
    writer.stop()
    while not reactor.calls.empty():
        reactor.run_one()
    assert all(d.called for d in deferreds) and len(writer) == 0
    with db.session() as s:
        assert len(s.scalars(select(InboxRow.id)).all()) == 3
