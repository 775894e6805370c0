"""In-process recorder: accepts every request at once and keeps it (replays, backtests, demos without a
network). No telescope is contacted; results are labelled so."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tracet_gui.telescopes.atca import AtcaCancel, AtcaRequest, atca_form
from tracet_gui.telescopes.mwa import MwaRequest, mwa_form
from tracet_gui.telescopes.redaction import REDACTED
from tracet_gui.telescopes.results import TelescopeResult

RECORDED_LABEL = "RECORDED: no telescope contacted"


def describe_request(request: Any) -> tuple[str, str, bool, dict[str, Any]]:
    """(telescope, kind, pretend, redacted record) of any request type."""
    if isinstance(request, MwaRequest):
        query, form = mwa_form(request, REDACTED)
        return "MWA", request.kind, request.pretend, {"endpoint": request.endpoint, "query": query, "form": form}
    if isinstance(request, AtcaRequest | AtcaCancel):
        kind = "atca_cancel" if isinstance(request, AtcaCancel) else "atca"
        return "ATCA", kind, request.test, {"form": atca_form(request, REDACTED), "request": request.request_dict()}
    return "unknown", type(request).__name__, True, {"repr": repr(request)}


class RecordingClient:
    """A :class:`~tracet_gui.telescopes.results.TelescopeClient` that records instead of sending. Thread-safe."""

    telescope = "recorder"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._now = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._requests: list[Any] = []

    @property
    def requests(self) -> list[Any]:
        """The requests received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def send(self, request: Any) -> TelescopeResult:
        with self._lock:
            self._requests.append(request)
            index = len(self._requests)
        now = self._now()
        telescope, kind, pretend, record = describe_request(request)
        return TelescopeResult(
            ok=True,
            telescope=telescope,
            kind=kind,
            pretend=pretend,
            pretend_label=RECORDED_LABEL,
            request=record,
            started_utc=now,
            finished_utc=now,
            attempts=0,
            trigger_id=f"recorded-{index}",
            response={"recorded": True, "index": index - 1},
            notes=(RECORDED_LABEL,),
        )
