"""A minimal in-process VTP author (no Twisted): send one VOEvent, wait for the broker's ACK or NAK.

comet-sendvo spends ~270 ms starting Python per packet; this keeps tests and benchmarks about our code.
"""

from __future__ import annotations

import re

from tracet_gui.ingest.vtp import send_to_author_port


def send_voevent(host: str, port: int, packet: bytes, timeout_s: float = 10.0) -> str:
    """Send ``packet``; return the reply role ("ack" or "nak") — the app's own author client."""
    return send_to_author_port(host, port, packet, timeout_s)


def numbered_packet(template: bytes, n: int, tag: str = "t") -> bytes:
    """``template`` with a unique IVORN (``…#<fragment>-<tag><n>``) so each copy is a new event."""
    return re.sub(
        rb'ivorn="([^"]+)"', lambda m: b'ivorn="' + m.group(1) + f"-{tag}{n}".encode() + b'"', template, count=1
    )
