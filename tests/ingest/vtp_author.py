"""A minimal in-process VTP author (no Twisted): send one VOEvent, wait for the broker's ACK or NAK.

comet-sendvo spends ~270 ms starting Python per packet; this keeps tests and benchmarks about our code.
"""

from __future__ import annotations

import re
import socket
import struct

ROLE = re.compile(rb'role="([a-z]+)"')


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed before the reply")
        data += chunk
    return data


def send_voevent(host: str, port: int, packet: bytes, timeout_s: float = 10.0) -> str:
    """Send ``packet``; return the reply role ("ack" or "nak")."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack("!i", len(packet)) + packet)
        (length,) = struct.unpack("!i", _recv_exact(sock, 4))
        reply = _recv_exact(sock, length)
    match = ROLE.search(reply)
    return match.group(1).decode() if match else "unknown"


def numbered_packet(template: bytes, n: int, tag: str = "t") -> bytes:
    """``template`` with a unique IVORN (``…#<fragment>-<tag><n>``) so each copy is a new event."""
    return re.sub(
        rb'ivorn="([^"]+)"', lambda m: b'ivorn="' + m.group(1) + f"-{tag}{n}".encode() + b'"', template, count=1
    )
