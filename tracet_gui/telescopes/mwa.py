"""MWA trigger web service client (reference §6.1-6.2, with §10.3 items 24/28/30/34 fixed).

Endpoints (relative to the base URL, e.g. ``http://mro.mwa128t.org/trigger/``):

* ``POST triggerobs`` / ``POST triggervcs`` – query ``project_id``, ``obsname``; form body ``secure_key``,
  ``ra``, ``dec`` (degrees; JSON lists for sub-arrays), ``subarrays`` (JSON list), ``freqspecs`` (the spec
  string, e.g. ``144,24``), ``creator``, ``nobs``, ``exptime`` (multiple of 8 s), ``calexptime``, ``freqres``
  and ``inttime`` (both or neither), ``calibrator`` (``True`` = auto, a name, or ``False``), ``avoidsun``,
  ``pretend``, ``vcsmode``. Booleans are sent as ``True``/``False`` as the service's Python clients do.
* ``POST triggerbuffer`` – query ``project_id``; body ``secure_key``, ``pretend``, ``obstime``.
* ``GET busy?project_id=&obstime=``, ``GET vcsfree``, ``GET obslist?obstime=`` – schedule queries.

Differences from TraceT: the request is validated before sending (``nobs`` ≥ 1, ``exptime`` a positive
multiple of 8 s, positions present – never a buffer call degenerating into an observation with no
position); the observation length the decision computed is what is sent; the obsname comes from the
request (deterministic, built by the decision engine); the MWA's own error text is returned for the decision
log; ``source`` (a *position by name* for the MWA) is never filled with the event name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from tracet_gui import __version__
from tracet_gui.core.decision_model import MWA_SUBARRAY_NAMES
from tracet_gui.core.freqspecs import expand_freqspecs
from tracet_gui.telescopes.arbitration import ObsListEntry
from tracet_gui.telescopes.credentials import CredentialSource
from tracet_gui.telescopes.redaction import REDACTED, Redactor
from tracet_gui.telescopes.results import QueryResult, TelescopeResult
from tracet_gui.telescopes.transport import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_DELAY_S,
    TransportError,
    build_url,
    exchange,
)

MwaKind = Literal["buffer", "observation", "vcs", "subarrays"]

MWA_BASE_URL = "http://mro.mwa128t.org/trigger/"
"""The real MWA trigger web service."""

MWA_TIME_GRID_S = 8
"""MWA exposure times are multiples of this (s)."""

DEFAULT_CREATOR = f"tracet-gui {__version__}"
"""``creator`` sent with every observation."""

DEFAULT_TRIGGER_TIMEOUT_S = 20.0
"""Default timeout (s) of a trigger call: the MWA answers after running its scheduling commands."""

DEFAULT_QUERY_TIMEOUT_S = 5.0
"""Default timeout (s) of a schedule query (busy/vcsfree/obslist)."""

MWA_OBS_LINK = "http://ws.mwatelescope.org/observation/obs/?obsid={obsid}"
"""Website link of an observation (TraceT's)."""

_SCHEDULE_METADATA = re.compile(r"INFO:Schedule metadata for (\d+)")
PRETEND_MARKER = "Pretending: commands not run"


@dataclass(frozen=True, slots=True)
class MwaRequest:
    """One request to the MWA trigger web service, fully described."""

    kind: MwaKind
    """``buffer`` (VCS ring-buffer dump), ``observation`` (tracked, correlator or VCS per ``vcsmode``),
    ``vcs`` (tracked VCS observation), ``subarrays`` (one pointing per sub-array)."""
    project_id: str
    obsname: str
    pretend: bool
    ra_deg: float | None = None
    dec_deg: float | None = None
    subarray_pointings: tuple[tuple[float, float], ...] = ()
    """(ra_deg, dec_deg) per sub-array, in ``subarray_names`` order."""
    subarray_names: tuple[str, ...] = MWA_SUBARRAY_NAMES
    freqspecs: str | None = None
    exptime_s: int = 0
    """Length of each observation (s, multiple of 8)."""
    nobs: int = 1
    """Number of observations of ``exptime_s`` per position."""
    calibrator: bool | str = False
    """True: the MWA chooses a calibrator; a name: that calibrator; False: none."""
    calexptime_s: float | None = None
    freqres_khz: float | None = None
    inttime_s: float | None = None
    avoidsun: bool = True
    vcsmode: bool = False
    buffer_obstime_s: int | None = None
    """``buffer``: seconds to keep capturing after the dump (default ``nobs × exptime_s``)."""
    creator: str = DEFAULT_CREATOR
    pretend_label: str = ""
    """Why it is (not) pretend; filled by the sender from the arming rules."""

    @property
    def endpoint(self) -> str:
        if self.kind == "buffer":
            return "triggerbuffer"
        if self.kind == "vcs" or self.vcsmode:
            return "triggervcs"
        return "triggerobs"

    @property
    def total_time_s(self) -> int:
        if self.kind == "buffer":
            return self.buffer_obstime_s if self.buffer_obstime_s is not None else self.nobs * self.exptime_s
        return self.nobs * self.exptime_s


def validate_mwa_request(request: MwaRequest) -> list[str]:
    """Everything wrong with ``request`` (empty: it may be sent)."""
    problems: list[str] = []
    if not request.project_id.strip():
        problems.append("project_id is empty")
    if request.kind == "buffer":
        if request.total_time_s <= 0:
            problems.append(f"buffer obstime must be positive (got {request.total_time_s} s)")
        return problems
    if not request.obsname.strip():
        problems.append("obsname is empty")
    if request.nobs < 1:
        problems.append(f"nobs must be at least 1 (got {request.nobs})")
    if request.exptime_s <= 0 or request.exptime_s % MWA_TIME_GRID_S:
        problems.append(f"exptime must be a positive multiple of {MWA_TIME_GRID_S} s (got {request.exptime_s})")
    if (request.freqres_khz is None) != (request.inttime_s is None):
        problems.append("freqres and inttime must be given together or not at all")
    if request.calibrator is not False and request.calexptime_s is not None and request.calexptime_s <= 0:
        problems.append(f"calexptime must be positive (got {request.calexptime_s})")
    if request.kind == "subarrays":
        if not request.subarray_pointings:
            problems.append("a sub-array request needs pointings")
        elif len(request.subarray_pointings) != len(request.subarray_names):
            problems.append(f"{len(request.subarray_pointings)} pointings for {len(request.subarray_names)} sub-arrays")
    elif request.ra_deg is None or request.dec_deg is None:
        problems.append(f"an MWA {request.kind} request needs ra and dec")
    if request.freqspecs is not None:
        try:
            expand_freqspecs(request.freqspecs)
        except ValueError as exc:
            problems.append(f"freqspecs: {exc}")
    return problems


def _flag(value: bool) -> str:
    return "True" if value else "False"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def mwa_form(request: MwaRequest, secure_key: str) -> tuple[dict[str, str], dict[str, str]]:
    """(query, form body) of a trigger request, exactly as sent."""
    query = {"project_id": request.project_id}
    form: dict[str, str] = {"secure_key": secure_key, "pretend": _flag(request.pretend)}
    if request.kind == "buffer":
        form["obstime"] = str(request.total_time_s)
        return query, form
    query["obsname"] = request.obsname
    if request.kind == "subarrays":
        form["ra"] = json.dumps([ra for ra, _ in request.subarray_pointings])
        form["dec"] = json.dumps([dec for _, dec in request.subarray_pointings])
        form["subarrays"] = json.dumps(list(request.subarray_names))
    else:  # a missing position only reaches here for the record of an invalid request
        if request.ra_deg is not None:
            form["ra"] = _num(request.ra_deg)
        if request.dec_deg is not None:
            form["dec"] = _num(request.dec_deg)
    if request.freqspecs is not None:
        form["freqspecs"] = request.freqspecs
    form["creator"] = request.creator
    form["nobs"] = str(request.nobs)
    form["exptime"] = str(request.exptime_s)
    if request.calibrator is not False and request.calexptime_s is not None:
        form["calexptime"] = _num(request.calexptime_s)
    if request.freqres_khz is not None and request.inttime_s is not None:
        form["freqres"] = _num(request.freqres_khz)
        form["inttime"] = _num(request.inttime_s)
    form["calibrator"] = request.calibrator if isinstance(request.calibrator, str) else _flag(request.calibrator)
    form["avoidsun"] = _flag(request.avoidsun)
    form["vcsmode"] = _flag(request.vcsmode or request.kind == "vcs")
    return query, form


def obsids_from_answer(answer: dict[str, Any]) -> tuple[str, ...]:
    """Observation ids in an MWA answer: ``obsid_list`` (buffer dumps) or the schedule's metadata lines."""
    listed = answer.get("obsid_list")
    if isinstance(listed, list) and listed:
        return tuple(str(item[0] if isinstance(item, list | tuple) and item else item) for item in listed)
    schedule = answer.get("schedule")
    stderr = schedule.get("stderr") if isinstance(schedule, dict) else None
    if isinstance(stderr, str):
        return tuple(dict.fromkeys(_SCHEDULE_METADATA.findall(stderr)))
    return ()


def mwa_error_text(answer: dict[str, Any]) -> str:
    """The MWA's own error messages, in order, for the decision log."""
    errors = answer.get("errors")
    if isinstance(errors, dict) and errors:

        def order(key: Any) -> tuple[int, str]:
            text = str(key)
            return (int(text), text) if text.isdigit() else (1 << 30, text)

        return "; ".join(str(errors[k]) for k in sorted(errors, key=order))
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return "no error message given"


class MwaClient:
    """Client of the MWA trigger web service. Thread-safe; ``send`` never raises.

    ``clock`` returns the current UTC time (injectable for deterministic records).
    """

    telescope = "MWA"

    def __init__(
        self,
        base_url: str,
        credentials: CredentialSource,
        *,
        timeout_s: float = DEFAULT_TRIGGER_TIMEOUT_S,
        query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        check_vcsfree: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.query_timeout_s = query_timeout_s
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.check_vcsfree = check_vcsfree
        self._now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ triggers

    def send(self, request: MwaRequest) -> TelescopeResult:
        started = self._now()
        label = request.pretend_label or ("PRETEND" if request.pretend else "REAL")
        url = self.base_url + request.endpoint
        redactor = Redactor()

        def result(ok: bool, record: dict[str, Any], attempts: int, **extra: Any) -> TelescopeResult:
            return TelescopeResult(
                ok=ok,
                telescope=self.telescope,
                kind=request.kind,
                pretend=request.pretend,
                pretend_label=label,
                request=record,
                started_utc=started,
                finished_utc=self._now(),
                attempts=attempts,
                **extra,
            )

        shown_query, shown_form = mwa_form(request, REDACTED)
        record: dict[str, Any] = {"method": "POST", "url": url, "query": shown_query, "form": shown_form}
        problems = validate_mwa_request(request)
        if problems:
            return result(False, record, 0, error="Invalid MWA request, not sent: " + "; ".join(problems) + ".")
        secure_key = self.credentials.mwa_secure_key(request.project_id)
        if not secure_key:
            return result(
                False,
                record,
                0,
                error=f"No MWA secure key for project {request.project_id} (keyring or "
                f"TRACET_MWA_KEY_{re.sub(r'[^A-Z0-9]', '_', request.project_id.upper())}); request not sent.",
            )
        redactor = redactor.with_secrets(secure_key)
        notes: list[str] = []
        if self.check_vcsfree and request.endpoint == "triggervcs":
            request, note, refusal = self._cap_by_vcsfree(request)
            if note:
                notes.append(note)
            if refusal:
                return result(False, record, 0, error=refusal, notes=tuple(notes))
        query, form = mwa_form(request, secure_key)
        record = {"method": "POST", "url": build_url(url, query), "query": query, "form": redactor.data(form)}
        try:
            answer = exchange(
                "POST",
                url,
                query=query,
                form=form,
                timeout_s=self.timeout_s,
                redactor=redactor,
                idempotent=False,
                what="MWA web service",
                max_attempts=self.max_attempts,
                retry_delay_s=self.retry_delay_s,
            )
        except TransportError as exc:
            response = {"text": exc.body} if exc.body else None
            return result(
                False,
                record,
                exc.attempts,
                error=str(exc),
                http_status=exc.status,
                response=response,
                notes=tuple(notes),
            )
        parsed = answer.json()
        if not isinstance(parsed, dict):
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response={"text": redactor.text(answer.body[:2000])},
                error="MWA web service answered with something that is not a JSON object: "
                + redactor.text(answer.body[:200]),
                notes=tuple(notes),
            )
        shown = redactor.data(parsed)
        if parsed.get("success") is not True:
            return result(
                False,
                record,
                answer.attempts,
                http_status=answer.status,
                response=shown,
                error="MWA refused the request: " + redactor.text(mwa_error_text(parsed)),
                notes=tuple(notes),
            )
        obsids = obsids_from_answer(parsed)
        trigger_id = parsed.get("trigger_id")
        schedule = parsed.get("schedule")
        if isinstance(schedule, dict) and PRETEND_MARKER in str(schedule.get("stderr", "")):
            notes.append("MWA pretended: commands not run")
        return result(
            True,
            record,
            answer.attempts,
            http_status=answer.status,
            response=shown,
            trigger_id=None if trigger_id in (None, "") else str(trigger_id),
            obsids=obsids,
            website_link=MWA_OBS_LINK.format(obsid=obsids[0]) if obsids else None,
            notes=tuple(notes),
        )

    def _cap_by_vcsfree(self, request: MwaRequest) -> tuple[MwaRequest, str | None, str | None]:
        """Shorten a VCS request to the disk space the MWA reports free (as its own clients do)."""
        free = self.vcsfree(max_attempts=1)  # one try only: the trigger must not wait on query retries
        if not free.ok or free.value is None:
            return request, f"vcsfree unavailable ({free.error}); sent uncapped", None
        free_s = free.value
        if free_s < MWA_TIME_GRID_S:
            return request, None, f"MWA has no VCS capture time available (vcsfree {free_s} s); request not sent."
        if request.total_time_s <= free_s:
            return request, None, None
        exptime = min(request.exptime_s, free_s // MWA_TIME_GRID_S * MWA_TIME_GRID_S)
        nobs = max(1, min(request.nobs, free_s // exptime))
        capped = replace(request, exptime_s=exptime, nobs=nobs)
        return capped, f"VCS time capped from {request.total_time_s} s to {capped.total_time_s} s by vcsfree", None

    # ------------------------------------------------------------------ queries (idempotent, retried)

    def _query(
        self, endpoint: str, query: dict[str, str], max_attempts: int | None = None
    ) -> tuple[Any, dict[str, Any], int, str | None, datetime]:
        started = self._now()
        url = self.base_url + endpoint
        record = {"method": "GET", "url": build_url(url, query)}
        try:
            answer = exchange(
                "GET",
                url,
                query=query,
                timeout_s=self.query_timeout_s,
                redactor=Redactor(),
                idempotent=True,
                what="MWA web service",
                max_attempts=max_attempts or self.max_attempts,
                retry_delay_s=self.retry_delay_s,
            )
        except TransportError as exc:
            return None, record, exc.attempts, str(exc), started
        parsed = answer.json()
        if parsed is None:
            return None, record, answer.attempts, f"MWA {endpoint} answer is not JSON: {answer.body[:200]}", started
        return parsed, record, answer.attempts, None, started

    def busy(self, project_id: str, obstime_s: int) -> QueryResult[bool]:
        """False when ``project_id`` may override the schedule from now for ``obstime_s``; True when not."""
        parsed, record, attempts, error, started = self._query(
            "busy", {"project_id": project_id, "obstime": str(obstime_s)}
        )
        if error is None and not isinstance(parsed, bool):
            error = f"MWA busy answer is not true/false: {parsed!r}"[:300]
        return QueryResult(
            error is None, parsed if error is None else None, record, started, self._now(), attempts, parsed, error
        )

    def vcsfree(self, max_attempts: int | None = None) -> QueryResult[int]:
        """Longest VCS capture (s) the MWA would accept now."""
        parsed, record, attempts, error, started = self._query("vcsfree", {}, max_attempts)
        value: int | None = None
        if error is None:
            if isinstance(parsed, int | float) and not isinstance(parsed, bool):
                value = int(parsed)
            else:
                error = f"MWA vcsfree answer is not a number: {parsed!r}"[:300]
        return QueryResult(error is None, value, record, started, self._now(), attempts, parsed, error)

    def obslist(self, obstime_s: int) -> QueryResult[tuple[ObsListEntry, ...]]:
        """Observations on the schedule between now and ``obstime_s`` from now."""
        parsed, record, attempts, error, started = self._query("obslist", {"obstime": str(obstime_s)})
        value: tuple[ObsListEntry, ...] | None = None
        if error is None:
            try:
                value = tuple(
                    ObsListEntry(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4])) for row in parsed
                )
            except (TypeError, ValueError, IndexError):
                shape = "a list of (starttime, obsname, creator, projectid, mode)"
                error = f"MWA obslist answer is not {shape}: {parsed!r}"[:300]
        return QueryResult(error is None, value, record, started, self._now(), attempts, parsed, error)
