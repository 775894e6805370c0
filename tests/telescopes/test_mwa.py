"""MWA client against the real simulator over HTTP: every request type and failure mode."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest

from tracet_gui.telescopes.mwa import MWA_OBS_LINK, MwaClient, MwaRequest, obsids_from_answer, validate_mwa_request
from tracet_gui.telescopes.simulator import Scenario, SimulatorCredentials, TelescopeSimulator

from .conftest import HUNG_TIMEOUT_S

OBS = MwaRequest(
    kind="observation",
    project_id="G0055",
    obsname="SWIFT_1093742",
    pretend=False,
    ra_deg=336.62,
    dec_deg=-12.5,
    freqspecs="144,24",
    exptime_s=896,
    nobs=2,
    calibrator=True,
    calexptime_s=120.0,
    freqres_khz=10.0,
    inttime_s=0.5,
)
BUFFER = MwaRequest(kind="buffer", project_id="G0094", obsname="LVC_S1", pretend=False, buffer_obstime_s=8)
VCS = replace(OBS, kind="vcs", vcsmode=True, exptime_s=600, nobs=1)
SUBARRAYS = replace(
    OBS,
    kind="subarrays",
    ra_deg=None,
    dec_deg=None,
    subarray_pointings=((10.0, -20.0), (20.0, -30.0), (30.0, -40.0), (40.0, -50.0)),
    nobs=1,
    exptime_s=304,
)


@pytest.mark.parametrize(
    ("request_", "endpoint", "expected_form"),
    [
        (
            OBS,
            "triggerobs",
            {
                "ra": "336.62",
                "dec": "-12.5",
                "nobs": "2",
                "exptime": "896",
                "freqspecs": "144,24",
                "calibrator": "True",
                "calexptime": "120",
                "freqres": "10",
                "inttime": "0.5",
                "avoidsun": "True",
                "vcsmode": "False",
                "pretend": "False",
            },
        ),
        (VCS, "triggervcs", {"vcsmode": "True", "exptime": "600", "nobs": "1"}),
        (
            SUBARRAYS,
            "triggerobs",
            {
                "ra": "[10.0, 20.0, 30.0, 40.0]",
                "dec": "[-20.0, -30.0, -40.0, -50.0]",
                "subarrays": '["all_ne", "all_nw", "all_se", "all_sw"]',
                "exptime": "304",
            },
        ),
        (BUFFER, "triggerbuffer", {"obstime": "8", "pretend": "False"}),
    ],
)
def test_every_trigger_type_reaches_its_endpoint_with_the_service_encoding(
    sim: TelescopeSimulator, mwa: MwaClient, request_: MwaRequest, endpoint: str, expected_form: dict[str, str]
) -> None:
    result = mwa.send(request_)
    assert result.ok, result.error
    triggers = [r for r in sim.received() if r["endpoint"].startswith("trigger")]
    assert [r["endpoint"] for r in triggers] == [endpoint]
    got = triggers[0]
    assert got["secure_key_valid"] is True
    assert got["query"]["project_id"] == request_.project_id
    for key, value in expected_form.items():
        assert got["form"][key] == value, key
    assert result.trigger_id is not None and result.trigger_id.isdigit()
    assert result.obsids, "a real trigger reports its obsids"
    assert result.website_link == MWA_OBS_LINK.format(obsid=result.obsids[0])
    assert result.attempts == 1


def test_obsname_and_computed_length_are_sent_as_requested(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    mwa.send(OBS)
    got = next(r for r in sim.received() if r["endpoint"] == "triggerobs")
    assert got["query"]["obsname"] == "SWIFT_1093742"
    assert int(got["form"]["nobs"]) * int(got["form"]["exptime"]) == OBS.total_time_s == 1792
    # observations of two blocks plus a calibrator
    assert len(mwa.send(OBS).obsids) == 3


def test_pretend_request_is_sent_as_pretend_and_schedules_nothing(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    result = mwa.send(replace(OBS, pretend=True, pretend_label="PRETEND: system not armed"))
    assert result.ok and result.pretend
    assert "PRETEND: system not armed" in result.message
    assert "MWA pretended: commands not run" in result.notes
    assert result.obsids == ()
    assert sim.received()[-1]["form"]["pretend"] == "True"
    assert sim.schedule_rows() == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"nobs": 0}, "nobs must be at least 1"),
        ({"exptime_s": 100}, "exptime must be a positive multiple of 8 s"),
        ({"exptime_s": 0}, "exptime must be a positive multiple of 8 s"),
        ({"ra_deg": None}, "needs ra and dec"),
        ({"inttime_s": None}, "freqres and inttime must be given together"),
        ({"obsname": " "}, "obsname is empty"),
        ({"freqspecs": "300,24"}, "freqspecs:"),
    ],
)
def test_invalid_requests_are_refused_before_sending(
    sim: TelescopeSimulator, mwa: MwaClient, change: dict[str, object], problem: str
) -> None:
    bad = replace(OBS, **change)  # type: ignore[arg-type]
    assert any(problem in p for p in validate_mwa_request(bad))
    result = mwa.send(bad)
    assert not result.ok and result.attempts == 0
    assert problem in (result.error or "")
    assert sim.received() == []


def test_zero_position_is_a_position() -> None:
    assert validate_mwa_request(replace(OBS, ra_deg=0.0, dec_deg=0.0)) == []


def test_buffer_without_obstime_is_refused() -> None:
    assert validate_mwa_request(replace(BUFFER, buffer_obstime_s=0))


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (Scenario.VALIDATION_ERROR, "MWA refused the request: Simulated validation error"),
        (Scenario.EXPIRED_TOKEN, "MWA refused the request: Invalid secure_key for project_id G0055"),
        (Scenario.HTTP_500, "MWA web service answered HTTP 500"),
    ],
)
def test_refusals_keep_the_mwa_error_text(
    sim: TelescopeSimulator, mwa: MwaClient, scenario: Scenario, expected: str
) -> None:
    sim.set_scenario(scenario, project_id="G0055")
    result = mwa.send(OBS)
    assert not result.ok
    assert expected in (result.error or "")
    assert result.attempts == 1, "a trigger is never repeated after the server may have seen it"
    assert len(sim.received()) == 1


def test_wrong_secure_key_is_refused_with_the_service_message(sim: TelescopeSimulator) -> None:
    from tracet_gui.telescopes.credentials import StaticCredentials

    client = MwaClient(sim.mwa_base_url, StaticCredentials(mwa_keys={"G0055": "not-the-key"}), retry_delay_s=0)
    result = client.send(OBS)
    assert not result.ok and "Invalid secure_key" in (result.error or "")
    assert sim.received()[0]["secure_key_valid"] is False


def test_missing_secure_key_is_not_sent(sim: TelescopeSimulator) -> None:
    from tracet_gui.telescopes.credentials import StaticCredentials

    result = MwaClient(sim.mwa_base_url, StaticCredentials()).send(OBS)
    assert not result.ok and result.attempts == 0
    assert "No MWA secure key for project G0055" in (result.error or "")
    assert "TRACET_MWA_KEY_G0055" in (result.error or "")
    assert sim.received() == []


def test_slow_server_within_timeout_succeeds(sim: TelescopeSimulator) -> None:
    sim.set_scenario(Scenario.SLOW, project_id="G0055", delay_s=0.3)
    client = MwaClient(sim.mwa_base_url, SimulatorCredentials(), timeout_s=10.0)
    result = client.send(OBS)
    assert result.ok, result.error


@pytest.mark.parametrize("scenario", [Scenario.SLOW, Scenario.HUNG])
def test_no_answer_within_timeout_is_an_error_and_not_repeated(
    sim: TelescopeSimulator, mwa: MwaClient, scenario: Scenario
) -> None:
    sim.set_scenario(scenario, project_id="G0055", delay_s=30.0)
    result = mwa.send(OBS)
    assert not result.ok
    assert f"did not answer POST {sim.mwa_base_url}triggerobs" in (result.error or "")
    assert f"within {HUNG_TIMEOUT_S:g} s" in (result.error or "")
    assert "not repeated" in (result.error or "")
    assert result.attempts == 1
    assert len(sim.received()) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_retried_a_bounded_number_of_times() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/mwa/"
    client = MwaClient(url, SimulatorCredentials(), max_attempts=3, retry_delay_s=0.0)
    result = client.send(OBS)
    assert not result.ok
    assert "connection refused" in (result.error or "")
    assert result.attempts == 3


def test_busy_vcsfree_obslist(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    sim.configure(vcsfree_s=1234, busy_projects=["D0000"])
    assert mwa.busy("G0055", 600).value is False
    assert mwa.busy("D0000", 600).value is True
    assert mwa.vcsfree().value == 1234
    assert mwa.obslist(3600).value == ()
    mwa.send(OBS)
    listed = mwa.obslist(3600)
    assert listed.ok and listed.value is not None
    assert [(e.obsname, e.project_id, e.mode) for e in listed.value] == [("SWIFT_1093742", "G0055", "HW_LFILES")]
    received = [(r["endpoint"], r["query"]) for r in sim.received() if not r["endpoint"].startswith("trigger")]
    assert ("busy", {"project_id": "G0055", "obstime": "600"}) in received
    assert ("obslist", {"obstime": "3600"}) in received


def test_queries_are_retried_on_server_errors(sim: TelescopeSimulator) -> None:
    sim.set_scenario(Scenario.HTTP_500)
    client = MwaClient(sim.mwa_base_url, SimulatorCredentials(), max_attempts=3, retry_delay_s=0.0)
    answer = client.vcsfree()
    assert not answer.ok and answer.value is None
    assert answer.attempts == 3
    assert "HTTP 500" in (answer.error or "")
    assert len(sim.received()) == 3


def test_vcs_request_is_capped_by_vcsfree(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    sim.configure(vcsfree_s=300)
    result = mwa.send(replace(VCS, exptime_s=896, nobs=2))
    assert result.ok
    got = next(r for r in sim.received() if r["endpoint"] == "triggervcs")
    assert int(got["form"]["exptime"]) * int(got["form"]["nobs"]) == 296
    assert any("capped from 1792 s to 296 s" in n for n in result.notes)


def test_no_vcs_time_free_refuses_vcs(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    sim.configure(vcsfree_s=0)
    result = mwa.send(VCS)
    assert not result.ok and "no VCS capture time" in (result.error or "")
    assert [r["endpoint"] for r in sim.received()] == ["vcsfree"]


def test_buffer_dump_is_the_only_call_no_schedule_query_first(sim: TelescopeSimulator, mwa: MwaClient) -> None:
    result = mwa.send(BUFFER)
    assert result.ok
    assert [r["endpoint"] for r in sim.received()] == ["triggerbuffer"]
    assert result.obsids and result.obsids[0].isdigit()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"obsid_list": [1234, 1240]}, ("1234", "1240")),
        ({"obsid_list": [[1234, "x"], [1240, "y"]]}, ("1234", "1240")),
        (
            {
                "schedule": {
                    "stderr": "INFO:Schedule metadata for 1300000000:\nx\nINFO:Schedule metadata for 1300000896:\n"
                }
            },
            ("1300000000", "1300000896"),
        ),
        ({"schedule": {"stderr": "Pretending: commands not run\n"}}, ()),
        ({"obsid_list": [], "schedule": {"stderr": ""}}, ()),
    ],
)
def test_obsids_from_answer(answer: dict[str, object], expected: tuple[str, ...]) -> None:
    assert obsids_from_answer(json.loads(json.dumps(answer))) == expected


def test_vcs_trigger_goes_out_uncapped_when_vcsfree_fails_once(sim: TelescopeSimulator) -> None:
    from tracet_gui.telescopes.simulator import sim_mwa_key

    sim.set_scenario(Scenario.HTTP_500)
    client = MwaClient(sim.mwa_base_url, SimulatorCredentials(), max_attempts=3, retry_delay_s=0)
    result = client.send(VCS)
    # the trigger itself also meets HTTP 500, but only after a single vcsfree attempt
    assert [r["endpoint"] for r in sim.received()] == ["vcsfree", "triggervcs"]
    assert any("vcsfree unavailable" in n for n in result.notes)
    assert not result.ok and result.attempts == 1
    assert sim_mwa_key("G0055") not in json.dumps(result.as_record())
