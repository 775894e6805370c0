"""HESS alerts (reference §4.8): GRB source type; the GRB rule's likelihood step uses this check."""

from __future__ import annotations

from tracet_gui.core.proposal import ProposalSettings


def hess_significance_check(significance: float, proposal: ProposalSettings) -> tuple[bool, str]:
    """(likely a GRB, log text): the significance must lie in the proposal's inclusive window."""
    low, high = proposal.minimum_hess_significance, proposal.maximum_hess_significance
    if low <= significance <= high:
        return True, f"HESS rate significance is {low} <= ({significance:.3f}) <= {high} sigma."
    return False, f"HESS rate significance is not {low} <= ({significance:.3f}) <= {high} sigma so not triggering."
