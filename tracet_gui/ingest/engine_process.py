"""The engine as a child process of a console: ``tracet-gui headless`` on the console's database and config.

A console that runs the engine in its own process shares Python's global interpreter lock with it: during a burst
the engine's threads hold it and every call from Qt's painting into Python waits (``bench/gui_stall.py`` measured
the longest GUI stall at about three times that of the same console beside a separate engine). So ``tracet-gui run``
starts the engine as a child and is itself a viewer of the shared database: the same arrangement as an
observatory's ``headless`` server with viewer consoles, on one machine.

The child is started with ``--stop-on-stdin-eof`` and a pipe as its standard input, so it stops when the console
exits, however it exits. Its ``READY receive_port=N`` line gives the author port the demo feed is sent to; its
feed health reaches the console through ``feed_status`` like any engine's.
"""

from __future__ import annotations

import collections
import logging
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracet_gui.config import Settings
from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.vtp import NoReplyError, send_to_author_port
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.database import Database
from tracet_gui.storage.feed_status import FeedStatus, read_feed_status
from tracet_gui.storage.inbox import StoredPacket, store_raw_packet

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0
"""How long a stopping child may take to finish what it accepted before it is killed (s)."""

STARTUP_TIMEOUT_S = 120.0
"""How long the child may take to print READY (imports, migrations) before it counts as failed (s)."""


def demo_ivorn(ivorn: bytes, tag: bytes) -> bytes:
    """A fresh IVORN for a replayed demo packet that keeps what the parser reads from it.

    LVC alerts carry their alert type as the last ``-`` token, so the tag goes before it.
    """
    head, sep, tail = ivorn.rpartition(b"-")
    if ivorn.startswith(b"ivo://gwnet/") and sep:
        return head + b"-" + tag + b"-" + tail
    return ivorn + b"-" + tag


def as_fresh_demo_packet(raw: bytes, tag: bytes) -> bytes:
    """``raw`` with its IVORN made unique by ``tag`` (a demo run never collides with a stored packet)."""
    return re.sub(rb'ivorn="([^"]+)"', lambda m: b'ivorn="' + demo_ivorn(m.group(1), tag) + b'"', raw, count=1)


def send_demo_packet(packet: bytes, port: int | None, store: Callable[[bytes], object]) -> None:
    """Send a demo packet to the engine's author port, like a real push, on a short-lived thread (the caller, the
    GUI, never waits on the network); without a port, ``store`` it directly."""

    def send() -> None:
        try:
            if port is None:
                store(packet)
            else:
                send_to_author_port("127.0.0.1", port, packet)
        except NoReplyError as exc:  # the demo feed's last packet is malformed on purpose
            log.warning(
                "demo packet %s: %s; a packet the author port cannot read is kept in the inbox as failed",
                peek_ivorn(packet) or "(no IVORN)",
                exc,
            )
        except Exception:
            log.exception("demo packet not sent")

    threading.Thread(target=send, name="demo-author", daemon=True).start()


def headless_command(settings: Settings, config_path: Path | None) -> list[str]:
    """The command line that runs ``headless`` with ``settings`` (also from a PyInstaller bundle)."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "tracet_gui"]
    command = [*base, "headless", "--db", settings.db_url, "--stop-on-stdin-eof"]
    if config_path is not None:
        command += ["--config", str(config_path)]
    if settings.receive_port is not None:
        command += ["--receive-port", str(settings.receive_port)]
    if settings.telescope_base_url:
        command += ["--telescope-url", settings.telescope_base_url]
        if settings.simulator_credentials:
            command.append("--simulator-credentials")
    return command


@dataclass(frozen=True, slots=True)
class EngineExit:
    """How the child ended: its exit status and the last lines it wrote to standard error."""

    status: int
    stderr_tail: str


class EngineProcess:
    """``tracet-gui headless`` run as a child of a console (the console's ``engine``)."""

    def __init__(self, settings: Settings, database: Database, config_path: Path | None = None) -> None:
        self.settings = settings
        self.database = database
        self.command = headless_command(settings, config_path)
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._listening = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = threading.Lock()
        self._tag = f"demo{datetime.now(UTC):%Y%m%dT%H%M%S}".encode()
        self.receive_port: int | None = None

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the child (returns at once; :meth:`wait_ready` waits for its READY line)."""
        self._process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        threading.Thread(target=self._read_stdout, name="engine-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="engine-stderr", daemon=True).start()

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
        """True once the child listens (its READY line), False if it exited or did not start in time."""
        return self._ready.wait(timeout_s) and self._listening and self.exited is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> EngineExit | None:
        """Ask the child to stop (it finishes what it accepted), kill it after ``timeout_s``; its exit."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            if sys.platform == "win32":
                process.terminate()
            else:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.error("the engine did not stop within %.0f s: killing it", timeout_s)
                process.kill()
                process.wait()
        if process.stdin is not None:
            process.stdin.close()
        return self.exited

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def exited(self) -> EngineExit | None:
        """The child's exit, or None while it runs."""
        if self._process is None or self._process.poll() is None:
            return None
        with self._lock:
            tail = "\n".join(self._stderr)
        return EngineExit(self._process.returncode, tail)

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("READY"):
                port = line.partition("receive_port=")[2]
                self.receive_port = int(port) if port.isdigit() else None
                self._listening = True
                self._ready.set()
            elif line:
                log.info("engine: %s", line)
        self._ready.set()  # it exited: nobody should wait any longer

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            with self._lock:
                self._stderr.append(line)
            log.debug("engine stderr: %s", line)

    # -- what the console asks of its engine ------------------------------------------------------------

    def health(self) -> list[FeedStatus]:
        """The child's feed health as it last published it (``feed_status``)."""
        return read_feed_status(self.database.sessions)

    def submit_file(self, path: Path) -> StoredPacket:
        """Store a file's bytes in the inbox; the engine processes the inbox in order (within about a second)."""
        raw = Path(path).read_bytes()
        return store_raw_packet(self.database.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw), peer=str(path))

    def publish_demo(self, raw: bytes) -> None:
        """Send a bundled packet as a fresh alert through the child's author port (on a short-lived thread)."""
        sessions = self.database.sessions
        send_demo_packet(
            as_fresh_demo_packet(raw, self._tag),
            self.receive_port,
            lambda packet: store_raw_packet(sessions, packet, Channel.MANUAL, ivorn=peek_ivorn(packet)),
        )
