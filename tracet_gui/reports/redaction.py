"""Last line of defence: nothing that looks like a credential leaves in a report.

Observation requests and responses are already redacted when recorded (``telescopes.redaction``); reports
filter again, by field name and by ``name=value`` / ``Authorization:`` patterns inside text, because a
report is handed to people outside the control room.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
"""What a secret is replaced by in a report."""

SECRET_KEY_PATTERN = re.compile(
    r"(secure_?key|passw(or)?d|token|authori[sz]ation|secret|api_?key|credential|cookie|session_?id)", re.IGNORECASE
)
"""A mapping key matching this (anywhere in the name) has its value dropped."""

_INLINE = re.compile(
    r"(?P<name>\b[\w-]*(?:secure_?key|passw(?:or)?d|token|secret|api_?key)[\w-]*)(?P<sep>\s*[=:]\s*)(?P<value>[^\s&,;\"']+)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(
    r"(?P<name>authori[sz]ation\s*[:=]\s*)(?P<value>(?:basic|bearer|token)\s+\S+|\S+)", re.IGNORECASE
)


def is_secret_key(name: str) -> bool:
    """True when a field of this name may carry a credential."""
    return bool(SECRET_KEY_PATTERN.search(name))


def scrub_text(text: str) -> str:
    """``text`` with ``secret=value`` pairs and Authorization headers blanked."""
    text = _AUTH_HEADER.sub(lambda m: m.group("name") + REDACTED, text)
    return _INLINE.sub(lambda m: m.group("name") + m.group("sep") + REDACTED, text)


def scrub(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with secret fields and inline secrets removed."""
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if is_secret_key(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value
