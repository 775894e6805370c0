"""Real parts for ingest tests: a `twistd comet` broker and the `tracet-gui headless` daemon on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


#: Threads that live for the whole process by design (a Twisted reactor cannot be restarted).
PROCESS_LIFETIME_THREADS = ("twisted-reactor",)


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """A test that leaves a thread running fails (services must stop and join what they started)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0  # threads that were told to stop may need a moment to return
    while True:
        left = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(PROCESS_LIFETIME_THREADS)
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"threads left running: {[t.name for t in left]}"


@dataclass
class Broker:
    receive_port: int
    broadcast_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)
    """More `twistd comet` options, e.g. ``--remote=HOST:PORT --save-event`` for a downstream broker."""
    env: dict[str, str] = field(default_factory=dict)
    """More environment for the broker process (on top of ours)."""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "broker.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(BIN / "twistd"),
                "-n",
                "--pidfile=",
                "comet",
                "--receive",
                f"--receive-port={self.receive_port}",
                "--broadcast",
                f"--broadcast-port={self.broadcast_port}",
                "--local-ivo=ivo://test/broker",
                f"--eventdb={self.workdir}",
                "--broadcast-test-interval=0",
                "--author-whitelist=127.0.0.1/32",
                *self.extra_args,
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        wait_for(lambda: port_open(self.receive_port) and port_open(self.broadcast_port), 20, "the comet broker")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(free_port(), free_port(), tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@dataclass
class Daemon:
    db_url: str
    args: list[str]
    workdir: Path
    process: subprocess.Popen[str] | None = None
    receive_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the daemon (on top of private XDG directories)."""

    def start(self) -> None:
        env = {
            **os.environ,
            "XDG_STATE_HOME": str(self.workdir / "state"),
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            **self.env,
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracet_gui", "headless", "--db", self.db_url, *self.args],
            stdout=subprocess.PIPE,
            stderr=(self.workdir / "daemon.err").open("a"),
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("READY"), f"daemon did not start: {line!r}"
        port = line.strip().split("receive_port=")[1]
        self.receive_port = None if port == "None" else int(port)

    def wait_subscribed(self, timeout_s: float = 20.0) -> None:
        """Wait until the daemon logged a connected broker subscription (``broker_log``) in its database."""
        from sqlalchemy import select

        from tracet_gui.storage.database import Database
        from tracet_gui.storage.schema import BrokerLogRow

        db = Database.open(self.db_url, migrate=False)
        try:

            def connected() -> bool:
                with db.session() as s:
                    return s.scalar(select(BrokerLogRow.id).where(BrokerLogRow.state == "connected")) is not None

            wait_for(connected, timeout_s, "the subscription to the broker")
        finally:
            db.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self.process = None
        return code


@pytest.fixture
def daemon_factory(tmp_path: Path, db_url: str) -> Iterator[Callable[..., Daemon]]:
    """Starts `tracet-gui headless` subprocesses; by default on the test's database (``db_url``)."""
    started: list[Daemon] = []
    default_url = db_url

    def make(*args: str, db_url: str | None = None, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(db_url or default_url, list(args), tmp_path / "daemon", env=env or {})
        daemon.start()
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        if daemon.process is not None:
            daemon.stop(signal.SIGKILL)
