"""Proposals as YAML: import (strictly checked) and export (round-trips).

A file is a list of mappings (or a mapping with one key ``proposals`` holding that list); each mapping's
keys are ProposalSettings field names (docs/proposals.md). Only ``proposal_id``, ``telescope``,
``project_id`` and ``source_type`` are required; every other key takes its default when absent.

A file is refused as a whole (:class:`ProposalFileError`) when any proposal has an unknown key, a value
of the wrong type, fails :func:`validate_proposal`, or repeats a proposal_id; the message names the
proposal and the key. Numbers may be written as YAML strings (``"1e-8"``: YAML 1.1 reads ``1e-8``
without a dot as a string); ``null`` is accepted only where a key may be empty.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from enum import Enum
from typing import Any

import yaml

from tracet_gui.core.proposal import PROPOSAL_FIELDS, REQUIRED_FIELDS, ProposalSettings, validate_proposal

_HINTS: dict[str, Any] = typing.get_type_hints(ProposalSettings)


class ProposalFileError(ValueError):
    """A proposals file was refused; ``problems`` lists every reason, each naming proposal and key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _allowed(hint: Any) -> tuple[type, bool]:
    """(value type, may be None) for a field's type hint."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _convert(key: str, value: Any) -> Any:
    """``value`` as the field's type; ValueError with a message naming the expected type."""
    kind, nullable = _allowed(_HINTS[key])
    if value is None:
        if nullable:
            return None
        raise ValueError(f"must not be empty (expected {kind.__name__})")
    if isinstance(kind, type) and issubclass(kind, Enum):
        choices = [m.value for m in kind]
        if isinstance(value, str):
            for member in kind:
                if member.value.lower() == value.strip().lower():
                    return member
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, choices))}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{value!r} is not true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"{value!r} is not a whole number")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not a number")
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{value!r} is not text")
    raise ValueError(f"cannot read a value for type {kind!r}")  # pragma: no cover - every field type is above


def _proposal_from_mapping(index: int, entry: Any) -> tuple[ProposalSettings | None, list[str]]:
    if not isinstance(entry, dict):
        return None, [f"proposal #{index + 1}: expected a mapping of keys to values, got {type(entry).__name__}"]
    raw_id = entry.get("proposal_id")
    label = f"proposal {raw_id!r}" if raw_id is not None else f"proposal #{index + 1}"
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if not isinstance(key, str) or key not in PROPOSAL_FIELDS:
            problems.append(f"{label}: unknown key {key!r}")
            continue
        try:
            values[key] = _convert(key, value)
        except ValueError as exc:
            problems.append(f"{label}: {key}: {exc}")
    for key in REQUIRED_FIELDS:
        if key not in entry:
            problems.append(f"{label}: {key}: missing (required)")
    if problems:
        return None, problems
    proposal = ProposalSettings(**values)
    return proposal, [f"{label}: {message}" for message in validate_proposal(proposal)]


def load_proposals_yaml(text: str) -> list[ProposalSettings]:
    """The proposals in ``text``; :class:`ProposalFileError` if anything is wrong with any of them."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProposalFileError([f"not valid YAML: {exc}"]) from exc
    if document is None:
        return []
    if isinstance(document, dict) and set(document) == {"proposals"}:
        document = document["proposals"]
    if not isinstance(document, list):
        raise ProposalFileError(["expected a list of proposals (or a mapping with the key 'proposals')"])
    proposals: list[ProposalSettings] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(document):
        proposal, found = _proposal_from_mapping(index, entry)
        problems += found
        if proposal is None:
            continue
        if proposal.proposal_id in seen:
            problems.append(f"proposal {proposal.proposal_id!r}: proposal_id: appears more than once")
        seen.add(proposal.proposal_id)
        proposals.append(proposal)
    if problems:
        raise ProposalFileError(problems)
    return proposals


def proposal_to_mapping(proposal: ProposalSettings) -> dict[str, Any]:
    """Every field of ``proposal`` as plain YAML-ready values, in declaration order."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(proposal):
        value = getattr(proposal, f.name)
        out[f.name] = value.value if isinstance(value, Enum) else value
    return out


def dump_proposals_yaml(proposals: Iterable[ProposalSettings]) -> str:
    """YAML text that :func:`load_proposals_yaml` reads back to equal proposals (every key written)."""
    return yaml.safe_dump(
        [proposal_to_mapping(p) for p in proposals], sort_keys=False, allow_unicode=True, default_flow_style=False
    )
