"""Priority arbitration on one telescope (reference §4.12 and §10.3 item 33, fixed).

Pure rules over the MWA schedule (``obslist``) and the MWA ``busy`` answer: a proposal does not interrupt
an observation that a **higher-priority** proposal (lower ``priority`` number) of ours caused on the same
telescope and that is still on the schedule. Equal priority, or our own earlier observation (a repoint of
the same proposal), may replace it. ``busy`` True means the MWA would not let this project override the
schedule for that long, so the request is not sent.

When the schedule could not be read the request is sent anyway (the MWA still authorises overrides
server-side; losing a trigger to a failed query is worse), with a warning reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ObsListEntry:
    """One row of the MWA ``obslist`` answer: (starttime, obsname, creator, projectid, mode)."""

    starttime: int
    """GPS seconds."""
    obsname: str
    creator: str
    project_id: str
    mode: str


@dataclass(frozen=True, slots=True)
class OwnObservation:
    """An observation one of our proposals caused (from the ``observation`` table)."""

    obsname: str
    project_id: str
    proposal_id: str
    priority: int


@dataclass(frozen=True, slots=True)
class ArbitrationVerdict:
    proceed: bool
    reason: str


def arbitrate(
    *,
    proposal_id: str,
    priority: int,
    project_id: str,
    schedule: Iterable[ObsListEntry] | None,
    own: Iterable[OwnObservation],
    busy: bool | None,
) -> ArbitrationVerdict:
    """May ``proposal_id`` (with ``priority``, lower first) trigger now on this telescope?

    ``schedule``: the observations on the telescope's schedule for the time we would observe (None: the
    query failed); ``own``: observations our proposals caused on this telescope; ``busy``: the MWA ``busy``
    answer for our project (None: not asked or failed).
    """
    if busy is True:
        return ArbitrationVerdict(
            False,
            f"MWA reports the telescope busy: project {project_id} may not override the current schedule "
            "for the requested time, so not triggering.",
        )
    if schedule is None:
        return ArbitrationVerdict(True, "Warning: could not read the MWA schedule; triggering without arbitration.")
    own_list = list(own)
    for entry in schedule:
        causes = [o for o in own_list if o.obsname == entry.obsname and o.project_id == entry.project_id]
        if not causes:
            continue
        owner = min(causes, key=lambda o: o.priority)
        if owner.proposal_id == proposal_id or owner.priority >= priority:
            continue
        return ArbitrationVerdict(
            False,
            f"Not interrupting observation {entry.obsname} (GPS {entry.starttime}) of higher-priority proposal "
            f"{owner.proposal_id} (priority {owner.priority}; this proposal has priority {priority}).",
        )
    return ArbitrationVerdict(True, "No higher-priority observation of ours is on the schedule.")
