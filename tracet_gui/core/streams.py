"""Alert streams ("pairs") TraceT follows up by default.

A stream key is ``f"{telescope}_{event_type}"`` as the parser derives them from the ivorn
(reference §2.2-§2.4). Both spellings TraceT listed are kept: the ivorn-derived one
(``Fermi_GBM_Flt_Pos``) and the GCN Kafka topic-style one (``FERMI_GBM_FLT_POS``).
"""

from __future__ import annotations

DEFAULT_INTERESTING_STREAMS: frozenset[str] = frozenset(
    {
        "SWIFT_BAT_GRB_Pos",
        "SWIFT_BAT_GRB_POS_ACK",
        "SWIFT_XRT_Pos",
        "SWIFT_XRT_POSITION",
        "SWIFT_UVOT_Pos",
        "SWIFT_UVOT_POS",
        "Fermi_GBM_Flt_Pos",
        "FERMI_GBM_FLT_POS",
        "Fermi_GBM_Gnd_Pos",
        "FERMI_GBM_GND_POS",
        "Fermi_GBM_Fin_Pos",
        "FERMI_GBM_FIN_POS",
        "HESS_GRB_To",
        "LVC_EarlyWarning",
        "LVC_Preliminary",
        "LVC_PRELIMINARY",
        "LVC_Initial",
        "LVC_INITIAL",
        "LVC_Update",
        "LVC_Retraction",
        "LVC_RETRACTION",
        "AMON_ICECUBE_BRONZE_Event",
        "AMON_ICECUBE_GOLD_Event",
        "Antares_Alert",
    }
)
"""TraceT's 24 default interesting (telescope, event_type) pairs; any other stream is parsed but ignored."""
