"""What a telescope client returns, and the one-method interface every client implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from tracet_gui.core.sending import SendResult

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TelescopeResult:
    """The full record of one telescope request: what was sent, what came back, how long it took.

    Everything here is already redacted (no secure key, token or password anywhere) and JSON-able, so it
    can be stored in ``observation`` rows, logged and exported as is.
    """

    ok: bool
    """True when the telescope accepted the request (MWA ``success``; ATCA no ``error`` and token verified)."""
    telescope: str
    """``MWA`` or ``ATCA`` (the protocol spoken), or ``recorder``."""
    kind: str
    """What was asked: ``buffer``/``observation``/``vcs``/``subarrays`` (MWA), ``atca``, ``atca_cancel``."""
    pretend: bool
    """True when the request was sent in pretend/test mode (nothing is really observed)."""
    pretend_label: str
    """Why it was (not) pretend, for the operator, e.g. ``PRETEND: system not armed``."""
    request: dict[str, Any]
    """Redacted request: ``method``, ``url``, ``query``, ``form`` (and ``request`` JSON for ATCA)."""
    started_utc: datetime
    finished_utc: datetime
    attempts: int
    """HTTP attempts made (0: refused before sending, e.g. invalid request or missing credentials)."""
    trigger_id: str | None = None
    obsids: tuple[str, ...] = ()
    website_link: str | None = None
    response: dict[str, Any] | None = None
    """Redacted telescope answer (parsed JSON; ``{"text": …}`` when it was not JSON)."""
    http_status: int | None = None
    error: str | None = None
    """Why it failed, in words an operator can act on (None when ``ok``)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Extra facts worth logging (e.g. exposure capped by ``vcsfree``)."""
    held_back: bool = False
    """True when the request was deliberately not sent (priority arbitration / MWA busy); ``error`` says why."""

    @property
    def duration_s(self) -> float:
        return (self.finished_utc - self.started_utc).total_seconds()

    @property
    def message(self) -> str:
        """One line for the decision log."""
        if not self.ok:
            return f"{self.telescope} {self.kind} request failed ({self.pretend_label}): {self.error}"
        parts = [f"{self.telescope} {self.kind} request accepted ({self.pretend_label})"]
        if self.trigger_id is not None:
            parts.append(f"trigger id {self.trigger_id}")
        if self.obsids:
            parts.append(f"obsids {', '.join(self.obsids)}")
        parts.extend(self.notes)
        return "; ".join(parts) + "."

    def as_record(self) -> dict[str, Any]:
        """JSON-able summary (for ``observation.response`` or exports)."""
        return {
            "ok": self.ok,
            "telescope": self.telescope,
            "kind": self.kind,
            "pretend": self.pretend,
            "pretend_label": self.pretend_label,
            "request": self.request,
            "response": self.response,
            "http_status": self.http_status,
            "error": self.error,
            "trigger_id": self.trigger_id,
            "obsids": list(self.obsids),
            "website_link": self.website_link,
            "attempts": self.attempts,
            "started_utc": self.started_utc.isoformat(),
            "finished_utc": self.finished_utc.isoformat(),
            "notes": list(self.notes),
            "held_back": self.held_back,
        }

    def to_send_result(self) -> SendResult:
        """The core :class:`SendResult` the pipeline consumes (``response`` = :meth:`as_record`)."""
        return SendResult(
            ok=self.ok,
            message=self.message,
            response=self.as_record(),
            trigger_id=self.trigger_id,
            website_link=self.website_link,
            started_utc=self.started_utc,
            finished_utc=self.finished_utc,
        )


@dataclass(frozen=True, slots=True)
class QueryResult(Generic[T]):
    """Answer to an MWA schedule query (``busy``, ``vcsfree``, ``obslist``); ``value`` is None on error."""

    ok: bool
    value: T | None
    request: dict[str, Any]
    started_utc: datetime
    finished_utc: datetime
    attempts: int
    response: Any = None
    error: str | None = None


class TelescopeClient(Protocol):
    """Sends one request and reports what happened. Never raises: failures are results."""

    def send(self, request: Any) -> TelescopeResult: ...
