"""Requests run on worker threads: a hung telescope never delays another request or the caller."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import replace

from tracet_gui.telescopes.atca import AtcaClient
from tracet_gui.telescopes.dispatcher import TelescopeDispatcher, telescope_of
from tracet_gui.telescopes.mwa import MwaClient
from tracet_gui.telescopes.recorder import RecordingClient
from tracet_gui.telescopes.results import TelescopeResult
from tracet_gui.telescopes.simulator import Scenario, SimulatorCredentials, TelescopeSimulator

from .test_atca import REQ as ATCA_REQ
from .test_mwa import OBS

HUNG_TIMEOUT_S = 5.0
"""Generous, so the healthy request surely finishes while the hung one is still waiting."""


def test_hung_mwa_does_not_delay_a_healthy_request(sim: TelescopeSimulator) -> None:
    with TelescopeSimulator(0) as healthy_sim:
        sim.set_scenario(Scenario.HUNG)
        hung = MwaClient(sim.mwa_base_url, SimulatorCredentials(), timeout_s=HUNG_TIMEOUT_S, retry_delay_s=0)
        healthy = MwaClient(healthy_sim.mwa_base_url, SimulatorCredentials(), timeout_s=HUNG_TIMEOUT_S)
        with TelescopeDispatcher({"MWA-hung": hung, "MWA": healthy}) as dispatcher:
            hung_future = dispatcher.submit(OBS, telescope="MWA-hung")
            ok_future = dispatcher.submit(OBS)
            ok = ok_future.result()
            assert ok.ok, ok.error
            assert not hung_future.done(), "the hung request is still waiting for its timeout"
            failed = hung_future.result()
        assert not failed.ok
        assert f"did not answer POST {sim.mwa_base_url}triggerobs?" in (failed.error or "")
        assert f"within {HUNG_TIMEOUT_S:g} s" in (failed.error or "")
        assert failed.attempts == 1


def test_hung_requests_on_one_telescope_do_not_block_the_other(sim: TelescopeSimulator) -> None:
    sim.set_scenario(Scenario.HUNG, project_id="G0055")
    mwa = MwaClient(sim.mwa_base_url, SimulatorCredentials(), timeout_s=HUNG_TIMEOUT_S)
    atca = AtcaClient(sim.atca_url, SimulatorCredentials(), timeout_s=HUNG_TIMEOUT_S)
    with TelescopeDispatcher({"MWA": mwa, "ATCA": atca}, workers_per_telescope=2) as dispatcher:
        hung = [dispatcher.submit(OBS) for _ in range(3)]  # more than the MWA pool holds
        atca_result = dispatcher.submit(ATCA_REQ).result()
        assert atca_result.ok, atca_result.error
        assert not any(f.done() for f in hung)
        assert all(not f.result().ok for f in hung)


def test_submit_returns_at_once_and_calls_back_on_a_worker(sim: TelescopeSimulator) -> None:
    sim.set_scenario(Scenario.SLOW, delay_s=0.5)
    client = MwaClient(sim.mwa_base_url, SimulatorCredentials(), timeout_s=HUNG_TIMEOUT_S)
    got: list[tuple[TelescopeResult, str]] = []
    done = threading.Event()

    def callback(result: TelescopeResult) -> None:
        got.append((result, threading.current_thread().name))
        done.set()

    with TelescopeDispatcher({"MWA": client}) as dispatcher:
        future: Future[TelescopeResult] = dispatcher.submit(OBS, callback)
        assert not future.done(), "the caller never waits for the network"
        assert done.wait(HUNG_TIMEOUT_S * 2)
    result, thread_name = got[0]
    assert result.ok and thread_name.startswith("telescope-MWA")
    assert future.result() is result


class _BrokenClient:
    def send(self, request: object) -> TelescopeResult:
        raise RuntimeError("bug with secret sim-mwa-G0055 inside")


def test_a_client_bug_becomes_an_error_result() -> None:
    with TelescopeDispatcher({"MWA": _BrokenClient()}) as dispatcher:
        result = dispatcher.submit(OBS).result()
    assert not result.ok and result.error == "Internal error in the MWA client: RuntimeError"


def test_routing_and_recorder() -> None:
    recorder = RecordingClient()
    with TelescopeDispatcher({"MWA": recorder, "ATCA": recorder}) as dispatcher:
        results = [dispatcher.submit(r).result() for r in (OBS, ATCA_REQ, replace(OBS, pretend=True))]
    assert [r.telescope for r in results] == ["MWA", "ATCA", "MWA"]
    assert [r.trigger_id for r in results] == ["recorded-1", "recorded-2", "recorded-3"]
    assert all(r.ok and r.attempts == 0 for r in results)
    assert recorder.requests == [OBS, ATCA_REQ, replace(OBS, pretend=True)]
    assert results[0].request["form"]["secure_key"] == "***REDACTED***"
    assert telescope_of(ATCA_REQ) == "ATCA"
