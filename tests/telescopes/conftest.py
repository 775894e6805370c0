"""Fixtures: a real telescope simulator on 127.0.0.1 and clients pointed at it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tracet_gui.telescopes.atca import AtcaClient
from tracet_gui.telescopes.mwa import MwaClient
from tracet_gui.telescopes.simulator import SimulatorCredentials, TelescopeSimulator

HUNG_TIMEOUT_S = 1.0
"""Client timeout used against hung or slow servers (s)."""


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in left:
        t.join(timeout=5)
    still = [t.name for t in left if t.is_alive()]
    assert not still, f"threads left running: {still}"


@pytest.fixture
def sim() -> Iterator[TelescopeSimulator]:
    with TelescopeSimulator(0) as simulator:
        yield simulator


@pytest.fixture
def mwa(sim: TelescopeSimulator) -> MwaClient:
    return MwaClient(
        sim.mwa_base_url,
        SimulatorCredentials(),
        timeout_s=HUNG_TIMEOUT_S,
        query_timeout_s=HUNG_TIMEOUT_S,
        retry_delay_s=0.0,
    )


@pytest.fixture
def atca(sim: TelescopeSimulator) -> AtcaClient:
    return AtcaClient(sim.atca_url, SimulatorCredentials(), timeout_s=HUNG_TIMEOUT_S, retry_delay_s=0.0)
