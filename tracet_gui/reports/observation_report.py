"""Observation reports: what was requested from the telescopes in a time window, and why, for colleagues.

:func:`collect_report` reads the database (through ``storage.views``, short read-only sessions) into plain
frozen records; the builders turn them into

* a table (:func:`report_table`, an astropy ``Table``) written as CSV, ECSV or VOTable;
* an HTML document (:func:`render_html`) — one template, also the source of the PDF (the console renders it
  with Qt's text engine, ``ui.export_dialog.html_to_pdf``);
* a plain-text summary (:func:`gcn_summary`) to paste into a GCN Circular.

The window is on the request time (``observation.requested_utc``), both ends included. Every free-text
field and every request/response passes :func:`~tracet_gui.reports.redaction.scrub` first.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from string import Template
from typing import Any

from tracet_gui.core.vocabulary import Decision
from tracet_gui.pipeline.skymaps import SkyMap
from tracet_gui.reports.redaction import scrub, scrub_text
from tracet_gui.reports.sky_scene import (
    SkyMapRaster,
    SkyMarker,
    SkyScene,
    footprints_from_observations,
    markers_from_groups,
    rasterize_skymap,
    sky_bodies,
    skymap_url_for_group,
)
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.views import (
    OBSERVATIONS,
    DecisionDetail,
    EventItem,
    GroupDetail,
    LogLine,
    ObservationFilter,
    ObservationItem,
    Sort,
    group_detail,
)

PAGE_SIZE = 500
"""Observations read per query while collecting a report."""

MAX_THUMBNAILS = 60
"""Sky-map thumbnails drawn per report at most (each costs ~0.2 s); later observations get none."""

THUMBNAIL_WIDTH_PX = 560
"""Width (CSS pixels) a sky-map thumbnail is shown at in the HTML and PDF."""

THUMBNAIL_RASTER_PX = 480
"""Width (pixels) of the GW map raster in a thumbnail."""

RESPONSE_FIELDS_SHOWN = 14
"""Response fields listed per observation at most (the CSV/ECSV/VOTable carry the outcome columns)."""

DECISION_NAMES = {
    Decision.PENDING.value: "Pending",
    Decision.IGNORED.value: "Ignored",
    Decision.ERROR.value: "Error",
    Decision.TRIGGERED.value: "Triggered",
    Decision.CANCELED.value: "Canceled",
}

SkyMapLoader = Callable[[str], SkyMap | None]
"""Gives the sky map at a URL without waiting on the network (None when it is not at hand)."""


def _utc_text(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _short_time(when: datetime | None) -> str:
    return "—" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


@dataclass(frozen=True, slots=True)
class LatencyChain:
    """Event time → receipt → decision → request → response of one observation."""

    event_utc: datetime | None
    received_utc: datetime | None
    decided_utc: datetime | None
    requested_utc: datetime
    responded_utc: datetime | None

    def steps(self) -> list[tuple[str, datetime | None, float | None]]:
        """(name, time, seconds since the previous known step) for each link."""
        out: list[tuple[str, datetime | None, float | None]] = []
        previous: datetime | None = None
        for name, when in (
            ("event", self.event_utc),
            ("receipt", self.received_utc),
            ("decision", self.decided_utc),
            ("request", self.requested_utc),
            ("response", self.responded_utc),
        ):
            out.append((name, when, _seconds(previous, when)))
            if when is not None:
                previous = when
        return out

    @property
    def event_to_request_s(self) -> float | None:
        return _seconds(self.event_utc, self.requested_utc)


@dataclass(frozen=True, slots=True)
class ReportEntry:
    """One observation request with what led to it (all secrets already scrubbed)."""

    observation: ObservationItem
    group: GroupDetail | None
    decision: DecisionDetail | None
    event: EventItem | None
    latency: LatencyChain

    @property
    def trig_id(self) -> str:
        return self.observation.trig_id or (self.group.group.trig_id if self.group else "")

    @property
    def decision_code(self) -> str:
        return self.decision.decision.decision if self.decision else ""

    @property
    def decision_name(self) -> str:
        return DECISION_NAMES.get(self.decision_code, self.decision_code)

    @property
    def outcome(self) -> str:
        """ok / failed / waiting, with "(pretend)" for requests that were only recorded or simulated."""
        text = self.observation.state
        return f"{text} (pretend)" if self.observation.pretend else text

    @property
    def position(self) -> tuple[float | None, float | None, float | None]:
        """(ra_deg, dec_deg, pos_error_deg) requested, else the group's best position."""
        request = self.observation.request
        ra, dec = request.get("ra_deg"), request.get("dec_deg")
        error = self.decision.decision.pos_error_deg if self.decision else None
        if (ra is None or dec is None) and self.group is not None:
            g = self.group.group
            ra, dec, error = g.ra_deg, g.dec_deg, g.pos_error_deg
        if error is None and self.group is not None:
            error = self.group.group.pos_error_deg
        return (
            None if ra is None else float(ra),
            None if dec is None else float(dec),
            None if error is None else float(error),
        )

    @property
    def source_type(self) -> str:
        if self.event is not None and self.event.source_type:
            return self.event.source_type
        return (self.group.group.source_type if self.group else None) or ""

    @property
    def event_type(self) -> str:
        """What the alert was: the event's telescope and type (e.g. ``SWIFT BAT_GRB_Pos``)."""
        if self.event is None:
            return ""
        return " ".join(x for x in (self.event.telescope, self.event.event_type) if x)

    @property
    def source_name(self) -> str:
        if self.event is not None and self.event.source_name:
            return self.event.source_name
        return (self.group.group.source_name if self.group else None) or ""


@dataclass(frozen=True)
class ObservationReport:
    """Everything a report shows; ``thumbnails`` maps observation id to PNG bytes."""

    start_utc: datetime
    end_utc: datetime
    generated_utc: datetime
    entries: tuple[ReportEntry, ...]
    thumbnails: dict[int, bytes] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------------
# collecting
# ------------------------------------------------------------------------------------------------------


def _scrubbed(obs: ObservationItem) -> ObservationItem:
    return replace(
        obs,
        request=scrub(dict(obs.request)),
        response=None if obs.response is None else scrub(dict(obs.response)),
        error=None if obs.error is None else scrub_text(obs.error),
        reason=None if obs.reason is None else scrub_text(obs.reason),
        website_link=None if obs.website_link is None else scrub_text(obs.website_link),
    )


def _scrubbed_detail(detail: DecisionDetail) -> DecisionDetail:
    log = tuple(replace(line, text=scrub_text(line.text)) for line in detail.log)
    return replace(detail, log=log, observations=tuple(_scrubbed(o) for o in detail.observations))


def _decided_utc(detail: DecisionDetail | None, requested: datetime) -> datetime | None:
    if detail is None:
        return None
    decided = [line.at_utc for line in detail.log if line.kind == "decision"]
    before = [t for t in decided if t <= requested]
    if before:
        return before[-1]
    return decided[0] if decided else None


def observations_in_window(sessions: SessionFactory, start: datetime, end: datetime) -> list[ObservationItem]:
    """Every observation requested in [start, end], oldest first."""
    flt = ObservationFilter(requested_from_utc=start, requested_to_utc=end)
    out: list[ObservationItem] = []
    while True:
        page = OBSERVATIONS.page(sessions, flt, Sort("requested_utc", descending=False), len(out), PAGE_SIZE)
        out.extend(page)
        if len(page) < PAGE_SIZE:
            return out


def collect_report(
    sessions: SessionFactory,
    start: datetime,
    end: datetime,
    *,
    skymap_loader: SkyMapLoader | None = None,
    thumbnails: bool = True,
    now: datetime | None = None,
) -> ObservationReport:
    """Read the observations requested in [start, end] and everything that explains them."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("report window times must be timezone-aware (UTC)")
    if end < start:
        raise ValueError(f"report window ends ({end:%Y-%m-%d %H:%M}) before it starts ({start:%Y-%m-%d %H:%M})")
    groups: dict[int, GroupDetail | None] = {}
    entries: list[ReportEntry] = []
    for obs in observations_in_window(sessions, start, end):
        group = None
        if obs.group_id is not None:
            if obs.group_id not in groups:
                groups[obs.group_id] = group_detail(sessions, obs.group_id)
            group = groups[obs.group_id]
        decision = None
        event = None
        if group is not None:
            decision = next((d for d in group.decisions if d.decision.decision_id == obs.decision_id), None)
            event = next((e for e in group.events if e.event_id == obs.event_id), None)
        if decision is not None:
            decision = _scrubbed_detail(decision)
        latency = LatencyChain(
            event.observed_utc if event else None,
            event.received_utc if event else None,
            _decided_utc(decision, obs.requested_utc),
            obs.requested_utc,
            obs.responded_utc,
        )
        entries.append(ReportEntry(_scrubbed(obs), group, decision, event, latency))
    notes: list[str] = []
    pictures: dict[int, bytes] = {}
    if thumbnails and entries:
        pictures, thumb_notes = draw_thumbnails(sessions, entries, skymap_loader)
        notes.extend(thumb_notes)
    return ObservationReport(start, end, now or datetime.now(UTC), tuple(entries), pictures, tuple(notes))


def thumbnail_scene(entry: ReportEntry, raster: SkyMapRaster | None) -> SkyScene:
    """The sky at the request time: the target and its error circle, the MWA beams, horizons, Sun, Moon."""
    markers: tuple[SkyMarker, ...] = ()
    group_id = entry.group.group.group_id if entry.group else None
    if entry.group is not None:
        markers = markers_from_groups([entry.group.group])
    ra, dec, error = entry.position
    if not markers and ra is not None and dec is not None and group_id is not None:
        markers = (SkyMarker(group_id, entry.trig_id, entry.source_type or None, None, None, ra, dec, error, False),)
    return SkyScene(
        markers=markers,
        selected_group_id=group_id,
        raster=raster,
        footprints=footprints_from_observations([entry.observation]),
        bodies=sky_bodies(entry.observation.requested_utc),
        selected_label=entry.trig_id,
        title=f"{entry.trig_id} · {entry.observation.telescope} · {_short_time(entry.observation.requested_utc)} UTC",
    )


def draw_thumbnails(
    sessions: SessionFactory, entries: Sequence[ReportEntry], skymap_loader: SkyMapLoader | None
) -> tuple[dict[int, bytes], list[str]]:
    """PNG thumbnails by observation id (at most ``MAX_THUMBNAILS``) and remarks about what is missing."""
    from tracet_gui.reports.sky_drawing import render_png

    rasters: dict[int, SkyMapRaster | None] = {}
    pictures: dict[int, bytes] = {}
    notes: list[str] = []
    missing_maps: set[str] = set()
    for entry in entries[:MAX_THUMBNAILS]:
        raster = None
        if entry.group is not None and entry.source_type == "GW":
            gid = entry.group.group.group_id
            if gid not in rasters:
                rasters[gid] = None
                url = skymap_url_for_group(sessions, gid)
                skymap = skymap_loader(url) if (url and skymap_loader is not None) else None
                if skymap is not None:
                    rasters[gid] = rasterize_skymap(skymap, url or "", width_px=THUMBNAIL_RASTER_PX)
                elif url:
                    missing_maps.add(entry.trig_id)
            raster = rasters[gid]
        pictures[entry.observation.observation_id] = render_png(thumbnail_scene(entry, raster), width_in=6.0, dpi=120)
    if len(entries) > MAX_THUMBNAILS:
        notes.append(f"Sky-map thumbnails are drawn for the first {MAX_THUMBNAILS} observations only.")
    if missing_maps:
        notes.append("GW sky map not available offline for " + ", ".join(sorted(missing_maps)) + ".")
    return pictures, notes


# ------------------------------------------------------------------------------------------------------
# table (CSV / ECSV / VOTable)
# ------------------------------------------------------------------------------------------------------

TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("observation_id", "int", ""),
    ("trig_id", "str", ""),
    ("proposal_id", "str", ""),
    ("telescope", "str", ""),
    ("request_kind", "str", ""),
    ("source_type", "str", ""),
    ("event_type", "str", ""),
    ("source_name", "str", ""),
    ("event_utc", "str", ""),
    ("received_utc", "str", ""),
    ("decided_utc", "str", ""),
    ("requested_utc", "str", ""),
    ("responded_utc", "str", ""),
    ("event_to_request_s", "float", "s"),
    ("ra_deg", "float", "deg"),
    ("dec_deg", "float", "deg"),
    ("pos_error_deg", "float", "deg"),
    ("decision", "str", ""),
    ("outcome", "str", ""),
    ("pretend", "bool", ""),
    ("telescope_trigger_id", "str", ""),
    ("obs_ids", "str", ""),
    ("error", "str", ""),
)
"""Summary-table columns: name, kind and unit. Times are ISO 8601 UTC strings; empty or masked when unknown."""


def _row(entry: ReportEntry) -> dict[str, Any]:
    obs = entry.observation
    ra, dec, error = entry.position
    lat = entry.latency
    return {
        "observation_id": obs.observation_id,
        "trig_id": entry.trig_id,
        "proposal_id": obs.proposal_id or "",
        "telescope": obs.telescope,
        "request_kind": obs.kind,
        "source_type": entry.source_type,
        "event_type": entry.event_type,
        "source_name": entry.source_name,
        "event_utc": _utc_text(lat.event_utc),
        "received_utc": _utc_text(lat.received_utc),
        "decided_utc": _utc_text(lat.decided_utc),
        "requested_utc": _utc_text(lat.requested_utc),
        "responded_utc": _utc_text(lat.responded_utc),
        "event_to_request_s": lat.event_to_request_s,
        "ra_deg": ra,
        "dec_deg": dec,
        "pos_error_deg": error,
        "decision": entry.decision_name,
        "outcome": obs.state,
        "pretend": obs.pretend,
        "telescope_trigger_id": obs.trigger_id or "",
        "obs_ids": " ".join(obs.obs_ids),
        "error": obs.error or "",
    }


def report_table(report: ObservationReport) -> Any:
    """The summary as an astropy Table (one row per observation; unknown numbers masked)."""
    from astropy.table import MaskedColumn, Table

    rows = [_row(e) for e in report.entries]
    table = Table()
    for name, kind, unit in TABLE_COLUMNS:
        values = [r[name] for r in rows]
        if kind == "float":
            mask = [v is None for v in values]
            table[name] = MaskedColumn(
                [0.0 if v is None else float(v) for v in values], mask=mask, dtype=float, unit=unit or None
            )
        elif kind == "int":
            table[name] = MaskedColumn(values, dtype=int) if values else MaskedColumn([], dtype=int)
        elif kind == "bool":
            table[name] = MaskedColumn(values, dtype=bool) if values else MaskedColumn([], dtype=bool)
        else:
            table[name] = MaskedColumn([str(v) for v in values], dtype=str) if values else MaskedColumn([], dtype=str)
    table.meta["title"] = "tracet-gui observation report"
    table.meta["window_start_utc"] = _utc_text(report.start_utc)
    table.meta["window_end_utc"] = _utc_text(report.end_utc)
    table.meta["generated_utc"] = _utc_text(report.generated_utc)
    return table


TABLE_FORMATS = {"csv": "ascii.csv", "ecsv": "ascii.ecsv", "votable": "votable"}
"""Report format name → astropy ``Table.write`` format."""


def write_table(report: ObservationReport, fmt: str, out: Any) -> None:
    """Write the summary table as csv, ecsv or votable to a path."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"not a table format: {fmt!r} (choose from {', '.join(TABLE_FORMATS)})")
    table = report_table(report)
    if fmt == "csv":
        table.meta.clear()  # plain CSV has no header block; the ECSV and VOTable keep the window
    table.write(out, format=TABLE_FORMATS[fmt], overwrite=True)


# ------------------------------------------------------------------------------------------------------
# GCN Circular text
# ------------------------------------------------------------------------------------------------------


def _position_text(ra: float | None, dec: float | None, error: float | None) -> str:
    if ra is None or dec is None:
        return "no single position (sky-map pointings)"
    text = f"RA, Dec = {ra:.4f}, {dec:+.4f} deg (J2000)"
    if error:
        text += f", uncertainty {error:.3g} deg"
    return text


def _request_text(entry: ReportEntry) -> str:
    request = entry.observation.request
    parts: list[str] = []
    exposure = request.get("exposure_s")
    nobs = request.get("nobs")
    if exposure:
        parts.append(f"{float(exposure):g} s" + (f" x {int(nobs)}" if nobs and int(nobs) > 1 else ""))
    if request.get("freqspecs"):
        parts.append(f"channels {request['freqspecs']}")
    if request.get("vcsmode"):
        parts.append("VCS mode")
    bands = [
        name for name, band in (request.get("atca_bands") or {}).items() if isinstance(band, dict) and band.get("use")
    ]
    if bands:
        parts.append("bands " + ", ".join(bands))
    names = request.get("subarray_names") or []
    if names:
        parts.append(f"{len(names)} sub-arrays ({', '.join(str(n) for n in names)})")
    return "; ".join(parts)


def gcn_summary(report: ObservationReport) -> str:
    """Plain text, one paragraph per trigger, for pasting into a GCN Circular (79-column lines)."""
    import textwrap

    by_trigger: dict[str, list[ReportEntry]] = {}
    for entry in report.entries:
        by_trigger.setdefault(entry.trig_id, []).append(entry)
    paragraphs: list[str] = []
    for trig_id, entries in by_trigger.items():
        first = entries[0]
        name = first.source_name or trig_id
        what = first.event_type or first.source_type or "alert"
        text = (
            f"{name} (trigger {trig_id}, {what}"
            + (f", event time {_short_time(first.latency.event_utc)} UTC" if first.latency.event_utc else "")
            + "): "
        )
        sentences = []
        for entry in entries:
            obs = entry.observation
            ra, dec, error = entry.position
            delay = entry.latency.event_to_request_s
            project = obs.request.get("project_id")
            sentence = (
                f"{obs.telescope}"
                + (f" (project {project})" if project else "")
                + f" was requested automatically at {_short_time(obs.requested_utc)} UTC"
                + (f", {delay:.0f} s after the event" if delay is not None else "")
                + f", {_position_text(ra, dec, error)}"
            )
            detail = _request_text(entry)
            if detail:
                sentence += f"; {detail}"
            if obs.pretend:
                sentence += " [PRETEND/TEST request: no data were taken]"
            elif obs.ok is False:
                sentence += f" [request FAILED: {obs.error or 'no reason given'}]"
            sentences.append(sentence + ".")
        paragraphs.append(textwrap.fill(text + " ".join(sentences), width=79))
    header = (
        f"Observations requested by tracet-gui between {_short_time(report.start_utc)} and "
        f"{_short_time(report.end_utc)} UTC ({len(report.entries)} request(s))."
    )
    if not paragraphs:
        return header + "\n\nNo observation was requested in this window.\n"
    return textwrap.fill(header, width=79) + "\n\n" + "\n\n".join(paragraphs) + "\n"


# ------------------------------------------------------------------------------------------------------
# HTML (also the PDF's source)
# ------------------------------------------------------------------------------------------------------

HTML_TEMPLATE = Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9pt; color: #202124; }
h1 { font-size: 15pt; margin: 0 0 4pt 0; }
h2 { font-size: 12pt; margin: 14pt 0 4pt 0; color: #1a3d6d; }
h3 { font-size: 10pt; margin: 8pt 0 3pt 0; }
table { border-collapse: collapse; }
th { background-color: #dfe6f0; text-align: left; }
td, th { border: 1px solid #9aa5b5; padding: 2pt 4pt; vertical-align: top; }
.meta { color: #555555; }
.ok { color: #1e7d32; font-weight: bold; }
.failed { color: #b3261e; font-weight: bold; }
.waiting { color: #9a6700; font-weight: bold; }
.pretend { color: #6b4fa0; }
.observation { page-break-before: always; }
table.summary td, table.summary th { font-size: 8pt; }
pre { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; white-space: pre-wrap; }
</style></head>
<body>
<h1>$title</h1>
<p class="meta">Window (request time, UTC, both ends included): <b>$start</b> to <b>$end</b>.
Generated $generated UTC. $count observation request(s). Secrets are never included.</p>
$notes
<h2>Summary</h2>
$summary
<h2>GCN Circular text</h2>
<pre>$gcn</pre>
$observations
</body></html>
"""
)

OBSERVATION_TEMPLATE = Template(
    """<div class="observation">
<h2>Observation $obs_id — $trig_id · $proposal · $telescope</h2>
$facts
<p align="center">$thumbnail</p>
<h3>Latency chain</h3>
$latency
<h3>Telescope response</h3>
$response
<h3>Decision log</h3>
<pre>$log</pre>
</div>
"""
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(
    headers: Sequence[str] | None, rows: Iterable[Sequence[str]], widths: Sequence[str] = (), css_class: str = ""
) -> str:
    """An HTML table (no header row when ``headers`` is None); cell strings must already be escaped."""

    def width(i: int) -> str:
        return f' width="{widths[i]}"' if i < len(widths) else ""

    head = ""
    if headers is not None:
        head = "<tr>" + "".join(f"<th{width(i)}>{_e(h)}</th>" for i, h in enumerate(headers)) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td{width(i) if headers is None else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    klass = f' class="{css_class}"' if css_class else ""
    return f'<table{klass} border="1" cellspacing="0" cellpadding="3" width="100%">{head}{body}</table>'


def _outcome_html(entry: ReportEntry) -> str:
    obs = entry.observation
    text = f'<span class="{obs.state}">{_e(obs.state)}</span>'
    if obs.pretend:
        text += ' <span class="pretend">(pretend)</span>'
    return text


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _summary_html(report: ObservationReport) -> str:
    rows = []
    for entry in report.entries:
        obs = entry.observation
        ra, dec, error = entry.position
        position = "sky-map pointings" if ra is None or dec is None else f"{ra:.3f}, {dec:+.3f}"
        if error and ra is not None:
            position += f" ±{error:.3g}°"
        rows.append(
            [
                _e(obs.observation_id),
                f"<b>{_e(entry.trig_id)}</b><br>{_e(entry.source_name)}",
                f"{_e(obs.proposal_id or '—')}<br>{_e(obs.telescope)}",
                _e(" / ".join(x for x in (entry.source_type, entry.event_type) if x) or "—"),
                f"{_e(_short_time(entry.latency.event_utc))}<br>{_e(_short_time(obs.requested_utc))}",
                _e(position),
                f"{_e(entry.decision_name or '—')}<br>{_outcome_html(entry)}",
            ]
        )
    if not rows:
        return "<p>No observation was requested in this window.</p>"
    return _table(
        [
            "#",
            "Trigger / source",
            "Proposal / telescope",
            "Event type",
            "Event / request time (UTC)",
            "RA, Dec (deg)",
            "Decision / request",
        ],
        rows,
        ["4%", "15%", "17%", "15%", "19%", "15%", "15%"],
        css_class="summary",
    )


def _facts_html(entry: ReportEntry) -> str:
    obs = entry.observation
    ra, dec, error = entry.position
    request = obs.request
    facts = [
        ("Source", entry.source_name or "—"),
        ("Event", " / ".join(x for x in (entry.source_type, entry.event_type) if x) or "—"),
        ("Position", _position_text(ra, dec, error)),
        ("Decision", entry.decision_name or "—"),
        ("Request", f"{obs.kind}" + (f", project {request['project_id']}" if request.get("project_id") else "")),
        ("Details", _request_text(entry) or "—"),
        ("Reason", obs.reason or "—"),
    ]
    rows = [[f"<b>{_e(k)}</b>", _e(v)] for k, v in facts]
    return _table(None, rows, ["30%", "70%"])


def _latency_html(entry: ReportEntry) -> str:
    rows = []
    for name, when, delta in entry.latency.steps():
        rows.append([_e(name), _e(_utc_text(when) or "—"), _e("—" if delta is None else f"+{delta:,.1f} s")])
    total = entry.latency.event_to_request_s
    rows.append(["<b>event → request</b>", "", f"<b>{_e('—' if total is None else f'{total:,.1f} s')}</b>"])
    return _table(["Step", "Time (UTC)", "Since previous step"], rows, ["25%", "45%", "30%"])


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out.extend(_flatten(v, f"{prefix}{k}."))
        return out if out else [(prefix.rstrip("."), "{}")]
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 160:
        text = text[:157] + "…"
    return [(prefix.rstrip("."), text)]


def _response_html(entry: ReportEntry) -> str:
    obs = entry.observation
    rows = [
        ["<b>outcome</b>", _outcome_html(entry)],
        ["<b>responded</b>", _e(_utc_text(obs.responded_utc) or "no response yet")],
    ]
    if obs.trigger_id:
        rows.append(["<b>telescope trigger id</b>", _e(obs.trigger_id)])
    if obs.obs_ids:
        rows.append(["<b>observation ids</b>", _e(", ".join(obs.obs_ids))])
    if obs.error:
        rows.append(["<b>error</b>", f'<span class="failed">{_e(obs.error)}</span>'])
    if obs.website_link:
        rows.append(["<b>link</b>", _e(obs.website_link)])
    fields = _flatten(obs.response or {})
    for key, text in fields[:RESPONSE_FIELDS_SHOWN]:
        rows.append([_e(key), _e(text)])
    if len(fields) > RESPONSE_FIELDS_SHOWN:
        rows.append(["…", _e(f"{len(fields) - RESPONSE_FIELDS_SHOWN} more field(s)")])
    return _table(["Field", "Value"], rows, ["30%", "70%"])


def _log_text(entry: ReportEntry) -> str:
    lines: list[LogLine] = list(entry.decision.log) if entry.decision else []
    if not lines:
        return "(no decision log)"
    return "\n".join(line.format() for line in lines)


def _thumbnail_html(report: ObservationReport, entry: ReportEntry) -> str:
    png = report.thumbnails.get(entry.observation.observation_id)
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" width="{THUMBNAIL_WIDTH_PX}" alt="sky map at the request time">'


def render_html(report: ObservationReport) -> str:
    """The whole report as one self-contained HTML page (thumbnails inline as data URIs)."""
    observations = []
    for entry in report.entries:
        obs = entry.observation
        observations.append(
            OBSERVATION_TEMPLATE.substitute(
                obs_id=_e(obs.observation_id),
                trig_id=_e(entry.trig_id),
                proposal=_e(obs.proposal_id or "no proposal"),
                telescope=_e(obs.telescope),
                facts=_facts_html(entry),
                thumbnail=_thumbnail_html(report, entry),
                latency=_latency_html(entry),
                response=_response_html(entry),
                log=_e(_log_text(entry)),
            )
        )
    notes = "".join(f'<p class="meta">{_e(n)}</p>' for n in report.notes)
    return HTML_TEMPLATE.substitute(
        title="tracet-gui observation report",
        start=_e(_short_time(report.start_utc)),
        end=_e(_short_time(report.end_utc)),
        generated=_e(_short_time(report.generated_utc)),
        count=len(report.entries),
        notes=notes,
        summary=_summary_html(report),
        gcn=_e(gcn_summary(report)),
        observations="\n".join(observations),
    )
