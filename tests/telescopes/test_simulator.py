"""The simulator itself: control endpoints and the ``telescope-sim`` entry point."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace

from tracet_gui.telescopes.mwa import MwaClient
from tracet_gui.telescopes.simulator import TelescopeSimulator, run_simulator

from .test_mwa import OBS


def _post(url: str, payload: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def test_scenario_over_http_applies_per_project(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    answer = _post(f"{sim.base_url}/_sim/scenario", {"scenario": "validation_error", "project_id": "G0055"})
    assert answer == {"ok": True}
    assert not mwa.send(OBS).ok
    assert mwa.send(replace(OBS, project_id="G0094")).ok
    with urllib.request.urlopen(f"{sim.base_url}/_sim/requests", timeout=5) as response:
        received = json.loads(response.read())
    assert [(r["project_id"], r["scenario"]) for r in received] == [("G0055", "validation_error"), ("G0094", "success")]
    assert _post(f"{sim.base_url}/_sim/reset", {}) == {"ok": True}
    assert sim.received() == []


def test_unknown_scenario_is_refused(sim: TelescopeSimulator) -> None:
    try:
        _post(f"{sim.base_url}/_sim/scenario", {"scenario": "exploding"})
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert "hung" in exc.read().decode()
    else:
        raise AssertionError("an unknown scenario must be refused")


def test_run_simulator_serves_until_interrupted() -> None:
    code = "import sys; from tracet_gui.telescopes.simulator import run_simulator; sys.exit(run_simulator(0))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        header = [process.stdout.readline() for _ in range(6)]
        base = header[0].rsplit(" ", 1)[-1].strip()
        assert any("ATCA URL" in line and "/atca/rapid_response_service.py" in line for line in header)
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base}/mwa/vcsfree", timeout=5) as response:
            assert json.loads(response.read()) == 7200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_run_simulator_reports_a_busy_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert run_simulator(taken.getsockname()[1]) == 2
