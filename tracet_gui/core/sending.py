"""What the decision glue needs from a telescope client: send one request, get one result back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tracet_gui.core.decision_model import ObservationRequest


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a telescope answered to one request (already redacted: no credentials anywhere)."""

    ok: bool
    message: str
    response: dict[str, Any] | None = None
    trigger_id: str | None = None
    website_link: str | None = None
    started_utc: datetime | None = None
    finished_utc: datetime | None = None


class RequestSender(Protocol):
    """Sends one request to the telescope it names; never raises (failures are results)."""

    def send(self, request: ObservationRequest) -> SendResult: ...


class AcceptingRecorder:
    """Accepts every request at once and keeps it: replays and backtests never contact a telescope."""

    def __init__(self) -> None:
        self.requests: list[ObservationRequest] = []

    def send(self, request: ObservationRequest) -> SendResult:
        self.requests.append(request)
        return SendResult(
            ok=True,
            message="accepted by the in-process recorder (no telescope contacted)",
            response={"recorded": True, "index": len(self.requests) - 1},
            trigger_id=f"recorded-{len(self.requests)}",
            # No wall-clock stamps: the caller's clock dates the answer (a replay runs on the event's time).
        )
