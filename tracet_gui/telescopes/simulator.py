"""A local telescope simulator speaking the MWA trigger web service and the ATCA rapid-response protocol.

``tracet-gui telescope-sim [--port N]`` runs it (see :func:`run_simulator`); the demo and the tests point
the clients at it. It answers like the real services (same fields and messages as reference §6) and can
misbehave on purpose. The scenario is chosen per request: the scenario set for the request's project,
else the default scenario.

Scenarios (:class:`Scenario`): ``success``; ``validation_error`` (MWA ``success: false`` with ``errors``,
ATCA ``error``); ``expired_token`` (ATCA's "Detected an expired token: Signature has expired."; MWA: secure
key refused); ``slow`` (answers after ``delay_s``); ``hung`` (never answers until the simulator stops);
``http_500`` (an internal-server-error page).

Paths: ``/mwa/{triggerobs,triggervcs,triggerbuffer,busy,vcsfree,obslist}``,
``/atca/rapid_response_service.py``; control: ``GET /_sim/requests`` (what was received, secrets redacted),
``GET /_sim/schedule``, ``POST /_sim/scenario`` ``{"scenario": …, "project_id": …?, "delay_s": …?}``,
``POST /_sim/config`` ``{"vcsfree_s": …, "busy_projects": […]}``, ``POST /_sim/reset``.

Credentials it accepts (:class:`SimulatorCredentials` supplies them): MWA secure key ``sim-mwa-<PROJECT>``,
ATCA token ``sim-atca-<PROJECT>``, web-server login ``tracet-sim`` / ``sim-password``.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tracet_gui.core.freqspecs import expand_freqspecs
from tracet_gui.telescopes.redaction import Redactor

GPS_EPOCH_UNIX_S = 315964800
"""Unix time of the GPS epoch (1980-01-06)."""

GPS_LEAP_SECONDS = 18
"""GPS − UTC (s) since 2017."""

MWA_START_LEAD_S = 4
"""The MWA cannot start an observation less than this (s) ahead."""

DEFAULT_SLOW_DELAY_S = 3.0
"""Delay (s) of the ``slow`` scenario unless set."""

DEFAULT_VCSFREE_S = 7200
"""VCS capture time (s) the simulator reports free unless set."""

SIM_HTTP_USER = "tracet-sim"
SIM_HTTP_PASSWORD = "sim-password"


def sim_mwa_key(project_id: str) -> str:
    return f"sim-mwa-{project_id}"


def sim_atca_token(project_id: str) -> str:
    return f"sim-atca-{project_id}"


class SimulatorCredentials:
    """The credentials the simulator accepts, for any project (a ``CredentialSource``)."""

    def mwa_secure_key(self, project_id: str) -> str | None:
        return sim_mwa_key(project_id)

    def atca_token(self, project_id: str) -> str | None:
        return sim_atca_token(project_id)

    def atca_http_auth(self) -> tuple[str, str] | None:
        return SIM_HTTP_USER, SIM_HTTP_PASSWORD


class Scenario(StrEnum):
    SUCCESS = "success"
    VALIDATION_ERROR = "validation_error"
    EXPIRED_TOKEN = "expired_token"
    SLOW = "slow"
    HUNG = "hung"
    HTTP_500 = "http_500"


def gps_now() -> int:
    return int(time.time()) - GPS_EPOCH_UNIX_S + GPS_LEAP_SECONDS


@dataclass
class _ScheduledObs:
    starttime: int
    stoptime: int
    obsname: str
    creator: str
    project_id: str
    mode: str

    def row(self) -> list[Any]:
        return [self.starttime, self.obsname, self.creator, self.project_id, self.mode]


@dataclass
class _State:
    default_scenario: Scenario = Scenario.SUCCESS
    per_project: dict[str, Scenario] = field(default_factory=dict)
    delay_s: float = DEFAULT_SLOW_DELAY_S
    vcsfree_s: int = DEFAULT_VCSFREE_S
    busy_projects: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    schedule: list[_ScheduledObs] = field(default_factory=list)
    atca_ids: set[str] = field(default_factory=set)
    next_trigger_id: int = 1001


class TelescopeSimulator:
    """The simulator server; ``start()`` serves on a background thread, ``stop()`` ends every handler."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.simulator = self
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mwa_base_url(self) -> str:
        return f"{self.base_url}/mwa/"

    @property
    def atca_url(self) -> str:
        return f"{self.base_url}/atca/rapid_response_service.py"

    def start(self) -> TelescopeSimulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="telescope-sim", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        """Release hung/slow handlers, stop serving and wait for every handler thread."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> TelescopeSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- control (also over HTTP)

    def set_scenario(
        self, scenario: Scenario | str, project_id: str | None = None, delay_s: float | None = None
    ) -> None:
        scenario = Scenario(scenario)
        with self._lock:
            if project_id is None:
                self._state.default_scenario = scenario
            else:
                self._state.per_project[project_id] = scenario
            if delay_s is not None:
                self._state.delay_s = float(delay_s)

    def configure(self, *, vcsfree_s: int | None = None, busy_projects: list[str] | None = None) -> None:
        with self._lock:
            if vcsfree_s is not None:
                self._state.vcsfree_s = int(vcsfree_s)
            if busy_projects is not None:
                self._state.busy_projects = set(busy_projects)

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    def received(self) -> list[dict[str, Any]]:
        """What the simulator received, oldest first (secrets redacted)."""
        with self._lock:
            copied: list[dict[str, Any]] = json.loads(json.dumps(self._state.requests))
            return copied

    def schedule_rows(self) -> list[list[Any]]:
        with self._lock:
            return [o.row() for o in self._state.schedule]

    # ---------------------------------------------------------------- internals used by the handler

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["index"] = len(self._state.requests)
            self._state.requests.append(entry)

    def _scenario_for(self, project_id: str | None) -> tuple[Scenario, float]:
        with self._lock:
            scenario = self._state.per_project.get(project_id or "", self._state.default_scenario)
            return scenario, self._state.delay_s

    def _next_trigger_id(self) -> int:
        with self._lock:
            self._state.next_trigger_id += 1
            return self._state.next_trigger_id


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every handler thread
    simulator: TelescopeSimulator


_REDACT_FIELDS = Redactor()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "TraceTSim/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are recorded instead
        return

    @property
    def sim(self) -> TelescopeSimulator:
        return self.server.simulator

    # ---------------------------------------------------------------- plumbing

    def _send_json(self, payload: Any, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_text(self, text: str, status: int, content_type: str = "text/html") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", "replace") if length else ""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = self._read_body() if method == "POST" else ""
        path = parts.path
        try:
            if path.startswith("/_sim/"):
                self._control(method, path, body)
            elif path.startswith("/mwa/"):
                self._mwa(method, path.rsplit("/", 1)[-1], query, body)
            elif path.startswith("/atca/"):
                self._atca(method, body)
            else:
                self._send_text("Not found", 404, "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (e.g. its timeout expired)

    def _misbehave(self, scenario: Scenario, delay_s: float) -> bool:
        """Apply slow/hung/500; True when the request was fully handled here."""
        if scenario is Scenario.HUNG:
            self.sim._stopping.wait()
            self.close_connection = True
            return True
        if scenario is Scenario.SLOW and self.sim._stopping.wait(delay_s):
            return True
        if scenario is Scenario.HTTP_500:
            self._send_text(
                "<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>"
                "<p>The server encountered an internal error and was unable to complete your request.</p>"
                "</body></html>",
                500,
            )
            return True
        return False

    # ---------------------------------------------------------------- control

    def _control(self, method: str, path: str, body: str) -> None:
        name = path[len("/_sim/") :]
        if method == "GET" and name == "requests":
            self._send_json(self.sim.received())
        elif method == "GET" and name == "schedule":
            self._send_json(self.sim.schedule_rows())
        elif method == "POST" and name == "scenario":
            data = json.loads(body or "{}")
            try:
                self.sim.set_scenario(data["scenario"], data.get("project_id"), data.get("delay_s"))
            except (KeyError, ValueError) as exc:
                self._send_json({"error": f"bad scenario request: {exc}", "scenarios": list(Scenario)}, 400)
                return
            self._send_json({"ok": True})
        elif method == "POST" and name == "config":
            data = json.loads(body or "{}")
            self.sim.configure(vcsfree_s=data.get("vcsfree_s"), busy_projects=data.get("busy_projects"))
            self._send_json({"ok": True})
        elif method == "POST" and name == "reset":
            self.sim.reset()
            self._send_json({"ok": True})
        else:
            self._send_text("Not found", 404, "text/plain")

    # ---------------------------------------------------------------- MWA

    def _mwa(self, method: str, endpoint: str, query: dict[str, str], body: str) -> None:
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        project_id = query.get("project_id")
        scenario, delay_s = self.sim._scenario_for(project_id)
        key_ok = form.get("secure_key") == sim_mwa_key(project_id or "")
        self.sim._record(
            {
                "at_utc": datetime.now(UTC).isoformat(),
                "protocol": "mwa",
                "method": method,
                "endpoint": endpoint,
                "query": query,
                "form": _REDACT_FIELDS.data(form),
                "secure_key_valid": key_ok if "secure_key" in form else None,
                "project_id": project_id,
                "scenario": scenario.value,
            }
        )
        if self._misbehave(scenario, delay_s):
            return
        if endpoint == "busy" and method == "GET":
            with self.sim._lock:
                busy = (project_id or "") in self.sim._state.busy_projects
            self._send_json(busy)
        elif endpoint == "vcsfree" and method == "GET":
            with self.sim._lock:
                free = self.sim._state.vcsfree_s
            self._send_json(free)
        elif endpoint == "obslist" and method == "GET":
            obstime = int(query.get("obstime") or 0)
            now = gps_now()
            with self.sim._lock:
                rows = [o.row() for o in self.sim._state.schedule if o.stoptime > now and o.starttime <= now + obstime]
            self._send_json(rows)
        elif endpoint in ("triggerobs", "triggervcs", "triggerbuffer") and method == "POST":
            self._send_json(self._mwa_trigger(endpoint, query, form, scenario, key_ok))
        else:
            self._send_text(f"Unknown MWA endpoint {endpoint}", 404, "text/plain")

    def _mwa_trigger(
        self, endpoint: str, query: dict[str, str], form: dict[str, str], scenario: Scenario, key_ok: bool
    ) -> dict[str, Any]:
        project_id = query.get("project_id", "")
        params: dict[str, Any] = {k: v for k, v in form.items() if k != "secure_key"}
        params.update(query)
        errors: list[str] = []
        if not project_id:
            errors.append("No project_id specified")
        elif scenario is Scenario.EXPIRED_TOKEN or not key_ok:
            errors.append(f"Invalid secure_key for project_id {project_id}")
        if scenario is Scenario.VALIDATION_ERROR:
            errors.append("Simulated validation error: the requested observation cannot be scheduled")
        pretend = form.get("pretend", "False") in ("True", "true", "1")
        if endpoint == "triggerbuffer":
            obstime = _int(form.get("obstime"))
            if obstime is None or obstime <= 0:
                errors.append("obstime must be a positive integer number of seconds")
        else:
            errors += _mwa_validate(form, query)
        if errors:
            return {"success": False, "errors": dict(enumerate(errors)), "params": params}
        trigger_id = self.sim._next_trigger_id()
        now = gps_now()
        clear = {"command": "clear_schedule.py --tryheal", "retcode": 0, "stdout": "", "stderr": ""}
        if endpoint == "triggerbuffer":
            obstime = int(form["obstime"])
            dumped = [] if pretend else [now - now % 8]
            if not pretend:
                self._add_schedule(now, now + obstime + 16, f"buffer_{trigger_id}", project_id, "VOLTAGE_BUFFER")
            return {
                "success": True,
                "errors": {},
                "params": params,
                "clear": clear,
                "schedule": {
                    "command": f"triggervcs --obstime={obstime}",
                    "retcode": 0,
                    "stdout": "",
                    "stderr": "Pretending: commands not run\n" if pretend else "",
                },
                "obsid_list": dumped,
                "trigger_id": trigger_id,
            }
        ras = _float_list(form.get("ra"))
        decs = _float_list(form.get("dec"))
        subarrays = json.loads(form["subarrays"]) if "subarrays" in form else []
        nobs, exptime = int(form["nobs"]), int(form["exptime"])
        start = now + MWA_START_LEAD_S + (-(now + MWA_START_LEAD_S) % 8)
        obsids: list[int] = []
        positions = 1 if subarrays else len(ras)
        t = start
        for _ in range(positions * nobs):
            obsids.append(t)
            t += exptime
        calibrator = form.get("calibrator", "False")
        calname = "HydA" if calibrator == "True" else (None if calibrator == "False" else calibrator)
        if calname is not None:
            obsids.append(t)
            t += int(float(form.get("calexptime", "120")))
        mode = "VOLTAGE_START" if endpoint == "triggervcs" else "HW_LFILES"
        if pretend:
            stderr = "Pretending: commands not run\n"
        else:
            stderr = "".join(f"INFO:Schedule metadata for {o}:\n" for o in obsids)
            self._add_schedule(start, t, query.get("obsname", ""), project_id, mode, form.get("creator", ""))
        params.update(
            {
                "ralist": ras,
                "declist": decs,
                "subarraylist": subarrays,
                "calname": calname,
                "pretty": f"{len(obsids)} observation(s) from GPS {start}",
            }
        )
        return {
            "success": True,
            "errors": {},
            "params": params,
            "clear": clear,
            "schedule": {
                "command": "\n".join(f"single_observation.py --starttime={o} --obsname=..." for o in obsids),
                "retcode": 0,
                "stdout": "",
                "stderr": stderr,
            },
            "trigger_id": trigger_id,
        }

    def _add_schedule(self, start: int, stop: int, obsname: str, project_id: str, mode: str, creator: str = "") -> None:
        with self.sim._lock:
            schedule = self.sim._state.schedule
            # a trigger clears what was scheduled after its start, as the real clear_schedule does
            schedule[:] = [o for o in schedule if o.starttime < start]
            for o in schedule:
                o.stoptime = min(o.stoptime, start)
            schedule.append(_ScheduledObs(start, stop, obsname, creator, project_id, mode))

    # ---------------------------------------------------------------- ATCA

    def _atca(self, method: str, body: str) -> None:
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        try:
            request = json.loads(form.get("request", ""))
        except ValueError:
            request = None
        project_id = request.get("project") if isinstance(request, dict) else None
        scenario, delay_s = self.sim._scenario_for(project_id)
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{SIM_HTTP_USER}:{SIM_HTTP_PASSWORD}".encode()).decode()
        self.sim._record(
            {
                "at_utc": datetime.now(UTC).isoformat(),
                "protocol": "atca",
                "method": method,
                "form": _REDACT_FIELDS.data(form),
                "request": request,
                "authorization": "valid" if auth == expected else ("invalid" if auth else "absent"),
                "token_valid": form.get("authToken") == sim_atca_token(project_id or "")
                if "authToken" in form
                else None,
                "project_id": project_id,
                "scenario": scenario.value,
            }
        )
        if method != "POST":
            self._send_text("Method not allowed", 405, "text/plain")
            return
        if auth != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="ATCA"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self._misbehave(scenario, delay_s):
            return
        self._send_json(self._atca_answer(form, request, project_id, scenario))

    def _atca_answer(
        self, form: dict[str, str], request: Any, project_id: str | None, scenario: Scenario
    ) -> dict[str, Any]:
        if scenario is Scenario.EXPIRED_TOKEN:
            return {"error": "Detected an expired token: Signature has expired."}
        if not isinstance(request, dict):
            return {"error": "No request was supplied."}
        if form.get("authToken") != sim_atca_token(project_id or ""):
            return {"error": "Unable to verify the authentication token."}
        if not form.get("email"):
            return {"error": "No email address was supplied."}
        token = {"received": True, "verified": True}
        if "cancel" in request:
            cancel_id = str(request["cancel"])
            with self.sim._lock:
                known = cancel_id in self.sim._state.atca_ids
                self.sim._state.atca_ids.discard(cancel_id)
            if not known:
                return {"error": f"Unable to find a request with ID {cancel_id} to cancel."}
            return {"authenticationToken": token, "cancel": True, "id": cancel_id, "success": True}
        if scenario is Scenario.VALIDATION_ERROR:
            return {"error": "The requested source is not above the horizon within the maximum lag."}
        missing = [k for k in ("source", "rightAscension", "declination", "project") if not request.get(k)]
        if missing:
            return {"error": f"Request is missing {', '.join(missing)}."}
        bands = [
            b
            for b in ("3mm", "7mm", "15mm", "4cm", "16cm")
            if isinstance(request.get(b), dict) and request[b].get("use")
        ]
        if not bands:
            return {"error": "No bands were requested."}
        test = form.get("test") in ("True", "true", "1")
        atca_id = f"sim{self.sim._next_trigger_id():017d}"
        with self.sim._lock:
            self.sim._state.atca_ids.add(atca_id)
        now = datetime.now(UTC)
        schedule: dict[str, Any] = {
            "received": True,
            "valid": True,
            "targetName": request["source"],
            "rightAscension": request["rightAscension"],
            "declination": request["declination"],
            "bandsRequested": bands,
        }
        for band in bands:
            schedule[band] = request[band]
        return {
            "authenticationToken": token,
            "overrideProject": {"code": project_id, "sufficientScore": True, "score": 5.0},
            "scheduledProject": {
                "codes": ["C001"],
                "emails": [["someone@example.org"]],
                "startTimes": [0],
                "endTimes": [0],
            },
            "schedule": schedule,
            "observations": {
                "hoursRequested": 12.0,
                "maxSearchHours": float(form["maximumLag"]) if "maximumLag" in form else 100,
                "hoursAllocated": 12.0,
                "hoursRequestedMinimum": float(form["minimumTime"]) if "minimumTime" in form else 0.5,
                "projectHoursRemaining": 132.0,
                "startDate": now.strftime("%Y-%m-%d %H:%M:%S"),
                "endDate": now.strftime("%Y-%m-%d %H:%M:%S"),
            },
            "testMode": test,
            "cancel": False,
            "testing": {
                "noScoreLimit": form.get("noScoreLimit") == "True",
                "noTimeLimit": form.get("noTimeLimit") == "True",
                "limitTimeHours": 0,
                "CABBMode": "ca_2048_2048_2f",
            },
            "id": atca_id,
            "success": True,
        }


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _float_list(text: str | None) -> list[float]:
    if text is None:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if isinstance(value, list):
        return [float(v) for v in value]
    return [float(value)] if isinstance(value, int | float) else []


def _mwa_validate(form: dict[str, str], query: dict[str, str]) -> list[str]:
    errors: list[str] = []
    if not query.get("obsname"):
        errors.append("No obsname specified")
    nobs, exptime = _int(form.get("nobs")), _int(form.get("exptime"))
    if nobs is None or nobs < 1:
        errors.append(f"nobs must be a positive integer, not {form.get('nobs')!r}")
    if exptime is None or exptime <= 0 or exptime % 8:
        errors.append(f"exptime must be a positive multiple of 8 seconds, not {form.get('exptime')!r}")
    if ("freqres" in form) != ("inttime" in form):
        errors.append("Either both freqres and inttime must be given, or neither")
    ras, decs = _float_list(form.get("ra")), _float_list(form.get("dec"))
    if not ras or len(ras) != len(decs):
        errors.append("ra and dec must be given, with the same number of values")
    if "subarrays" in form:
        try:
            subarrays = json.loads(form["subarrays"])
        except ValueError:
            subarrays = None
        if not isinstance(subarrays, list) or len(subarrays) != len(ras):
            errors.append("subarrays must be a JSON list with one entry per ra/dec pointing")
    if "freqspecs" in form:
        try:
            expand_freqspecs(form["freqspecs"])
        except ValueError as exc:
            errors.append(f"Invalid freqspecs {form['freqspecs']!r}: {exc}")
    return errors


def run_simulator(port: int, host: str = "127.0.0.1") -> int:
    """``tracet-gui telescope-sim``: serve until interrupted; returns the process exit code."""
    try:
        simulator = TelescopeSimulator(port, host)
    except OSError as exc:
        print(f"telescope-sim: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"Telescope simulator listening on {simulator.base_url}")
    print(f"  MWA base URL : {simulator.mwa_base_url}")
    print(f"  ATCA URL     : {simulator.atca_url}")
    print(f"  received     : GET {simulator.base_url}/_sim/requests")
    print(f'  scenarios    : POST {simulator.base_url}/_sim/scenario {{"scenario": "hung", "project_id": "G0055"}}')
    print(f"                 ({', '.join(s.value for s in Scenario)})")
    sys.stdout.flush()
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator._stopping.set()
        simulator._server.server_close()
    return 0
