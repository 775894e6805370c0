"""ATCA rapid-response client against the real simulator over HTTP."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tracet_gui.core.decision_model import AtcaBandRequest
from tracet_gui.telescopes.atca import AtcaCancel, AtcaClient, AtcaRequest, dec_dms, hms, ra_hms
from tracet_gui.telescopes.credentials import StaticCredentials
from tracet_gui.telescopes.simulator import SIM_HTTP_USER, Scenario, SimulatorCredentials, TelescopeSimulator

BANDS = (
    AtcaBandRequest("3mm", False, 60, None, None),
    AtcaBandRequest("7mm", False, 60, None, None),
    AtcaBandRequest("15mm", False, 60, None, None),
    AtcaBandRequest("4cm", True, 120, 5500, 9000),
    AtcaBandRequest("16cm", False, 60, 2100, 2100),
)
REQ = AtcaRequest(
    project_id="C3204",
    email="observer@example.org",
    source_name="GRB 240101A",
    ra_hms="08:00:43.10",
    dec_dms="-72:11:33.8",
    bands=BANDS,
    max_exposure_min=720,
    min_exposure_min=30,
    test=False,
    maximum_lag_minutes=90.0,
    minimum_time_minutes=45.0,
)


def test_real_request_form_and_answer(sim: TelescopeSimulator, atca: AtcaClient) -> None:
    result = atca.send(REQ)
    assert result.ok, result.error
    assert result.trigger_id is not None and result.trigger_id.startswith("sim")
    got = sim.received()[0]
    assert got["authorization"] == "valid" and got["token_valid"] is True
    form = got["form"]
    assert form["email"] == "observer@example.org"
    assert "test" not in form and "noTimeLimit" not in form and "noScoreLimit" not in form
    assert float(form["maximumLag"]) == pytest.approx(1.5)
    assert float(form["minimumTime"]) == pytest.approx(0.75)
    request = got["request"]
    assert request["source"] == "GRB 240101A"
    assert request["project"] == "C3204"
    assert request["maxExposureLength"] == "12:00:00" and request["minExposureLength"] == "0:30:00"
    assert request["4cm"] == {"use": True, "exposureLength": "2:00:00", "freq1": 5500, "freq2": 9000}
    assert request["scanType"] == "Dwell"
    assert result.response is not None and result.response["testMode"] is False


def test_test_mode_sends_all_three_flags(sim: TelescopeSimulator, atca: AtcaClient) -> None:
    result = atca.send(replace(REQ, test=True, no_time_limit=True, no_score_limit=True))
    assert result.ok and result.pretend
    form = sim.received()[0]["form"]
    assert (form["test"], form["noTimeLimit"], form["noScoreLimit"]) == ("True", "True", "True")
    assert result.response is not None and result.response["testMode"] is True
    assert "ATCA test mode" in result.notes


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (Scenario.EXPIRED_TOKEN, "Detected an expired token: Signature has expired."),
        (Scenario.VALIDATION_ERROR, "ATCA refused the request: The requested source is not above the horizon"),
        (Scenario.HTTP_500, "ATCA rapid-response service answered HTTP 500"),
    ],
)
def test_refusals_are_explained(sim: TelescopeSimulator, atca: AtcaClient, scenario: Scenario, expected: str) -> None:
    sim.set_scenario(scenario, project_id="C3204")
    result = atca.send(REQ)
    assert not result.ok
    assert expected in (result.error or "")
    assert result.attempts == 1


def test_expired_token_tells_the_operator_what_to_do(sim: TelescopeSimulator, atca: AtcaClient) -> None:
    sim.set_scenario(Scenario.EXPIRED_TOKEN)
    result = atca.send(REQ)
    assert "authentication token of project C3204 has expired" in (result.error or "")


def test_hung_service_times_out_once(sim: TelescopeSimulator, atca: AtcaClient) -> None:
    sim.set_scenario(Scenario.HUNG)
    result = atca.send(REQ)
    assert not result.ok and "did not answer" in (result.error or "")
    assert result.attempts == 1 and len(sim.received()) == 1


def test_wrong_web_login_is_a_401_with_advice(sim: TelescopeSimulator) -> None:
    creds = StaticCredentials(
        atca_tokens={"C3204": "sim-atca-C3204"}, atca_http_user=SIM_HTTP_USER, atca_http_password="wrong-password"
    )
    result = AtcaClient(sim.atca_url, creds, retry_delay_s=0).send(REQ)
    assert not result.ok and result.http_status == 401
    assert "check the ATCA web-server login" in (result.error or "")
    assert sim.received()[0]["authorization"] == "invalid"


def test_wrong_token_is_refused(sim: TelescopeSimulator) -> None:
    creds = StaticCredentials(
        atca_tokens={"C3204": "some-other-token"}, atca_http_user=SIM_HTTP_USER, atca_http_password="sim-password"
    )
    result = AtcaClient(sim.atca_url, creds).send(REQ)
    assert not result.ok and "Unable to verify the authentication token" in (result.error or "")


@pytest.mark.parametrize(
    ("creds", "expected"),
    [
        (StaticCredentials(), "No ATCA authentication token for project C3204"),
        (StaticCredentials(atca_tokens={"C3204": "sim-atca-C3204"}), "No ATCA web-server login"),
    ],
)
def test_missing_credentials_are_not_sent(sim: TelescopeSimulator, creds: StaticCredentials, expected: str) -> None:
    result = AtcaClient(sim.atca_url, creds).send(REQ)
    assert not result.ok and result.attempts == 0 and expected in (result.error or "")
    assert sim.received() == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"email": ""}, "email"),
        ({"source_name": ""}, "source name is empty"),
        ({"bands": tuple(replace(b, use=False) for b in BANDS)}, "no band selected"),
        ({"no_time_limit": True}, "only allowed in test mode"),
        ({"min_exposure_min": 800}, "minimum exposure is longer"),
        ({"maximum_lag_minutes": 0.0}, "maximumLag must be positive"),
    ],
)
def test_invalid_requests_are_refused_before_sending(
    sim: TelescopeSimulator, atca: AtcaClient, change: dict[str, object], problem: str
) -> None:
    result = atca.send(replace(REQ, **change))  # type: ignore[arg-type]
    assert not result.ok and result.attempts == 0 and problem in (result.error or "")
    assert sim.received() == []


def test_cancel_after_request(sim: TelescopeSimulator, atca: AtcaClient) -> None:
    first = atca.send(REQ)
    assert first.trigger_id is not None
    cancel = AtcaCancel(project_id="C3204", email="observer@example.org", trigger_id=first.trigger_id)
    result = atca.cancel(cancel)
    assert result.ok and result.kind == "atca_cancel" and result.trigger_id == first.trigger_id
    assert sim.received()[-1]["request"] == {"cancel": first.trigger_id, "project": "C3204"}
    again = atca.cancel(cancel)
    assert not again.ok and f"Unable to find a request with ID {first.trigger_id}" in (again.error or "")


@pytest.mark.parametrize(
    ("ra_deg", "dec_deg", "ra", "dec"),
    [
        (0.0, 0.0, "00:00:00.00", "+00:00:00.0"),
        (120.17958, -72.19272, "08:00:43.10", "-72:11:33.8"),
        (359.99999, 89.99999, "00:00:00.00", "+90:00:00.0"),
        (15.0, -0.5, "01:00:00.00", "-00:30:00.0"),
    ],
)
def test_sexagesimal(ra_deg: float, dec_deg: float, ra: str, dec: str) -> None:
    assert ra_hms(ra_deg) == ra
    assert dec_dms(dec_deg) == dec


@pytest.mark.parametrize(("minutes", "text"), [(720, "12:00:00"), (30, "0:30:00"), (90, "1:30:00")])
def test_hms(minutes: int, text: str) -> None:
    assert hms(minutes) == text


def test_request_json_is_what_was_sent(sim: TelescopeSimulator) -> None:
    client = AtcaClient(sim.atca_url, SimulatorCredentials())
    result = client.send(REQ)
    assert json.loads(json.dumps(result.request["request"])) == sim.received()[0]["request"]
