"""VOEvent parser: TraceT's oracle (reference §9.1/§9.2) on every packet, its fixed flaws, hostile input."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracet_gui.core.records import ParsedEvent, ParseError
from tracet_gui.core.resources import resources_dir
from tracet_gui.core.streams import DEFAULT_INTERESTING_STREAMS
from tracet_gui.core.vocabulary import SourceType
from tracet_gui.pipeline.parse import (
    DEFAULT_MAX_PACKET_BYTES,
    EVENT_JSON_KEYS,
    VOEventParser,
    event_to_json,
    load_flare_star_names,
    peek_ivorn,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DOCS_PARSING = Path(__file__).resolve().parents[2] / "docs" / "parsing.md"
PACKETS = sorted(p.name for p in DATA_DIR.glob("*.xml"))
PARSER = VOEventParser()

GRB, FS, NU, GW = SourceType.GRB, SourceType.FS, SourceType.NU, SourceType.GW
LOST = "BAT_GRB_Pos SWIFT lost star tracker"
GRACEDB = "https://gracedb.ligo.org"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _read(name: str) -> bytes:
    return (DATA_DIR / name).read_bytes()


def _edit(name: str, old: str, new: str) -> bytes:
    """A real packet with one piece of text replaced (fails loudly if the text is not there)."""
    raw = _read(name)
    assert old.encode() in raw, f"{old!r} not in {name}"
    return raw.replace(old.encode(), new.encode())


# ------------------------------------------------------------------------------------------------------------
# Oracle: what TraceT's parser produced (reference §9.1, plus the §9.2 YAML values), per packet. Fields not
# named are None in TraceT's output. ``role`` is TraceT's *parsed* role (None for packets it ignored).
# ------------------------------------------------------------------------------------------------------------
CHECKED_FIELDS = (
    "role",
    "telescope",
    "event_type",
    "trig_id",
    "self_generated_trig_id",
    "source_type",
    "source_name",
    "ignored",
    "observed_utc",
    "ra_deg",
    "dec_deg",
    "pos_error_deg",
    "duration_s",
    "sequence_num",
    "fermi_most_likely_index",
    "fermi_detection_prob",
    "swift_rate_signif",
    "antares_ranking",
    "hess_significance",
    "lvc_false_alarm_rate_hz",
    "lvc_significant",
    "lvc_binary_neutron_star_probability",
    "lvc_neutron_star_black_hole_probability",
    "lvc_binary_black_hole_probability",
    "lvc_terrestrial_probability",
    "lvc_includes_neutron_star_probability",
    "lvc_instruments",
    "lvc_skymap_fits",
    "lvc_event_url",
    "lvc_retraction_message",
)
PARSE_FAILED = "PARSE FAILED"

# fmt: off


def _swift(
    trig: str, src: SourceType | None, pos: tuple[float, float, float], dur: float | None, rate: float | None,
    name: str | None, event_type: str = "BAT_GRB_Pos", ignored: bool = False,
) -> dict[str, object]:
    ra, dec, err = pos
    return {
        "role": "observation", "telescope": "SWIFT", "event_type": event_type, "trig_id": trig,
        "source_type": src, "ignored": ignored, "ra_deg": ra, "dec_deg": dec, "pos_error_deg": err,
        "duration_s": dur, "swift_rate_signif": rate, "source_name": name,
    }


def _fermi(
    event_type: str, trig: str, pos: tuple[float, float, float], dur: float | None, mli: int | None,
    prob: float | None, seq: int | None, role: str | None = "observation", ignored: bool = False,
) -> dict[str, object]:
    ra, dec, err = pos
    return {
        "role": role, "telescope": "Fermi", "event_type": event_type, "trig_id": trig, "source_type": GRB,
        "ignored": ignored, "ra_deg": ra, "dec_deg": dec, "pos_error_deg": err, "duration_s": dur,
        "fermi_most_likely_index": mli, "fermi_detection_prob": prob, "sequence_num": seq,
    }


def _gbm_alert(trig: str) -> dict[str, object]:
    return _fermi("GBM_Alert", trig, (0.0, 0.0, 0.0), None, None, None, None, role=None, ignored=True)


def _lvc(event_type: str, trig: str, observed: str, **extra: object) -> dict[str, object]:
    return {
        "role": "observation", "telescope": "LVC", "event_type": event_type, "trig_id": trig,
        "source_type": GW, "ignored": False, "observed_utc": _utc(observed), **extra,
    }


S230518H_PROBABILITIES: dict[str, object] = {
    "lvc_false_alarm_rate_hz": 3.218261352069347e-10,
    "lvc_significant": True,
    "lvc_binary_neutron_star_probability": 0.0,
    "lvc_neutron_star_black_hole_probability": 0.8642645059209272,
    "lvc_binary_black_hole_probability": 0.036717034905487424,
    "lvc_terrestrial_probability": 0.09901845917358532,
    "lvc_includes_neutron_star_probability": 1.0,
    "lvc_instruments": "H1,L1",
    "lvc_event_url": f"{GRACEDB}/superevents/S230518h/view/",
}

TRACET: dict[str, dict[str, object] | str] = {
    "Antares_1438351269.xml": {
        "role": "observation", "telescope": "Antares", "event_type": "Alert", "trig_id": "1438351269",
        "source_type": NU, "ignored": False, "ra_deg": 156.957, "dec_deg": -21.274, "pos_error_deg": 0.325,
        "antares_ranking": 1, "observed_utc": _utc("2019-11-26 21:55:34"),
    },
    "Antares_observation.xml": {
        "role": "observation", "telescope": "Antares", "event_type": "Alert", "trig_id": "1364519891",
        "source_type": NU, "ignored": False, "ra_deg": 12.3456, "dec_deg": -83.4567, "pos_error_deg": 0.45,
        "antares_ranking": 3,
    },
    "Fermi00.xml": _gbm_alert("526726205"),
    "Fermi01.xml": _gbm_alert("526736857"),
    "Fermi_532614103_1.xml": _gbm_alert("532614103"),
    "Fermi_532614103_2.xml": _fermi(
        "GBM_Flt_Pos", "532614103", (175.4333, -57.7667, 19.7333), 0.256, 4, 56, 47
    ),
    "Fermi_532614103_3.xml": _fermi("GBM_Flt_Pos", "532614103", (185.0, -32.5167, 7.6), 0.256, 4, 95, 59),
    "Fermi_GRB.xml": {
        **_fermi("GBM_Flt_Pos", "533367528", (241.6167, 48.4167, 4.7333), 0.512, 4, 94, 46),
        "observed_utc": _utc("2017-11-26 05:38:43.710"),
    },
    "Fermi_GRB_533194681.xml": _fermi(
        "GBM_Flt_Pos", "533194681", (336.7167, 52.9667, 11.8167), 0.512, 4, 89, 47
    ),
    "Fermi_GRB_pnt0.xml": _fermi("GBM_Flt_Pos", "533367528", (161.6167, -48.4167, 4.7333), 0.512, 4, 94, 46),
    "Fermi_GRB_pnt1.xml": _fermi("GBM_Flt_Pos", "533367528", (165.6167, -48.4167, 4.7333), 0.512, 4, 94, 46),
    "Fermi_GRB_pnt2.xml": _fermi("GBM_Flt_Pos", "533367528", (165.6167, -15.4167, 4.7333), 0.512, 4, 94, 46),
    "HD_8537_FLARE_STAR_TEST.xml": {
        **_swift("809217", FS, (20.7863, 7.4438, 0.05), 320.0, 0.0, "HD 8357"),
        "observed_utc": _utc("2018-02-08 22:58:59.550"),
    },
    "HESS_test_event.xml": {
        "role": "observe", "telescope": "HESS", "event_type": "GRB_To", "trig_id": "1102329",
        "source_type": GRB, "ignored": False, "ra_deg": 320.7943, "dec_deg": -0.2232, "pos_error_deg": 0.05,
        "duration_s": 2803.0,
        "hess_significance": 0.9674438609490041, "observed_utc": _utc("2022-04-12 17:06:48.800"),
    },
    "IceCube_134191_017593623_0.xml": {
        "role": "observation", "telescope": "AMON", "event_type": "ICECUBE_GOLD_Event",
        "trig_id": "13419117593623", "source_type": NU, "ignored": False, "ra_deg": 143.4519,
        "dec_deg": 3.7891, "pos_error_deg": 0.9201, "observed_utc": _utc("2020-06-15 14:49:17.370"),
    },
    "IceCube_134191_017593623_1.xml": {
        "role": "observation", "telescope": "AMON", "event_type": "ICECUBE_GOLD_Event",
        "trig_id": "13419117593623", "source_type": NU, "ignored": False, "ra_deg": 142.9499, "dec_deg": 3.66,
        "pos_error_deg": 1.2199,
    },
    "LVC_real_burst.xml": {
        **_lvc("Preliminary", "S230531f", "2023-05-31 00:21:25"),
        "ignored": True,
        "lvc_skymap_fits": f"{GRACEDB}/api/superevents/S230531f/files/olib.multiorder.fits,0",
    },
    "LVC_real_early_warning.xml": _lvc(
        "EarlyWarning", "S230518h", "2023-05-24 20:22:41",
        lvc_false_alarm_rate_hz=7.224443905955801e-08, lvc_significant=True,
        lvc_binary_neutron_star_probability=0.7540149362918832, lvc_neutron_star_black_hole_probability=0.0,
        lvc_binary_black_hole_probability=0.0, lvc_terrestrial_probability=0.24598506370811693,
        lvc_includes_neutron_star_probability=1.0, lvc_instruments="H1,L1",
        lvc_event_url=f"{GRACEDB}/superevents/S230518h/view/",
    ),
    "LVC_real_initial.xml": _lvc(
        "Initial", "S230518h", "2023-05-18 12:59:08", **S230518H_PROBABILITIES,
        lvc_skymap_fits=f"{GRACEDB}/api/superevents/S230518h/files/Bilby.multiorder.fits,0",
    ),
    "LVC_real_preliminary.xml": _lvc(
        "Preliminary", "S230518h", "2023-05-18 12:59:08", **S230518H_PROBABILITIES,
        lvc_skymap_fits=f"{GRACEDB}/api/superevents/S230518h/files/bayestar.multiorder.fits",
    ),
    "LVC_real_retraction.xml": _lvc("Retraction", "S230518h", "2023-05-24 20:22:41"),
    "MAXI_ATMic.xml": {
        "role": None, "telescope": "MAXI", "event_type": "Known_source_Pos", "trig_id": "3468898070",
        "source_type": FS, "source_name": "AT Mic", "ignored": True, "ra_deg": 310.463, "dec_deg": -32.435,
        "pos_error_deg": 0.5,
    },
    "MS190410a-1-Preliminary.xml": PARSE_FAILED,
    "SWIFT00.xml": {
        **_swift("772006", GRB, (45.0, -80.0, 0.05), 4.096, 13.74, "GRB 170912"),
        "observed_utc": _utc("2017-09-12 01:34:16.930"),
    },
    "SWIFT01.xml": _swift("772052", GRB, (215.4662, -62.0301, 0.05), 0.064, 20.73, "GRB 170912"),
    "SWIFT02.xml": _swift("773082", None, (237.018, -45.634, 0.0666), 328.0, 0.0, "IGR15479-4529"),
    "SWIFT03.xml": _swift("773893", GRB, (233.5068, -57.3563, 0.05), 64.0, 0.0, "GRB 170924"),
    "SWIFT04.xml": _swift(
        "773894", GRB, (247.8201, -48.0702, 0.05), 320.0, 0.0, "GRB 170924", event_type=LOST, ignored=True
    ),
    "SWIFT_BAT_GRB_Pos_1093742-465.xml": _swift(
        "1093742", GRB, (192.2744, 22.9093, 0.05), 1.024, 16.4, "GRB 220118"
    ),
    "SWIFT_BAT_Lightcurve.xml": {
        **_swift("1156572", GRB, (18.4033, 44.4885, 0.05), 1.024, 25.03, "GRB 230228"),
        "observed_utc": _utc("2023-02-28 05:50:50.250"),
    },
    "SWIFT_BAT_POS.xml": _swift("1156572", GRB, (18.4033, 44.4885, 0.05), 1.024, 25.03, "GRB 230228"),
    "SWIFT_Lost_starlock.xml": _swift(
        "948244", GRB, (243.7946, -15.0314, 0.05), 64.0, 0.0, "GRB 200108", event_type=LOST, ignored=True
    ),
    "SWIFT_Point_Dir_Change.xml": {
        **_swift(
            "48767", None, (11.5836, -72.6159, 0.0), None, None, None, event_type="Point_Dir", ignored=True
        ),
        "role": None,
        "observed_utc": _utc("2017-11-28 08:22:38"),
    },
    "SWIFT_XRT_Pos_1093742-588.xml": _swift(
        "1093742", None, (192.2694, 22.9164, 0.0009), None, None, None, event_type="XRT_Pos"
    ),
    "SWIFT_short.xml": _swift("772006", GRB, (95.0, -30.0, 0.05), 1.096, 13.74, "GRB 170912"),
    "SWIFT_short_ra185.xml": _swift("772006", GRB, (185.0, -30.0, 0.05), 1.096, 13.74, "GRB 170912"),
    "Swift_BAT_GRB_Pos_fail.xml": {
        **_swift("1156572", GRB, (18.4033, 44.4885, 0.05), 1.024, 25.03, "GRB 230228"),
        "observed_utc": _utc("2023-02-28 05:50:50.250"),
    },
    "Swift_unknown_fail.xml": PARSE_FAILED,
    "fermi_GBM_00.xml": {
        **_fermi("GBM_Fin_Pos", "704021207", (322.13, 56.49, 24.62), None, None, None, 0),
        "observed_utc": _utc("2023-04-24 09:26:42.920"),
    },
    "group_01_01_Fermi.xml": _fermi(
        "GBM_Flt_Pos", "533367528", (350.6167, -28.4167, 11.8167), 1.0, 4, 94, 46
    ),
    "group_01_02_Fermi.xml": _fermi(
        "GBM_Flt_Pos", "533367528", (350.6167, -28.4167, 11.8167), 1.0, 4, 94, 46
    ),
    "group_01_03_SWIFT.xml": _swift("1093742", GRB, (350.6167, -17.4167, 0.05), 1.024, 16.4, "GRB 220118"),
    "group_02_SWIFT_01_BAT_GRB_Pos.xml": _swift(
        "1101053", GRB, (95.0, -30.0, 0.05), 0.5, 13.74, "GRB 170912"
    ),
    "group_02_SWIFT_02_XRT_Pos.xml": _swift(
        "1101053", None, (192.2694, 22.9164, 0.0009), None, None, None, event_type="XRT_Pos"
    ),
    "group_02_SWIFT_03_UVOT_Pos.xml": _swift(
        "1101053", GRB, (191.472, 89.1851, 0.0001), None, None, None, event_type="UVOT_Pos"
    ),
    "group_03_SWIFT_BAT_QuickLook_Pos.xml": {
        **_swift(
            "1115766", GRB, (261.9931, -24.6695, 0.05), None, None, "GRB 220711",
            event_type="BAT_QuickLook_Pos", ignored=True,
        ),
        "role": None,
    },
    "group_03_SWIFT_FOM_Obs.xml": {
        **_swift(
            "1115766", GRB, (261.9931, -24.6695, 0.0), None, None, "GRB 220711",
            event_type="FOM_Obs", ignored=True,
        ),
        "role": None,
    },
    "group_03_SWIFT_XRT_Pos.xml": _swift(
        "1115766", None, (262.0201, -24.6899, 0.001), None, None, None, event_type="XRT_Pos"
    ),
}

# Where we deliberately differ from TraceT: (packet, field) -> our value. Each one is a row of the table in
# docs/parsing.md (checked below).
FIXES: dict[tuple[str, str], object] = {
    # §10.1.4: ignored streams are parsed in full (role and instrument params kept).
    **{(name, "role"): "observation" for name in ("Fermi00.xml", "Fermi01.xml", "Fermi_532614103_1.xml")},
    **{(name, "sequence_num"): 1 for name in ("Fermi00.xml", "Fermi01.xml", "Fermi_532614103_1.xml")},
    ("MAXI_ATMic.xml", "role"): "observation",
    ("SWIFT_Point_Dir_Change.xml", "role"): "utility",
    ("group_03_SWIFT_BAT_QuickLook_Pos.xml", "role"): "observation",
    ("group_03_SWIFT_BAT_QuickLook_Pos.xml", "swift_rate_signif"): 20.37,
    ("group_03_SWIFT_FOM_Obs.xml", "role"): "observation",
    ("group_03_SWIFT_FOM_Obs.xml", "duration_s"): 1.024,
    # §10.1.8: the GBM_Alert 0,0,0 "position" means no position.
    **{
        (name, field): None
        for name in ("Fermi00.xml", "Fermi01.xml", "Fermi_532614103_1.xml")
        for field in ("ra_deg", "dec_deg", "pos_error_deg")
    },
    # §10.1.1 + §2.4: Burst notices keep every param, Significant read as a boolean.
    ("LVC_real_burst.xml", "lvc_false_alarm_rate_hz"): 8.539795619003813e-07,
    ("LVC_real_burst.xml", "lvc_significant"): False,
    ("LVC_real_burst.xml", "lvc_instruments"): "H1,L1",
    ("LVC_real_burst.xml", "lvc_event_url"): f"{GRACEDB}/superevents/S230531f/view/",
    # Retractions keep their EventPage.
    ("LVC_real_retraction.xml", "lvc_event_url"): f"{GRACEDB}/superevents/S230518h/view/",
}

# Packets TraceT could not parse and we can (§10.1.3, §10.1.5): our full expected values.
NOW_PARSED: dict[str, dict[str, object]] = {
    "MS190410a-1-Preliminary.xml": {
        "role": "test", "telescope": "LVC", "event_type": "Preliminary", "trig_id": "MS190410a",
        "source_type": GW, "ignored": False, "observed_utc": _utc("2019-04-10 00:30:29.095986"),
        "lvc_false_alarm_rate_hz": 9.11069936486e-14, "lvc_significant": None,
        "lvc_binary_neutron_star_probability": 0.996617786061, "lvc_neutron_star_black_hole_probability": 0.0,
        "lvc_binary_black_hole_probability": 0.0, "lvc_terrestrial_probability": 0.00338221393851,
        "lvc_includes_neutron_star_probability": 1.0, "lvc_instruments": "H1,L1",
        "lvc_skymap_fits": f"{GRACEDB}/api/superevents/MS190410a/files/bayestar.fits.gz",
        "lvc_event_url": f"{GRACEDB}/superevents/MS190410a/view/",
    },
}
# fmt: on
STILL_FAILING = {"Swift_unknown_fail.xml"}


def _expected(name: str) -> dict[str, object]:
    row = TRACET[name]
    if isinstance(row, str):
        return {"self_generated_trig_id": False, **NOW_PARSED[name]}
    expected: dict[str, object] = {"self_generated_trig_id": False, **row}
    for (packet, field), value in FIXES.items():
        if packet == name:
            expected[field] = value
    return expected


def test_oracle_covers_every_packet() -> None:
    assert PACKETS, "no packets found in tests/data"
    assert set(PACKETS) == set(TRACET)
    failed = {name for name, row in TRACET.items() if row == PARSE_FAILED}
    assert failed == set(NOW_PARSED) | STILL_FAILING


@pytest.mark.parametrize("name", [n for n in PACKETS if n not in STILL_FAILING])
def test_packet_matches_tracet_or_documented_fix(name: str) -> None:
    raw = _read(name)
    event = PARSER.parse(raw)
    expected = _expected(name)
    if "observed_utc" not in expected:  # not in the oracle tables: the packet's first ISOTime, read as UTC
        iso = re.search(rb"<ISOTime>\s*([^<]+?)\s*</ISOTime>", raw)
        assert iso is not None
        expected["observed_utc"] = _utc(iso.group(1).decode().removesuffix("Z"))
    for field in CHECKED_FIELDS:
        assert getattr(event, field) == expected.get(field), f"{name}: {field}"
    assert event.observed_utc is not None
    assert event.observed_utc.utcoffset() == timedelta(0)
    assert event.ignored == (event.ignore_reason is not None)


@pytest.mark.parametrize(("packet", "field"), sorted(FIXES))
def test_every_fix_really_differs_from_tracet(packet: str, field: str) -> None:
    row = TRACET[packet]
    assert isinstance(row, dict)
    assert row.get(field) != FIXES[(packet, field)]


def test_every_deviation_is_documented() -> None:
    doc_rows = [line for line in DOCS_PARSING.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    for packet, field in sorted(FIXES):
        assert any(packet in row and f"`{field}`" in row for row in doc_rows), (packet, field)
    for packet in NOW_PARSED:
        assert any(packet in row for row in doc_rows), packet


@pytest.mark.parametrize("name", PACKETS)
def test_peek_ivorn_equals_parsed_ivorn(name: str) -> None:
    raw = _read(name)
    if name in STILL_FAILING:
        assert peek_ivorn(raw) == "ivo://nasa.gsfc.gcn/SWIFT#BAT_QuickLook_Pos_1149250-635"
        return
    assert peek_ivorn(raw) == PARSER.parse(raw).ivorn


@pytest.mark.parametrize("name", [n for n in PACKETS if n not in STILL_FAILING])
def test_event_to_json_keys_and_types(name: str) -> None:
    event = PARSER.parse(_read(name))
    out = event_to_json(event)
    assert list(out) == list(EVENT_JSON_KEYS)
    assert json.loads(json.dumps(out)) == out
    assert isinstance(out["observed_utc"], str) and out["observed_utc"].endswith("+00:00")
    assert datetime.fromisoformat(out["observed_utc"]) == event.observed_utc
    assert out["source_type"] == (event.source_type.value if event.source_type else None)


def test_event_json_keys_are_the_agreed_list() -> None:
    agreed = [
        "ivorn", "role", "telescope", "event_type", "trig_id", "self_generated_trig_id", "source_type",
        "source_name", "ignored", "ignore_reason", "observed_utc", "ra_deg", "dec_deg", "pos_error_deg",
        "duration_s", "sequence_num", "fermi_most_likely_index", "fermi_detection_prob", "swift_rate_signif",
        "antares_ranking", "hess_significance", "lvc_false_alarm_rate_hz", "lvc_significant",
        "lvc_binary_neutron_star_probability", "lvc_neutron_star_black_hole_probability",
        "lvc_binary_black_hole_probability", "lvc_terrestrial_probability",
        "lvc_includes_neutron_star_probability", "lvc_instruments", "lvc_skymap_fits", "lvc_event_url",
        "lvc_retraction_message",
    ]  # fmt: skip
    assert list(EVENT_JSON_KEYS) == agreed
    assert set(agreed) <= {f.name for f in fields(ParsedEvent)}


# ------------------------------------------------------------------------------------------------------------
# The fixed flaws (reference §10.1), one by one
# ------------------------------------------------------------------------------------------------------------
def test_ignored_stream_is_parsed_in_full_with_reason() -> None:
    event = PARSER.parse(_read("Fermi00.xml"))
    assert event.ignored
    assert event.ignore_reason == "Stream Fermi_GBM_Alert is not in the list of interesting streams"
    assert event.role == "observation"
    assert event.packet_type == 110
    assert not event.has_position
    assert any("no position" in w for w in event.warnings)


def test_interesting_streams_can_be_overridden() -> None:
    parser = VOEventParser(interesting_streams=frozenset({"Fermi_GBM_Alert"}))
    assert not parser.parse(_read("Fermi00.xml")).ignored
    assert parser.parse(_read("Fermi_GRB.xml")).ignore_reason == (
        "Stream Fermi_GBM_Flt_Pos is not in the list of interesting streams"
    )


def test_default_streams_are_tracets_24_pairs() -> None:
    assert len(DEFAULT_INTERESTING_STREAMS) == 24
    assert {"SWIFT_BAT_GRB_Pos", "Fermi_GBM_Flt_Pos", "LVC_EarlyWarning", "HESS_GRB_To", "Antares_Alert"} <= (
        DEFAULT_INTERESTING_STREAMS
    )


def test_lost_star_tracker_is_ignored_with_tracet_suffix() -> None:
    event = PARSER.parse(_read("SWIFT_Lost_starlock.xml"))
    assert event.event_type == "BAT_GRB_Pos SWIFT lost star tracker"
    assert event.ignore_reason is not None and "StarTrack_Lost_Lock" in event.ignore_reason


def test_lvc_burst_is_ignored_with_reason_but_parsed() -> None:
    event = PARSER.parse(_read("LVC_real_burst.xml"))
    assert event.ignored
    assert event.ignore_reason is not None and "Burst" in event.ignore_reason
    assert (event.lvc_group, event.lvc_pipeline, event.lvc_search) == ("Burst", "oLIB", "AllSky")
    assert event.lvc_false_alarm_rate_hz == 8.539795619003813e-07


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("0", False),
        ("false", False),
        ("False", False),
        ("maybe", None),
    ],
)
def test_lvc_significant_is_a_real_boolean(text: str, expected: bool | None) -> None:
    raw = _edit("LVC_real_preliminary.xml", '"Significant" value="1"', f'"Significant" value="{text}"')
    event = PARSER.parse(raw)
    assert event.lvc_significant is expected
    assert any("Significant" in w for w in event.warnings) == (expected is None)


@pytest.mark.parametrize(
    ("text", "ignored"), [("true", False), ("1", False), ("false", True), ("FALSE", True), ("0", True)]
)
def test_antares_is_real_alert_false_is_ignored(text: str, ignored: bool) -> None:
    raw = _edit(
        "Antares_1438351269.xml",
        '"isRealAlert" dataType=\'bool\' value="true"',
        f'"isRealAlert" dataType=\'bool\' value="{text}"',
    )
    event = PARSER.parse(raw)
    assert event.antares_is_real_alert is (not ignored)
    assert event.ignored is ignored
    assert (event.ignore_reason is not None and "isRealAlert" in event.ignore_reason) is ignored


def test_o3_lvc_notice_without_significant_parses_with_a_warning() -> None:
    event = PARSER.parse(_read("MS190410a-1-Preliminary.xml"))
    assert event.lvc_significant is None
    assert event.lvc_has_remnant_probability == 1.0
    assert any("Significant" in w for w in event.warnings)


def test_test_role_keeps_real_event_time() -> None:
    event = PARSER.parse(_read("MS190410a-1-Preliminary.xml"))
    assert event.is_test
    assert event.observed_utc == datetime(2019, 4, 10, 0, 30, 29, 95986, tzinfo=UTC)


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ("Sequence_Num", "sequence_num"),
        ("Most_Likely_Index", "fermi_most_likely_index"),
        ("Most_Likely_Prob", "fermi_detection_prob"),
        ("Trig_Timescale", "duration_s"),
    ],
)
def test_missing_fermi_params_never_fail(param: str, field: str) -> None:
    raw = _edit("Fermi_GRB.xml", f'name="{param}"', 'name="Renamed_Param"')
    event = PARSER.parse(raw)
    assert getattr(event, field) is None
    assert event.ra_deg == 241.6167
    assert any(param in w for w in event.warnings) == (param == "Sequence_Num")


@pytest.mark.parametrize("param", ["ranking", "isRealAlert"])
def test_missing_antares_params_never_fail(param: str) -> None:
    event = PARSER.parse(_edit("Antares_1438351269.xml", f'name="{param}"', 'name="Renamed_Param"'))
    assert event.trig_id == "1438351269"
    assert not event.ignored
    assert (event.antares_ranking is None) == (param == "ranking")


@pytest.mark.parametrize(
    ("fragment", "event_type"),
    [
        ("BAT_GRB_Pos_1163119-055", "BAT_GRB_Pos"),
        ("GBM_Fin_Pos2023-04-24T09:26:42.92_704021207_0-980", "GBM_Fin_Pos"),
        ("Known_source_Pos_2018", "Known_source_Pos"),
        ("Point_Dir_2017", "Point_Dir"),
        ("BAT_Known_Pos_-2032248730-862", "BAT_Known_Pos"),
        ("No_Digits_Here", "No_Digits_Here"),
        ("SC_Slew", "SC_Slew"),
    ],
)
def test_event_type_from_ivorn_fragment(fragment: str, event_type: str) -> None:
    raw = _edit("SWIFT00.xml", "SWIFT#BAT_GRB_Pos_772006-7987", f"SWIFT#{fragment}")
    assert PARSER.parse(raw).event_type == event_type


@pytest.mark.parametrize(
    ("name", "source_type"),
    [
        ("HD 8357", FS),
        ("hd_8357", FS),
        ("HD8357", FS),
        ("  HD  8357 ", FS),
        ("flare from HR1099", FS),
        ("Flare of UV Ceti", FS),
        ("UV Cet", FS),
        ("AT_Mic", FS),
        ("HD 83570", None),
        ("XHD 8357", None),
        ("flare from HD 83570", None),
        ("GRB 170912", GRB),
        ("IGR15479-4529", None),
    ],
)
def test_flare_star_names_match_exactly_after_normalising(name: str, source_type: SourceType | None) -> None:
    raw = _edit("HD_8537_FLARE_STAR_TEST.xml", "<Name>HD 8357</Name>", f"<Name>{name}</Name>")
    assert PARSER.parse(raw).source_type == source_type


def test_swift_sub_sub_threshold_is_never_a_flare_star() -> None:
    raw = _edit(
        "HD_8537_FLARE_STAR_TEST.xml",
        "<Description>Type=61: The Swift-BAT instrument position notice.</Description>",
        "<Description>Type=61: a sub-sub-threshold position notice.</Description>",
    )
    assert PARSER.parse(raw).source_type is None


def test_flare_star_list_is_loaded_once_from_resources() -> None:
    path = resources_dir() / "flare_stars.txt"
    lines = [x.strip() for x in path.read_text(encoding="utf-8").splitlines()]
    names = [x for x in lines if x and not x.startswith("#")]
    assert load_flare_star_names(path) == names
    assert len(names) == 24
    assert len(PARSER.flare_star_keys) == len(names)


def test_custom_flare_star_names_replace_the_default_list() -> None:
    parser = VOEventParser(flare_star_names=["My Star"])
    raw = _edit("HD_8537_FLARE_STAR_TEST.xml", "<Name>HD 8357</Name>", "<Name>my_star</Name>")
    assert parser.parse(raw).source_type == FS
    assert parser.parse(_read("HD_8537_FLARE_STAR_TEST.xml")).source_type is None


def test_maxi_source_name_is_stripped_and_matched() -> None:
    event = PARSER.parse(_edit("MAXI_ATMic.xml", 'value=" AT Mic"', 'value="flare from AT_MIC "'))
    assert event.source_name == "flare from AT_MIC"
    assert event.source_type == FS


def test_icecube_and_lvc_extra_params_are_kept() -> None:
    icecube = PARSER.parse(_read("IceCube_134191_017593623_0.xml"))
    assert (icecube.icecube_signalness, icecube.icecube_energy_tev, icecube.icecube_pos_error_50_deg) == (
        0.8283,
        496.3637,
        0.3584,
    )
    assert icecube.packet_type == 173
    lvc = PARSER.parse(_read("LVC_real_initial.xml"))
    assert (lvc.lvc_has_mass_gap_probability, lvc.lvc_has_remnant_probability) == (0.0, 0.0)
    assert (lvc.lvc_alert_type, lvc.lvc_pipeline, lvc.lvc_search, lvc.lvc_group) == (
        "Initial",
        "pycbc",
        "AllSky",
        "CBC",
    )
    assert lvc.packet_type == 151


def test_retraction_message_from_citations() -> None:
    raw = _edit(
        "LVC_real_retraction.xml",
        "</WhereWhen>",
        '</WhereWhen><Citations><EventIVORN cite="retraction">ivo://gwnet/LVC#S230518h-1-Preliminary'
        "</EventIVORN><Description>Determined to not be a viable GW event candidate</Description>"
        "</Citations>",
    )
    event = PARSER.parse(raw)
    assert event.lvc_retraction_message == "Determined to not be a viable GW event candidate"
    assert event.trig_id == "S230518h"


def test_hess_trig_id_from_followup_citation_and_self_generated_fallback() -> None:
    assert PARSER.parse(_read("HESS_test_event.xml")).trig_id == "1102329"
    raw = _edit("HESS_test_event.xml", 'cite="followup"', 'cite="supersedes"')
    first, second = PARSER.parse(raw), PARSER.parse(raw)
    ivorn = "ivo://HESS/GRB#GRB_ToO220413"
    assert first.self_generated_trig_id and second.self_generated_trig_id
    assert first.trig_id == second.trig_id == "ivorn-" + hashlib.sha256(ivorn.encode()).hexdigest()[:12]


def test_non_utc_time_scale_is_converted() -> None:
    utc = PARSER.parse(_read("SWIFT00.xml")).observed_utc
    tt = PARSER.parse(_edit("SWIFT00.xml", 'coord_system_id="UTC-FK5-GEO"', 'coord_system_id="TT-FK5-GEO"'))
    assert utc is not None and tt.observed_utc is not None
    # TT - UTC = 32.184 s + 37 leap seconds (since 2017-01-01).
    assert utc - tt.observed_utc == timedelta(seconds=69.184)


def test_unknown_coordinate_system_is_noted() -> None:
    event = PARSER.parse(_edit("SWIFT00.xml", 'coord_system_id="UTC-FK5-GEO"', 'coord_system_id="UTC-GALACTIC-GEO"'))
    assert event.ra_deg == 45.0
    assert any("GALACTIC" in w for w in event.warnings)
    assert not PARSER.parse(_read("SWIFT00.xml")).warnings


def test_default_namespace_voevent_parses() -> None:
    raw = (
        _read("SWIFT00.xml")
        .replace(
            b'<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"',
            b'<VOEvent xmlns="http://www.ivoa.net/xml/VOEvent/v2.0"',
        )
        .replace(b"</voe:VOEvent>", b"</VOEvent>")
    )
    event = PARSER.parse(raw)
    expected = PARSER.parse(_read("SWIFT00.xml"))
    assert event_to_json(event) == event_to_json(expected)


# ------------------------------------------------------------------------------------------------------------
# Hostile and malformed input
# ------------------------------------------------------------------------------------------------------------
def _error(raw: bytes, parser: VOEventParser = PARSER) -> str:
    with pytest.raises(ParseError) as info:
        parser.parse(raw)
    return str(info.value)


def test_malformed_packet_reports_lxml_message() -> None:
    message = _error(_read("Swift_unknown_fail.xml"))
    assert message.startswith("malformed XML")
    assert "xsi" in message


def test_xxe_is_refused_and_file_content_never_appears() -> None:
    raw = (
        b'<?xml version="1.0"?>\n<!DOCTYPE VOEvent [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<VOEvent ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1-1" role="observation"><What>'
        b'<Param name="TrigID" value="&xxe;"/></What><Description>&xxe;</Description></VOEvent>'
    )
    message = _error(raw)
    assert "DOCTYPE" in message
    passwd = Path("/etc/passwd")
    if passwd.exists():
        first_line = passwd.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        assert first_line not in message
    assert "root:" not in message


def test_undeclared_entity_without_doctype_is_malformed() -> None:
    raw = _edit("SWIFT00.xml", "<Name>GRB 170912</Name>", "<Name>&xxe;</Name>")
    assert "xxe" in _error(raw)


def test_billion_laughs_is_refused() -> None:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' if i else '<!ENTITY lol0 "lol">' for i in range(10))
    raw = f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><VOEvent ivorn="ivo://a/b#c">&lol9;</VOEvent>'
    assert "DOCTYPE" in _error(raw.encode())


def test_megabyte_entity_expansion_packet_is_refused() -> None:
    head = '<?xml version="1.0"?><!-- ' + "x" * 4000 + ' --><!doctype VOEvent [<!ENTITY a "' + "a" * 1000 + '">]>'
    body = "&a;" * ((DEFAULT_MAX_PACKET_BYTES - 2000 - len(head)) // 3)
    raw = f'{head}<VOEvent ivorn="ivo://a/b#c"><Description>{body}</Description></VOEvent>'.encode()
    assert 1_000_000 < len(raw) <= DEFAULT_MAX_PACKET_BYTES
    assert "DOCTYPE" in _error(raw)


def test_oversized_packet_is_refused_before_parsing() -> None:
    raw = _read("SWIFT00.xml").replace(b"<Description>\n    </Description>", b"<Description>" + b"x" * 2_000_000)
    assert len(raw) > 2_000_000
    assert _error(raw) == f"packet is {len(raw)} bytes, over the {DEFAULT_MAX_PACKET_BYTES}-byte limit"


def test_packet_size_limit_is_configurable() -> None:
    raw = _read("SWIFT00.xml")
    assert "byte limit" in _error(raw, VOEventParser(max_packet_bytes=len(raw) - 1))
    assert VOEventParser(max_packet_bytes=len(raw)).parse(raw).trig_id == "772006"


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (_read("SWIFT00.xml").replace(b"GRB 170912", b"GRB \xff\xfe"), "not valid UTF-8"),
        ('<?xml version="1.0" encoding="UTF-16"?><VOEvent ivorn="ivo://a/b#c"/>'.encode("utf-16"), "UTF-8"),
        (b'<VOEvent ivorn="ivo://a/b#c">\x00</VOEvent>', "NUL"),
        (b"", "empty"),
        (b"not xml at all", "malformed XML"),
        (b'<html><body ivorn="ivo://a/b#c"/></html>', "not a VOEvent"),
        (
            b'<voe:Other xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://a/b#c"/>',
            "not a VOEvent",
        ),
        (b'<VOEvent role="observation"><What/></VOEvent>', "no ivorn"),
        (b'<VOEvent ivorn="  " role="observation"/>', "no ivorn"),
        (b'<VOEvent ivorn="ivo://a/b#c"><What></VOEvent>', "malformed XML"),
    ],
)
def test_bad_packets_raise_parse_error(raw: bytes, phrase: str) -> None:
    assert phrase in _error(raw)


def test_truncated_real_packets_raise_parse_error() -> None:
    for name in ("SWIFT00.xml", "LVC_real_initial.xml", "Fermi_GRB.xml"):
        raw = _read(name)
        assert "malformed XML" in _error(raw[: len(raw) // 2])


@pytest.mark.parametrize(
    ("raw", "ivorn"),
    [
        (b"<VOEvent role='test' ivorn='ivo://x/y#z'/>", "ivo://x/y#z"),
        (b'<voe:VOEvent\n  xmlns:voe="v"\n  ivorn = "ivo://x/y#a&amp;b" >', "ivo://x/y#a&b"),
        (b'<!-- lead --><VOEvent xivorn="no" ivorn="ivo://x/y#q"/>', "ivo://x/y#q"),
        (b'<VOEvents ivorn="ivo://x/y#z"/>', None),
        (b'<Other ivorn="ivo://x/y#z"/>', None),
        (b'<VOEvent role="test"/>', None),
        (b"\xff\xfe", None),
    ],
)
def test_peek_ivorn_cases(raw: bytes, ivorn: str | None) -> None:
    assert peek_ivorn(raw) == ivorn


def test_peek_ivorn_only_reads_the_start_of_the_packet() -> None:
    raw = b"<!--" + b"x" * 20_000 + b'--><VOEvent ivorn="ivo://x/y#z"/>'
    assert peek_ivorn(raw) is None
    assert PARSER.parse(raw).ivorn == "ivo://x/y#z"


def test_warnings_are_empty_for_a_clean_packet_and_json_has_no_extras() -> None:
    event = PARSER.parse(_read("Fermi_GRB.xml"))
    assert event.warnings == ()
    assert "warnings" not in event_to_json(event)
    assert re.fullmatch(r"\d+", event.trig_id)
