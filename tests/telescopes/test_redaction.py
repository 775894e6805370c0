"""No secret ever appears in what we record, log or report."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace

import pytest

from tracet_gui.telescopes.atca import AtcaClient
from tracet_gui.telescopes.credentials import StaticCredentials
from tracet_gui.telescopes.mwa import MwaClient
from tracet_gui.telescopes.redaction import REDACTED, Redactor
from tracet_gui.telescopes.simulator import SIM_HTTP_PASSWORD, SIM_HTTP_USER, Scenario, TelescopeSimulator

from .test_atca import REQ as ATCA_REQ
from .test_mwa import BUFFER, OBS, SUBARRAYS, VCS

MWA_KEY = "sim-mwa-G0055"
ATCA_TOKEN = "sim-atca-C3204"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"secure_key": "abc"}, {"secure_key": REDACTED}),
        ({"Authorization": "Basic xyz"}, {"Authorization": REDACTED}),
        ({"authToken": "jwt.jwt.jwt", "email": "a@b"}, {"authToken": REDACTED, "email": "a@b"}),
        ({"nested": [{"passwd": 1}]}, {"nested": [{"passwd": REDACTED}]}),
        (
            {"authenticationToken": {"received": True, "verified": True}},
            {"authenticationToken": {"received": True, "verified": True}},
        ),
        ({"text": "key=s3cr3t-value here"}, {"text": f"key={REDACTED} here"}),
        ({"text": "quoted s3cr3t%2Dvalue"}, {"text": "quoted s3cr3t%2Dvalue"}),
        ({"text": "url s3cr3t-value+x"}, {"text": f"url {REDACTED}+x"}),
        ({"secure_key": None}, {"secure_key": None}),
    ],
)
def test_redactor_data(value: object, expected: object) -> None:
    assert Redactor(["s3cr3t-value"]).data(value) == expected


def test_redactor_finds_url_encoded_and_basic_auth_forms() -> None:
    r = Redactor(["p@ss word/1"]).with_basic_auth("user", "pw-123456")
    token = base64.b64encode(b"user:pw-123456").decode()
    text = r.text(f"a p%40ss+word%2F1 b p%40ss%20word%2F1 c {token} d pw-123456")
    assert "p%40ss" not in text and token not in text and "pw-123456" not in text
    assert text.count(REDACTED) == 4


def test_nothing_recorded_anywhere_contains_a_secret(sim: TelescopeSimulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    creds = StaticCredentials(
        mwa_keys={"G0055": MWA_KEY, "G0094": "sim-mwa-G0094"},
        atca_tokens={"C3204": ATCA_TOKEN},
        atca_http_user=SIM_HTTP_USER,
        atca_http_password=SIM_HTTP_PASSWORD,
    )
    mwa = MwaClient(sim.mwa_base_url, creds, timeout_s=0.3, query_timeout_s=0.3, retry_delay_s=0)
    atca = AtcaClient(sim.atca_url, creds, timeout_s=0.3, retry_delay_s=0)
    results = []
    for scenario in Scenario:
        if scenario is Scenario.SLOW:
            sim.set_scenario(scenario, delay_s=5.0)
        else:
            sim.set_scenario(scenario)
        for request in (OBS, VCS, SUBARRAYS, BUFFER, replace(OBS, pretend=True)):
            results.append(mwa.send(request))
        results.append(atca.send(ATCA_REQ))
        results.append(atca.send(replace(ATCA_REQ, test=True, no_time_limit=True, no_score_limit=True)))
    results.append(MwaClient(sim.mwa_base_url, StaticCredentials(mwa_keys={"G0055": "wrong-key-123"})).send(OBS))
    recorded = json.dumps([r.as_record() for r in results]) + " ".join(r.message for r in results)
    recorded += json.dumps(sim.received()) + caplog.text + repr(creds)
    basic = base64.b64encode(f"{SIM_HTTP_USER}:{SIM_HTTP_PASSWORD}".encode()).decode()
    for secret in (MWA_KEY, "sim-mwa-G0094", ATCA_TOKEN, SIM_HTTP_PASSWORD, basic, "wrong-key-123"):
        assert secret not in recorded, secret
    assert REDACTED in recorded
    assert any(r.ok for r in results) and any(not r.ok for r in results)
