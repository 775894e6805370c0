"""The decision engine's ObservationRequest through ObservationSender to the simulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tracet_gui.core.decision_model import MWA_SUBARRAY_NAMES, AtcaBandRequest, ObservationRequest, Outcome, Reason
from tracet_gui.core.vocabulary import Decision, LogKind
from tracet_gui.pipeline.decisions import outcome_after_requests
from tracet_gui.telescopes.arbitration import OwnObservation
from tracet_gui.telescopes.arming import NOT_ARMED_LABEL, REAL_LABEL
from tracet_gui.telescopes.atca import AtcaClient
from tracet_gui.telescopes.mwa import MwaClient
from tracet_gui.telescopes.sender import ArbitrationSource, ObservationSender
from tracet_gui.telescopes.simulator import Scenario, TelescopeSimulator

MWA_OBS = ObservationRequest(
    telescope="MWA_correlate",
    kind="mwa_observation",
    pretend=False,
    project_id="G0055",
    obsname="SWIFT_1093742",
    reason="First observation.",
    source_name="GRB 240101A",
    ra_deg=336.62,
    dec_deg=-12.5,
    exposure_s=896,
    nobs=2,
    freqspecs="144,24",
    calibrator=True,
    calexptime_s=120.0,
    inttime_s=0.5,
    freqres_khz=10.0,
)
MWA_BUFFER = replace(
    MWA_OBS,
    telescope="MWA_VCS",
    kind="mwa_buffer",
    ra_deg=None,
    dec_deg=None,
    vcsmode=True,
    nobs=1,
    exposure_s=8,
    buffer_obstime_s=8,
)
MWA_SUB = replace(
    MWA_OBS,
    kind="mwa_subarrays",
    ra_deg=None,
    dec_deg=None,
    nobs=1,
    exposure_s=304,
    subarray_pointings=((1.0, -1.0), (2.0, -2.0), (3.0, -3.0), (4.0, -4.0)),
    subarray_names=MWA_SUBARRAY_NAMES,
)
ATCA_OBS = ObservationRequest(
    telescope="ATCA",
    kind="atca",
    pretend=False,
    project_id="C3204",
    obsname="SWIFT_1093742",
    reason="First observation.",
    source_name="GRB 240101A",
    ra_deg=120.17958,
    dec_deg=-72.19272,
    exposure_s=720 * 60,
    atca_bands=(AtcaBandRequest("4cm", True, 120, 5500, 9000),),
    atca_max_exptime_min=720,
    atca_min_exptime_min=30,
    atca_maximum_lag_minutes=60.0,
)


def _sender(sim: TelescopeSimulator, armed: bool, **extra: object) -> ObservationSender:
    from tracet_gui.telescopes.simulator import SimulatorCredentials

    creds = SimulatorCredentials()
    return ObservationSender(
        mwa=MwaClient(sim.mwa_base_url, creds, timeout_s=1.0, retry_delay_s=0),
        atca=AtcaClient(sim.atca_url, creds, timeout_s=1.0, retry_delay_s=0),
        is_armed=lambda: armed,
        atca_email_for=lambda project: "observer@example.org" if project == "C3204" else None,
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("armed", "request_pretend", "sent_pretend", "label"),
    [
        (False, False, "True", NOT_ARMED_LABEL),
        (True, True, "True", "PRETEND: proposal testing mode or test event"),
        (True, False, "False", REAL_LABEL),
    ],
)
def test_unarmed_is_always_pretend_and_labelled(
    sim: TelescopeSimulator, armed: bool, request_pretend: bool, sent_pretend: str, label: str
) -> None:
    sender = _sender(sim, armed)
    mwa = sender.send_detailed(replace(MWA_OBS, pretend=request_pretend))
    atca = sender.send_detailed(replace(ATCA_OBS, pretend=request_pretend))
    assert mwa.ok and atca.ok, (mwa.error, atca.error)
    assert mwa.pretend_label == label and atca.pretend_label == label
    mwa_got, atca_got = sim.received()
    assert mwa_got["form"]["pretend"] == sent_pretend
    assert ("test" in atca_got["form"]) is (sent_pretend == "True")
    if sent_pretend == "True":
        assert (atca_got["form"]["noTimeLimit"], atca_got["form"]["noScoreLimit"]) == ("True", "True")
    assert label in mwa.message


def test_each_kind_goes_where_it_should(sim: TelescopeSimulator) -> None:
    sender = _sender(sim, armed=True)
    results = [sender.send(r) for r in (MWA_BUFFER, MWA_SUB, MWA_OBS, ATCA_OBS)]
    assert all(r.ok for r in results), [r.message for r in results]
    endpoints = [r.get("endpoint", "atca") for r in sim.received()]
    assert endpoints == ["triggerbuffer", "triggerobs", "triggerobs", "atca"]
    sub = sim.received()[1]
    assert sub["form"]["subarrays"] == '["all_ne", "all_nw", "all_se", "all_sw"]'
    atca = sim.received()[3]
    assert atca["request"]["source"] == "GRB 240101A"
    assert atca["request"]["rightAscension"] == "08:00:43.10"
    assert float(atca["form"]["maximumLag"]) == 1.0
    obs = sim.received()[2]
    assert (obs["form"]["nobs"], obs["form"]["exptime"], obs["query"]["obsname"]) == ("2", "896", "SWIFT_1093742")
    assert results[0].response is not None and results[0].response["kind"] == "buffer"


def test_missing_atca_email_is_a_clear_error(sim: TelescopeSimulator) -> None:
    result = _sender(sim, armed=True).send(replace(ATCA_OBS, project_id="C9999"))
    assert not result.ok and "email" in result.message
    assert sim.received() == []


def test_hung_telescope_turns_the_decision_into_error_with_the_reason(sim: TelescopeSimulator) -> None:
    sim.set_scenario(Scenario.HUNG)
    sent = _sender(sim, armed=True).send(MWA_OBS)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    provisional = Outcome(
        decision=Decision.TRIGGERED,
        reasons=(Reason(at, "ivo://x", LogKind.DECISION, "Decision: Triggered – sending 1 telescope request(s)."),),
        requests=(MWA_OBS,),
        trigger=True,
    )
    final = outcome_after_requests(provisional, sent.ok, sent.message)
    assert final.decision is Decision.ERROR
    error_text = next(r.text for r in final.reasons if r.kind is LogKind.ERROR)
    assert "did not answer POST" in error_text and "within 1 s" in error_text


def test_arbitration_holds_back_a_lower_priority_proposal(sim: TelescopeSimulator) -> None:
    caused: list[OwnObservation] = []
    priorities = {"SWIFT_1093742": ("swift_grb", 1), "FERMI_55": ("fermi_grb", 5)}
    arbitration = ArbitrationSource(
        proposal_of=lambda request: priorities.get(request.obsname),
        own_observations=lambda telescope: caused,
    )
    sender = _sender(sim, armed=True, arbitration=arbitration)
    first = sender.send_detailed(MWA_OBS)
    assert first.ok
    caused.append(OwnObservation("SWIFT_1093742", "G0055", "swift_grb", 1))
    second = sender.send_detailed(replace(MWA_OBS, obsname="FERMI_55"))
    assert not second.ok and second.held_back
    assert "Not interrupting observation SWIFT_1093742" in (second.error or "")
    triggers = [r for r in sim.received() if r["endpoint"].startswith("trigger")]
    assert len(triggers) == 1, "the held-back request was never sent"
    repoint = sender.send_detailed(replace(MWA_OBS, ra_deg=337.0))
    assert repoint.ok, "the higher-priority proposal may update its own observation"
    sim.configure(busy_projects=["G0055"])
    busy = sender.send_detailed(replace(MWA_OBS, ra_deg=338.0))
    assert busy.held_back and "MWA reports the telescope busy" in (busy.error or "")


def test_pretend_requests_skip_arbitration(sim: TelescopeSimulator) -> None:
    arbitration = ArbitrationSource(proposal_of=lambda r: ("p", 1), own_observations=lambda t: [])
    sender = _sender(sim, armed=False, arbitration=arbitration)
    assert sender.send(MWA_OBS).ok
    assert [r["endpoint"] for r in sim.received()] == ["triggerobs"]
