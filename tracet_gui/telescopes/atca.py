"""ATCA rapid-response client: our own implementation of the service's form POST (reference §6.3, §10.4
item 37 fixed).

The service (``https://www.narrabri.atnf.csiro.au/cgi-bin/obstools/rapid_response/rapid_response_service.py``)
takes a form POST with HTTP basic auth (the Narrabri web-server login) and the fields ``authToken`` (the
project's JWT), ``email`` (an address on the ATCA proposal), ``request`` (JSON of the request dictionary),
optional ``maximumLag`` and ``minimumTime`` (hours) and, in test mode, ``test``, ``noTimeLimit``,
``noScoreLimit``, ``emailOnly``, ``noEmail``. It answers JSON: ``error`` on failure (e.g. "Detected an
expired token: Signature has expired."), otherwise ``authenticationToken{received, verified}``, ``schedule``,
``observations``, ``id`` (the trigger id, used to cancel) and ``success``.

Differences from TraceT: ``source`` is the event's name (or its trig_id), not the source type; the test
flags follow the arming rules for every event (not only PRETEND_REAL); ``maximumLag``/``minimumTime`` come
from the proposal; the login comes from the credential store, never from the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracet_gui.core.decision_model import AtcaBandRequest
from tracet_gui.telescopes.credentials import CredentialSource
from tracet_gui.telescopes.redaction import REDACTED, Redactor
from tracet_gui.telescopes.results import TelescopeResult
from tracet_gui.telescopes.transport import DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_DELAY_S, TransportError, exchange

ATCA_URL = "https://www.narrabri.atnf.csiro.au/cgi-bin/obstools/rapid_response/rapid_response_service.py"
"""The real ATCA rapid-response service."""

DEFAULT_ATCA_TIMEOUT_S = 30.0
"""Default timeout (s) of an ATCA request: the service searches the schedule before answering."""

ATCA_BAND_NAMES = ("3mm", "7mm", "15mm", "4cm", "16cm")
"""Bands of the request dictionary."""


@dataclass(frozen=True, slots=True)
class AtcaRequest:
    """One ATCA rapid-response observation request."""

    project_id: str
    email: str
    source_name: str
    """Target name shown to ATCA staff: the event's name, or its trig_id."""
    ra_hms: str
    dec_dms: str
    bands: tuple[AtcaBandRequest, ...]
    max_exposure_min: int
    min_exposure_min: int
    test: bool
    no_time_limit: bool = False
    no_score_limit: bool = False
    maximum_lag_minutes: float | None = None
    """Do not schedule a start later than this after the request (sent as ``maximumLag`` in hours)."""
    minimum_time_minutes: float | None = None
    """Only schedule when at least this much time is available (sent as ``minimumTime`` in hours)."""
    scan_type: str = "Dwell"
    email_only: str | None = None
    """Test mode only: send the service's emails to this address only."""
    no_email: bool = False
    """Test mode only: the service sends no email."""
    pretend_label: str = ""

    def request_dict(self) -> dict[str, Any]:
        """The ``request`` JSON (TraceT's requestDict, with the event's name as ``source``)."""
        out: dict[str, Any] = {
            "source": self.source_name,
            "rightAscension": self.ra_hms,
            "declination": self.dec_dms,
            "project": self.project_id,
            "maxExposureLength": hms(self.max_exposure_min),
            "minExposureLength": hms(self.min_exposure_min),
            "scanType": self.scan_type,
        }
        for band in self.bands:
            out[band.band] = {
                "use": band.use,
                "exposureLength": hms(band.exposure_min),
                "freq1": band.freq1_mhz,
                "freq2": band.freq2_mhz,
            }
        return out


@dataclass(frozen=True, slots=True)
class AtcaCancel:
    """Cancel an earlier rapid-response request by the ``id`` the service returned."""

    project_id: str
    email: str
    trigger_id: str
    test: bool = False
    pretend_label: str = ""

    def request_dict(self) -> dict[str, Any]:
        return {"cancel": self.trigger_id, "project": self.project_id}


def hms(minutes: float) -> str:
    """Minutes as ``H:MM:SS`` (the service's duration format, e.g. ``12:00:00``, ``0:30:00``)."""
    return str(timedelta(minutes=minutes))


def ra_hms(ra_deg: float) -> str:
    """Right ascension (deg) as ``HH:MM:SS.ss``."""
    centis = round((ra_deg % 360.0) / 15.0 * 3600 * 100) % (24 * 3600 * 100)
    hours, rest = divmod(centis, 3600 * 100)
    minutes, rest = divmod(rest, 60 * 100)
    return f"{hours:02d}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def dec_dms(dec_deg: float) -> str:
    """Declination (deg) as ``±DD:MM:SS.s``."""
    sign = "-" if dec_deg < 0 else "+"
    tenths = round(abs(dec_deg) * 3600 * 10)
    degrees, rest = divmod(tenths, 3600 * 10)
    minutes, rest = divmod(rest, 60 * 10)
    return f"{sign}{degrees:02d}:{minutes:02d}:{rest // 10:02d}.{rest % 10}"


def validate_atca_request(request: AtcaRequest | AtcaCancel) -> list[str]:
    problems: list[str] = []
    if not request.project_id.strip():
        problems.append("project_id is empty")
    if not request.email.strip() or "@" not in request.email:
        problems.append("email (an address on the ATCA proposal) is missing")
    if isinstance(request, AtcaCancel):
        if not request.trigger_id.strip():
            problems.append("no trigger id to cancel")
        return problems
    if not request.source_name.strip():
        problems.append("source name is empty")
    if not any(b.use for b in request.bands):
        problems.append("no band selected")
    if request.min_exposure_min > request.max_exposure_min:
        problems.append("minimum exposure is longer than the maximum exposure")
    if not request.test and (request.no_time_limit or request.no_score_limit or request.email_only or request.no_email):
        problems.append("noTimeLimit/noScoreLimit/emailOnly/noEmail are only allowed in test mode")
    for name, value in (("maximumLag", request.maximum_lag_minutes), ("minimumTime", request.minimum_time_minutes)):
        if value is not None and value <= 0:
            problems.append(f"{name} must be positive")
    return problems


def atca_form(request: AtcaRequest | AtcaCancel, token: str) -> dict[str, str]:
    """The form body, exactly as sent."""
    form = {"authToken": token, "email": request.email, "request": json.dumps(request.request_dict())}
    if isinstance(request, AtcaRequest):
        if request.maximum_lag_minutes is not None:
            form["maximumLag"] = repr(request.maximum_lag_minutes / 60.0)
        if request.minimum_time_minutes is not None:
            form["minimumTime"] = repr(request.minimum_time_minutes / 60.0)
    if request.test:
        form["test"] = "True"
        if isinstance(request, AtcaRequest):
            form["noTimeLimit"] = str(request.no_time_limit)
            form["noScoreLimit"] = str(request.no_score_limit)
            if request.email_only:
                form["emailOnly"] = request.email_only
            if request.no_email:
                form["noEmail"] = "True"
    return form


def explain_atca_error(error: str, project_id: str) -> str:
    """The service's error, with what the operator should do about it when we know."""
    text = f"ATCA refused the request: {error}"
    lowered = error.lower()
    if "expired" in lowered and "token" in lowered:
        text += (
            f" – the ATCA authentication token of project {project_id} has expired; ask ATCA staff for a new one "
            "and store it in the keyring (or TRACET_ATCA_TOKEN_<PROJECT>)."
        )
    return text


class AtcaClient:
    """Client of the ATCA rapid-response service. Thread-safe; ``send`` never raises.

    Requests are never retried after they may have reached the service (a repeated request could be
    scheduled twice); only a refused connection is retried.
    """

    telescope = "ATCA"

    def __init__(
        self,
        url: str,
        credentials: CredentialSource,
        *,
        timeout_s: float = DEFAULT_ATCA_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self._now = clock or (lambda: datetime.now(UTC))

    def cancel(self, request: AtcaCancel) -> TelescopeResult:
        return self.send(request)

    def send(self, request: AtcaRequest | AtcaCancel) -> TelescopeResult:
        started = self._now()
        kind = "atca_cancel" if isinstance(request, AtcaCancel) else "atca"
        label = request.pretend_label or ("TEST" if request.test else "REAL")

        def result(ok: bool, record: dict[str, Any], attempts: int, **extra: Any) -> TelescopeResult:
            return TelescopeResult(
                ok=ok,
                telescope=self.telescope,
                kind=kind,
                pretend=request.test,
                pretend_label=label,
                request=record,
                started_utc=started,
                finished_utc=self._now(),
                attempts=attempts,
                **extra,
            )

        record: dict[str, Any] = {"method": "POST", "url": self.url, "form": atca_form(request, REDACTED)}
        record["request"] = request.request_dict()
        problems = validate_atca_request(request)
        if problems:
            return result(False, record, 0, error="Invalid ATCA request, not sent: " + "; ".join(problems) + ".")
        token = self.credentials.atca_token(request.project_id)
        if not token:
            return result(
                False, record, 0, error=f"No ATCA authentication token for project {request.project_id}; not sent."
            )
        auth = self.credentials.atca_http_auth()
        if auth is None:
            return result(
                False,
                record,
                0,
                error="No ATCA web-server login (keyring, or TRACET_ATCA_HTTP_USER and TRACET_ATCA_HTTP_PASSWORD); "
                "not sent.",
            )
        user, password = auth
        redactor = Redactor([token]).with_basic_auth(user, password)
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        form = atca_form(request, token)
        record["form"] = redactor.data(form)
        record["request"] = redactor.data(record["request"])
        try:
            answer = exchange(
                "POST",
                self.url,
                form=form,
                headers={"Authorization": f"Basic {basic}"},
                timeout_s=self.timeout_s,
                redactor=redactor,
                idempotent=False,
                what="ATCA rapid-response service",
                max_attempts=self.max_attempts,
                retry_delay_s=self.retry_delay_s,
            )
        except TransportError as exc:
            error = str(exc)
            if exc.status == 401:
                error += " – check the ATCA web-server login (TRACET_ATCA_HTTP_USER/PASSWORD or keyring)."
            response = {"text": exc.body} if exc.body else None
            return result(False, record, exc.attempts, error=error, http_status=exc.status, response=response)
        parsed = answer.json()
        if not isinstance(parsed, dict):
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response={"text": redactor.text(answer.body[:2000])},
                error="ATCA service answered with something that is not a JSON object: "
                + redactor.text(answer.body[:200]),
            )
        shown = redactor.data(parsed)
        if "error" in parsed:
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response=shown,
                error=explain_atca_error(redactor.text(str(parsed["error"])), request.project_id),
            )
        token_state = parsed.get("authenticationToken")
        if not (isinstance(token_state, dict) and "received" in token_state and "verified" in token_state):
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response=shown,
                error="Malformed response from the ATCA service (no authenticationToken received/verified).",
            )
        if token_state.get("verified") is not True:
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response=shown,
                error=f"ATCA did not verify the authentication token of project {request.project_id}.",
            )
        if parsed.get("success") is False:
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response=shown,
                error="ATCA service reported success false without an error message.",
            )
        trigger_id = parsed.get("id")
        trigger = (
            request.trigger_id
            if isinstance(request, AtcaCancel)
            else (None if trigger_id in (None, "") else str(trigger_id))
        )
        notes = ("ATCA test mode",) if parsed.get("testMode") else ()
        return result(
            True, record, answer.attempts, http_status=answer.status, response=shown, trigger_id=trigger, notes=notes
        )
