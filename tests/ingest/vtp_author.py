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


def new_trigger_packet(template: bytes, n: int, tag: str = "t", first_trig_id: int = 3_000_000) -> bytes:
    """:func:`numbered_packet` with a TrigID of its own (``first_trig_id + n``): each copy is a new trigger,
    grouped and decided on its own (real streams: many triggers, a few packets each)."""
    return re.sub(
        rb'(name="TrigID" value=")[^"]*"',
        lambda m: m.group(1) + str(first_trig_id + n).encode() + b'"',
        numbered_packet(template, n, tag),
        count=1,
    )
