"""Hostile and malformed packets end to end, through the headless engine's author port and through file ingest:
each is kept in the inbox as failed with a reason, nothing leaks, the engine stays up, the next good packet is
processed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ingest.conftest import Daemon, wait_for
from tests.ingest.vtp_author import numbered_packet, send_voevent
from tests.reliability.helpers import DATA, all_processed, daemon_log, event_ivorns, inbox, ivorn_of

pytestmark = [pytest.mark.reliability]

SECRET = "tracet-reliability-secret-7f3a9c"
TEN_MB = 10 * 1024 * 1024


def hostile_packets(secret_file: Path) -> dict[str, bytes]:
    """Name -> bytes of every kind of bad input the feeds may carry."""
    good = (DATA / "SWIFT00.xml").read_bytes()
    head, _, body = good.partition(b"?>")
    entities = "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' if i else '<!ENTITY lol0 "lol">' for i in range(10)
    ).encode()
    return {
        # An external file entity, used where the parser would copy it into stored fields.
        "xxe": numbered_packet(good, 1, "xxe")
        .replace(
            b"?>", b'?>\n<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "' + secret_file.as_uri().encode() + b'">]>', 1
        )
        .replace(b"GRB 170912", b"&xxe;")
        .replace(b'value="772006"', b'value="&xxe;"'),
        # The billion laughs: 10^9 "lol"s if anything expanded it.
        "entity-bomb": head
        + b"?>\n<!DOCTYPE voe:VOEvent ["
        + entities
        + b"]>"
        + body.replace(b"GRB 170912", b"&lol9;"),
        # 10 MB: ten times the parser's limit, far beyond any real VOEvent.
        "ten-megabytes": numbered_packet(good, 1, "big").replace(b"</What>", b"<!--" + b"x" * TEN_MB + b"--></What>"),
        "invalid-utf8": numbered_packet(good, 1, "utf8").replace(b"GRB 170912", b"GRB \xff\xfe\xc3\x28"),
        "not-voevent": b'<?xml version="1.0"?>\n<html><body ivorn="ivo://evil/x#1">hello</body></html>',
        "not-xml": b"\x00\x01\x02 GET / HTTP/1.1\r\n<<<>>> garbage \xde\xad\xbe\xef",
        "truncated": numbered_packet(good, 1, "cut")[: len(good) // 2],
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_hostile_packets_through_the_author_port_are_kept_as_failed(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    packets = hostile_packets(secret_file)
    daemon = daemon_factory("--receive-port", "0")
    assert daemon.receive_port is not None and daemon.process is not None
    port, pid, url = daemon.receive_port, daemon.process.pid, daemon.db_url
    template = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    assert send_voevent("127.0.0.1", port, numbered_packet(template, 0, "warm")) == "ack"
    wait_for(lambda: all_processed(url), 30, "the warm-up packet")
    rss_before = peak_rss_mb(pid)

    replies: dict[str, str] = {}
    for n, (name, packet) in enumerate(packets.items(), start=1):
        started = time.monotonic()
        try:
            replies[name] = send_voevent("127.0.0.1", port, packet, timeout_s=30)
        except ConnectionError:
            replies[name] = "closed"  # stored, but nothing to ACK or NAK (no VOEvent to answer about)
        assert time.monotonic() - started < 10, f"{name} took {time.monotonic() - started:.1f} s"
        # After each bad packet the engine still takes a good one and processes it.
        good = numbered_packet(template, n, "after")
        assert send_voevent("127.0.0.1", port, good) == "ack", f"engine down after {name}: {replies}"
        wait_for(lambda g=good: ivorn_of(g) in event_ivorns(url), 30, f"the good packet after {name}")
    assert daemon.process.poll() is None
    wait_for(lambda: all_processed(url), 30, "every packet processed")

    rows = inbox(url)
    by_raw = {r.raw: r for r in rows}
    for name, packet in packets.items():
        row = by_raw.get(packet)
        assert row is not None, f"{name} not kept in the inbox (reply {replies[name]})"
        assert row.status == "failed" and row.error, f"{name}: {row.status} {row.error}"
        assert row.channel == "vtp-author"
    assert "DOCTYPE" in by_raw[packets["xxe"]].error  # type: ignore[operator]
    assert "DOCTYPE" in by_raw[packets["entity-bomb"]].error  # type: ignore[operator]
    assert "byte limit" in by_raw[packets["ten-megabytes"]].error  # type: ignore[operator]
    assert "UTF-8" in by_raw[packets["invalid-utf8"]].error  # type: ignore[operator]
    assert "not a VOEvent" in by_raw[packets["not-voevent"]].error  # type: ignore[operator]
    good_rows = [r for r in rows if r.raw not in packets.values()]
    assert len(good_rows) == len(packets) + 1 and all(r.status == "processed" for r in good_rows)
    assert len(event_ivorns(url)) == len(good_rows)  # no event from any bad packet

    # The file the XXE pointed at was never read into the database or the logs.
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        files = list(database.parent.glob(database.name + "*"))  # the database, its WAL and lock files
        assert database in files
        for path in files:
            assert SECRET.encode() not in path.read_bytes(), path
    assert all(SECRET not in (r.error or "") for r in rows)
    assert SECRET not in daemon_log(daemon.workdir)
    assert peak_rss_mb(pid) - rss_before < 150, "the entity bomb or the 10 MB packet blew up memory"
    assert daemon.stop() == 0


def test_hostile_files_are_kept_as_failed_by_file_ingest(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    packets = hostile_packets(secret_file)
    drop = tmp_path / "drop"
    drop.mkdir()
    for name, packet in packets.items():
        (drop / f"{name}.xml").write_bytes(packet)
    (drop / "zz-good.xml").write_bytes((DATA / "SWIFT00.xml").read_bytes())
    url = f"sqlite:///{tmp_path / 'files.sqlite3'}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "ingest", str(drop), "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert time.monotonic() - started < 60
    assert done.returncode == 1, done.stderr  # some files failed: said in the exit status, not a crash
    assert "Traceback" not in done.stderr
    for name in packets:
        assert f"{name}.xml: FAILED (kept in inbox #" in done.stdout, done.stdout
    assert "zz-good.xml: ivo://" in done.stdout
    rows = inbox(url)
    assert sorted(r.raw for r in rows if r.status == "failed") == sorted(packets.values())
    assert [r.status for r in rows if r.raw not in packets.values()] == ["processed"]
    assert SECRET not in done.stdout + done.stderr
    assert SECRET.encode() not in (tmp_path / "files.sqlite3").read_bytes()
