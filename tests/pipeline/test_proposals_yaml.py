"""Proposals YAML import/export, validation and the default catalogue."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from tracet_gui.core.proposal import PROPOSAL_FIELDS, ProposalSettings, validate_proposal
from tracet_gui.core.vocabulary import SourceType
from tracet_gui.core.vocabulary import Testing as Mode
from tracet_gui.pipeline.proposals_yaml import ProposalFileError, dump_proposals_yaml, load_proposals_yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CATALOGUE = ROOT / "resources" / "proposals" / "default.yaml"
PROPOSALS_DOC = ROOT / "docs" / "proposals.md"

MINIMAL = """
- proposal_id: {pid}
  telescope: {telescope}
  project_id: G0055
  source_type: GRB
"""


def _minimal(extra: str = "", pid: str = "TEST_PROP", telescope: str = "MWA_VCS") -> str:
    return MINIMAL.format(pid=pid, telescope=telescope) + "".join(f"  {line}\n" for line in extra.splitlines())


def _atca(extra: str = "") -> str:
    return _minimal(
        "atca_band_4cm: true\natca_band_4cm_freq1: 5500\natca_band_4cm_freq2: 9000\n" + extra, telescope="ATCA"
    )


def test_minimal_proposal_takes_the_model_defaults() -> None:
    (proposal,) = load_proposals_yaml(_minimal())
    assert proposal == ProposalSettings(
        proposal_id="TEST_PROP", telescope="MWA_VCS", project_id="G0055", source_type=SourceType.GRB
    )
    # one set of defaults: TraceT's [M] model values (reference §1.8)
    assert (proposal.event_max_duration, proposal.pending_min_duration_1, proposal.pending_max_duration_2) == (
        1.024,
        1.025,
        0.255,
    )
    assert proposal.testing is Mode.REAL_ONLY
    assert proposal.maximum_terrestrial_probability == 0.95
    assert proposal.repointing_limit_deg == proposal.repointing_limit == 10.0


def test_every_field_round_trips_through_yaml() -> None:
    changed = ProposalSettings(
        proposal_id="ROUND_TRIP",
        telescope="ATCA",
        project_id="C3204",
        source_type=SourceType.GW,
        proposal_description="ünïcode – text",
        event_telescope="LVC",
        testing=Mode.BOTH,
        priority=7,
        active=False,
        maximum_observation_time_seconds=3600,
        repointing_limit=0.5,
        event_any_duration=True,
        maximum_position_uncertainty=None,
        maximum_false_alarm_rate=3.5e-9,
        observe_significant=True,
        minimum_terrestrial_probability=0.0,
        atca_band_4cm=True,
        atca_band_4cm_freq1=5500,
        atca_band_4cm_freq2=9000,
        atca_band_16cm=True,
        atca_maximum_lag_minutes=90.0,
        atca_minimum_time_minutes=20.0,
        mwa_freqspecs="121,24,3",
    )
    assert validate_proposal(changed) == []
    text = dump_proposals_yaml([changed])
    assert load_proposals_yaml(text) == [changed]
    for name in PROPOSAL_FIELDS:  # export writes every key
        assert f"\n  {name}:" in "\n" + text.replace("- proposal_id", "  proposal_id")


def test_mapping_with_proposals_key_and_empty_file_are_accepted() -> None:
    assert [p.proposal_id for p in load_proposals_yaml("proposals:\n" + textwrap.indent(_minimal(), "  "))] == [
        "TEST_PROP"
    ]
    assert load_proposals_yaml("") == []


def test_far_written_as_yaml_string_is_read_as_a_number() -> None:
    (proposal,) = load_proposals_yaml(_minimal("maximum_false_alarm_rate: 1e-7"))
    assert proposal.maximum_false_alarm_rate == pytest.approx(1e-7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_minimal("swift_rate_signf: 1.0"), "proposal 'TEST_PROP': unknown key 'swift_rate_signf'"),
        (_minimal("minimum_terrestial_probability: 0.1"), "unknown key 'minimum_terrestial_probability'"),
        (_minimal("mwa_exptime: long"), "proposal 'TEST_PROP': mwa_exptime: 'long' is not a whole number"),
        (_minimal("mwa_exptime: 900.5"), "mwa_exptime: 900.5 is not a whole number"),
        (_minimal("event_any_duration: 1"), "event_any_duration: 1 is not true or false"),
        (_minimal("fermi_prob: fifty"), "fermi_prob: 'fifty' is not a number"),
        (_minimal("fermi_prob: true"), "fermi_prob: True is not a number"),
        (_minimal("testing: SOMETIMES"), "testing: 'SOMETIMES' is not one of PRETEND_REAL, BOTH, REAL_ONLY"),
        (_minimal("mwa_exptime: null"), "mwa_exptime: must not be empty"),
        (_minimal("mwa_freqspecs: 121;121"), "proposal 'TEST_PROP': mwa_freqspecs: freqspec '121;121'"),
        (_minimal("mwa_horizon_limit: 5"), "mwa_horizon_limit: 5.0 deg is below the minimum of 10.0 deg"),
        (_minimal("mwa_exptime: 900"), "mwa_exptime: 900 s is not a positive multiple of 8 s"),
        (_minimal("mwa_exptime: 0"), "mwa_exptime: 0 s is not a positive multiple of 8 s"),
        (_minimal("event_min_duration: 2.0"), "event_min_duration: event_min_duration (2.0) is greater than"),
        (_minimal("maximum_terrestrial_probability: 1.5"), "maximum_terrestrial_probability: 1.5 is not a probability"),
        (_minimal("fermi_prob: 150"), "fermi_prob: 150.0 is not a percentage"),
        (_minimal("maximum_position_uncertainty: 0"), "maximum_position_uncertainty: must be positive"),
        (_minimal("event_telescope: Hubble"), "event_telescope: 'Hubble' is not one of"),
        (_minimal(pid="SHORT"), "proposal_id: 'SHORT' must have 6–16 characters"),
        (_minimal(telescope="VLA"), "telescope: 'VLA' is not one of MWA_VCS, MWA_correlate, ATCA"),
        (_minimal(telescope="ATCA"), "atca_band_*: an ATCA proposal must use at least one band"),
        (
            _atca("atca_band_4cm_freq2: 12000"),
            "atca_band_4cm_freq2: 12000 MHz is outside the 4cm band (3900–11000 MHz)",
        ),
        (_atca("atca_band_7mm: true\natca_band_7mm_freq1: 33000"), "atca_band_7mm_freq2: required when atca_band_7mm"),
        (_atca("atca_min_exptime: 800"), "atca_min_exptime: 800 min is longer than atca_max_exptime (720 min)"),
        (_atca("atca_dec_min_2: 30"), "atca_dec_min_2: atca_dec_min_2 (30.0) is greater than atca_dec_max_2"),
        (_atca("atca_maximum_lag_minutes: 0"), "atca_maximum_lag_minutes: must be positive"),
        ("- telescope: MWA_VCS\n  project_id: G0055\n  source_type: GRB\n", "proposal #1: proposal_id: missing"),
        (_minimal() + _minimal(), "proposal 'TEST_PROP': proposal_id: appears more than once"),
        ("- just text\n", "proposal #1: expected a mapping"),
        ("proposal_id: TEST_PROP\n", "expected a list of proposals"),
        ("- [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_are_refused_naming_the_key(text: str, expected: str) -> None:
    with pytest.raises(ProposalFileError) as info:
        load_proposals_yaml(text)
    assert expected in str(info.value)


def test_one_bad_proposal_refuses_the_whole_file_and_lists_every_problem() -> None:
    text = _minimal(pid="GOOD_ONE") + _minimal("mwa_exptime: 9\nbogus: 1", pid="BAD_ONE")
    with pytest.raises(ProposalFileError) as info:
        load_proposals_yaml(text)
    assert info.value.problems == ["proposal 'BAD_ONE': unknown key 'bogus'"]
    text = _minimal(pid="GOOD_ONE") + _minimal("mwa_exptime: 9\nmwa_horizon_limit: 2", pid="BAD_ONE")
    with pytest.raises(ProposalFileError) as info:
        load_proposals_yaml(text)
    assert sorted(p.split(":")[1].strip() for p in info.value.problems) == sorted(["mwa_exptime", "mwa_horizon_limit"])


def test_mwa_checks_do_not_apply_to_atca_and_atca_checks_not_to_mwa() -> None:
    (atca,) = load_proposals_yaml(_atca("mwa_freqspecs: nonsense\nmwa_horizon_limit: 1\nmwa_exptime: 3"))
    assert atca.telescope == "ATCA"
    (mwa,) = load_proposals_yaml(_minimal("atca_band_4cm: true\natca_min_exptime: 1000"))
    assert mwa.is_mwa_vcs


def test_default_catalogue_is_valid_and_all_pretend() -> None:
    proposals = load_proposals_yaml(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    ids = {p.proposal_id for p in proposals}
    assert {
        "ATCA_short_GRB",
        "MWA_VCS_GRB_swif",
        "test2_neutrino",
        "ATCA_HESS_GRBs",
        "ATCA_long_GRB",
        "MWA_GW_BNS",
        "MWA_GW_NSBH",
        "ATCA_test_GRB",
        "MWA_TEST_GRB",
    } == ids
    assert all(p.testing is Mode.PRETEND_REAL for p in proposals)
    inactive = {p.proposal_id for p in proposals if not p.active}
    assert inactive == {"ATCA_test_GRB", "MWA_TEST_GRB"}


def test_proposals_doc_lists_every_key_with_unit_and_default() -> None:
    doc = PROPOSALS_DOC.read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in doc.splitlines() if line.startswith("| `")}
    for f in dataclasses.fields(ProposalSettings):
        assert f.name in rows, f"docs/proposals.md does not document {f.name}"
        unit = f.metadata["unit"] or "–"
        assert rows[f.name].split("|")[2].strip() == unit, f.name
        default = rows[f.name].split("|")[3].strip()
        if f.default is dataclasses.MISSING:
            assert default == "(required)"
        elif f.default is None:
            assert default == "empty"
        elif isinstance(f.default, Mode):
            assert default == f"`{f.default.value}`"
        elif isinstance(f.default, bool):
            assert default == f"`{str(f.default).lower()}`"
        elif isinstance(f.default, str):
            assert default == f'`"{f.default}"`'
        else:
            assert default == f"`{f.default}`", f.name
