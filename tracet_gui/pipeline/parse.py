"""VOEvent bytes -> :class:`ParsedEvent`: pure, fast and safe on hostile input.

One :class:`VOEventParser` is built at start-up (it reads the flare-star list once) and then turns raw
packet bytes into frozen records. There is no other I/O and never any network access. What the parser
reads, and every place where it deliberately differs from TraceT, is described in ``docs/parsing.md``.

Safety: packets are size-checked, must be UTF-8, may not declare a DOCTYPE (so no entities, no DTDs,
no XXE, no entity bombs) and are parsed by lxml with entity resolution, DTD loading and network access
switched off. Any problem is reported as :class:`ParseError` with a message meant for the operator.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from tracet_gui.core.records import ParsedEvent, ParseError
from tracet_gui.core.resources import resources_dir
from tracet_gui.core.streams import DEFAULT_INTERESTING_STREAMS
from tracet_gui.core.vocabulary import SourceType

__all__ = [
    "DEFAULT_MAX_PACKET_BYTES",
    "EVENT_JSON_KEYS",
    "VOEventParser",
    "event_to_json",
    "flare_star_key",
    "load_flare_star_names",
    "peek_ivorn",
]

DEFAULT_MAX_PACKET_BYTES = 1_048_576
"""Largest packet (bytes) we parse; real VOEvents are under 20 kB, so anything bigger is refused unread."""

PEEK_WINDOW_BYTES = 16_384
"""How many leading bytes :func:`peek_ivorn` searches for the root element's ivorn."""

FLARE_STAR_FILE_NAME = "flare_stars.txt"
"""File in the resources directory listing flare-star names, one per line."""

LOST_STAR_TRACKER_SUFFIX = " SWIFT lost star tracker"
"""Appended to the event_type of Swift events with StarTrack_Lost_Lock=true (as TraceT does)."""

GPS_MINUS_TAI_S = -19.0
"""GPS time runs a constant 19 s behind TAI."""

EVENT_JSON_KEYS: tuple[str, ...] = (
    "ivorn",
    "role",
    "telescope",
    "event_type",
    "trig_id",
    "self_generated_trig_id",
    "source_type",
    "source_name",
    "ignored",
    "ignore_reason",
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
"""Keys of :func:`event_to_json`, in output order."""

# Telescope from the ivorn prefix (reference §2.2); anything else falls back to the last path segment.
_TELESCOPE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ivo://nasa.gsfc.gcn/SWIFT#", "SWIFT"),
    ("ivo://nasa.gsfc.gcn/Fermi#", "Fermi"),
    ("ivo://nasa.gsfc.gcn/Antares_Alert#", "Antares"),
    ("ivo://nasa.gsfc.gcn/AMON#", "AMON"),
    ("ivo://nasa.gsfc.gcn/MAXI#", "MAXI"),
    ("ivo://gwnet/LVC#", "LVC"),
    ("ivo://HESS/GRB#", "HESS"),
)
_HESS_EVENT_TYPE = "GRB_To"
_POSITION_FRAMES = frozenset({"FK5", "ICRS"})
_ASTROPY_TIME_SCALES = frozenset({"TT", "TDB", "TAI", "TCG", "TCB"})  # no UT1: it needs IERS tables
_TRUE_STRINGS = frozenset({"1", "true"})
_FALSE_STRINGS = frozenset({"0", "false"})
# Params TraceT required for each stream (a missing one crashed it); we only note their absence.
_FERMI_EXPECTED = ("Sequence_Num",)
_ANTARES_EXPECTED = ("ranking",)
_HESS_EXPECTED = ("observation_duration", "significance")
_LVC_EXPECTED = (
    "HasNS",
    "FAR",
    "Significant",
    "EventPage",
    "BNS",
    "NSBH",
    "BBH",
    "Terrestrial",
    "Instruments",
)

_DOCTYPE_RE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_FIRST_DIGIT_RE = re.compile(r"\d")
_LONG_FRACTION_RE = re.compile(r"(\.\d{6})\d+")
_STAR_SEPARATORS_RE = re.compile(r"[\s_]+")
_FLARE_PREFIX_RE = re.compile(r"^\s*flare\s+(?:from|of)\s+", re.IGNORECASE)
_PEEK_IVORN_RE = re.compile(
    rb"<(?:[A-Za-z_][\w.\-]*:)?VOEvent(?=[\s/>])"
    rb"(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*?"
    rb"\s+ivorn\s*=\s*(?:\"([^\"]*)\"|'([^']*)')"
)

# Element paths read on every packet (relative to the element named first), compiled once per parser.
_HOT_PATHS: dict[str, str] = {
    "coords": "ObsDataLocation/ObservationLocation/AstroCoords",  # from WhereWhen
    "iso_time": "Time/TimeInstant/ISOTime",  # from AstroCoords
    "position": "Position2D",  # from AstroCoords
    "c1": "Value2/C1",  # from Position2D
    "c2": "Value2/C2",
    "error": "Error2Radius",
    "name": "Inference/Name",  # from Why
    "description": "Description",  # from What or Citations
}
# Params the parser reads; only these are collected from the packet.
_WANTED_PARAMS = frozenset(
    {
        "Packet_Type",
        "TrigID",
        "AMON_ID",
        "GraceID",
        "Trig_Timescale",
        "Sequence_Num",
        "Most_Likely_Index",
        "Most_Likely_Prob",
        "Integ_Time",
        "Rate_Signif",
        "GRB_Identified",
        "StarTrack_Lost_Lock",
        "ranking",
        "isRealAlert",
        "observation_duration",
        "significance",
        "signalness",
        "energy",
        "src_error_50",
        "Source_Name",
        "FAR",
        "Significant",
        "BNS",
        "NSBH",
        "BBH",
        "Terrestrial",
        "HasNS",
        "HasMassGap",
        "HasRemnant",
        "Instruments",
        "skymap_fits",
        "EventPage",
        "AlertType",
        "Pipeline",
        "Search",
        "Group",
    }
)


def flare_star_key(name: str) -> str:
    """Comparison key of a star name: lower case with spaces and underscores removed."""
    return _STAR_SEPARATORS_RE.sub("", name).casefold()


def load_flare_star_names(path: Path) -> list[str]:
    """Star names in ``path``: one per line, blank lines and ``#`` comments skipped."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if name and not name.startswith("#"):
            names.append(name)
    return names


def peek_ivorn(raw: bytes) -> str | None:
    """The root VOEvent element's ``ivorn``, found by a regex over the first bytes (no XML parsing).

    Cheap enough to run on every packet before it is stored, for de-duplication. Returns ``None`` when no
    VOEvent start tag with an ivorn is found in the first :data:`PEEK_WINDOW_BYTES` bytes.
    """
    match = _PEEK_IVORN_RE.search(raw, 0, PEEK_WINDOW_BYTES)
    if match is None:
        return None
    value = match.group(1) if match.group(1) is not None else match.group(2)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # XML attribute-value normalisation, then the character references lxml would resolve.
    text = html.unescape(text.replace("\t", " ").replace("\n", " ").replace("\r", " ")).strip()
    return text or None


def event_to_json(ev: ParsedEvent) -> dict[str, object]:
    """Plain JSON-ready dict of ``ev`` with exactly :data:`EVENT_JSON_KEYS` (``None`` where absent)."""
    out: dict[str, object] = {}
    for key in EVENT_JSON_KEYS:
        value: object = getattr(ev, key)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, SourceType):
            value = value.value
        out[key] = value
    return out


class VOEventParser:
    """Turns raw VOEvent bytes into :class:`ParsedEvent` records.

    Build one per thread (the lxml parser object it holds is not shared between threads).
    """

    def __init__(
        self,
        interesting_streams: frozenset[str] = DEFAULT_INTERESTING_STREAMS,
        flare_star_names: Iterable[str] | None = None,
        max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES,
    ) -> None:
        if flare_star_names is None:
            flare_star_names = load_flare_star_names(resources_dir() / FLARE_STAR_FILE_NAME)
        self.interesting_streams = frozenset(interesting_streams)
        self.flare_star_keys = frozenset(flare_star_key(n) for n in flare_star_names if n.strip())
        self.max_packet_bytes = max_packet_bytes
        self._paths = _CompiledPaths()
        self._xml_parser = etree.XMLParser(
            encoding="utf-8",
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )

    def parse(self, raw: bytes) -> ParsedEvent:
        """Parse one packet; raises :class:`ParseError` saying why when it is not a usable VOEvent."""
        root = self._parse_xml(raw)
        return _EventReader(root, self).read()

    def is_flare_star(self, source_name: str) -> bool:
        """Whether ``source_name`` names a listed flare star (exact match of normalised names)."""
        if flare_star_key(source_name) in self.flare_star_keys:
            return True
        stripped = _FLARE_PREFIX_RE.sub("", source_name, count=1)
        return stripped != source_name and flare_star_key(stripped) in self.flare_star_keys

    def _parse_xml(self, raw: bytes) -> Any:
        if not isinstance(raw, bytes):
            raise ParseError(f"packet must be bytes, not {type(raw).__name__}")
        size = len(raw)
        if size > self.max_packet_bytes:
            raise ParseError(f"packet is {size} bytes, over the {self.max_packet_bytes}-byte limit")
        if size == 0:
            raise ParseError("packet is empty")
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ParseError(
                    f"packet is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                    "VOEvents must be UTF-8"
                ) from None
        if b"\x00" in raw:
            raise ParseError("packet contains NUL bytes (UTF-16/UTF-32 packets are not accepted)")
        if _DOCTYPE_RE.search(raw) is not None:
            raise ParseError("packet declares a DOCTYPE; refused (entities/DTDs are not allowed in VOEvents)")
        try:
            root = etree.fromstring(raw, self._xml_parser)
        except etree.XMLSyntaxError as exc:
            raise ParseError(f"malformed XML: {exc}") from None
        except (etree.LxmlError, ValueError) as exc:
            raise ParseError(f"unreadable XML: {exc}") from None
        if root is None:
            raise ParseError("packet has no root element")
        tag = root.tag
        local = tag.rpartition("}")[2] if isinstance(tag, str) else str(tag)
        if local != "VOEvent":
            raise ParseError(f"not a VOEvent: the root element is <{local}>")
        return root


class _CompiledPaths:
    """The hot element paths, as compiled XPaths (no namespace) and ElementPaths (any namespace).

    VOEvent children are normally unqualified; a packet using a default namespace gets the slower
    namespace-agnostic ``{*}`` ElementPath. XPath objects are not shared between threads (one per parser).
    """

    def __init__(self) -> None:
        self.plain = {key: etree.XPath(path) for key, path in _HOT_PATHS.items()}
        self.wild = {key: "/".join("{*}" + step for step in path.split("/")) for key, path in _HOT_PATHS.items()}

    def first(self, element: Any, key: str, qualified: bool) -> Any:
        """First element at path ``key`` below ``element``, or ``None``."""
        if qualified:
            return element.find(self.wild[key])
        found = self.plain[key](element)
        return found[0] if found else None


class _EventReader:
    """Reads one parsed VOEvent tree; collects warnings as it goes."""

    def __init__(self, root: Any, parser: VOEventParser) -> None:
        self.root = root
        self.parser = parser
        self.warnings: list[str] = []
        self.top: dict[str, Any] = {}
        qualified = False
        for child in root:
            tag = child.tag
            if isinstance(tag, str):
                local = tag.rpartition("}")[2]
                qualified = qualified or len(local) != len(tag)
                self.top.setdefault(local, child)
        self.qualified = qualified
        self.params: dict[str, str] = {}
        what = self.top.get("What")
        if what is not None:
            params = self.params
            wanted = _WANTED_PARAMS
            for element in what.iter("{*}Param"):
                name = element.get("name")
                if name in wanted and name not in params:
                    params[name] = element.get("value") or ""
        self._coords_cache: tuple[Any] | None = None

    def _first(self, element: Any, key: str) -> Any:
        return self.parser._paths.first(element, key, self.qualified)

    # ----------------------------------------------------------------- top level
    def read(self) -> ParsedEvent:
        root = self.root
        ivorn = (root.get("ivorn") or "").strip()
        if not ivorn:
            raise ParseError("VOEvent has no ivorn attribute")
        role = root.get("role")
        telescope = _telescope_from_ivorn(ivorn)
        if telescope is None:
            self.warnings.append(f"could not tell the telescope from ivorn {ivorn!r}")
        event_type = _event_type_from_ivorn(ivorn, telescope)
        if event_type is None:
            self.warnings.append(f"could not tell the event type from ivorn {ivorn!r}")
        stream = f"{telescope}_{event_type}"
        reasons: list[str] = []
        if stream not in self.parser.interesting_streams:
            reasons.append(f"Stream {stream} is not in the list of interesting streams")

        trig_id, self_generated = self._trig_id(ivorn)
        observed_utc = self._observed_utc()
        ra_deg, dec_deg, pos_error_deg = self._position()
        source_name = self._source_name(telescope)
        values: dict[str, Any] = {"packet_type": self._int("Packet_Type")}

        if telescope == "Fermi":
            self._note_missing("Fermi", _FERMI_EXPECTED)
            values.update(
                duration_s=self._float("Trig_Timescale"),
                sequence_num=self._int("Sequence_Num"),
                fermi_most_likely_index=self._int("Most_Likely_Index"),
                fermi_detection_prob=self._float("Most_Likely_Prob"),
            )
        elif telescope == "SWIFT":
            values.update(
                duration_s=self._float("Integ_Time"),
                swift_rate_signif=self._float("Rate_Signif"),
                swift_grb_identified=self._bool("GRB_Identified"),
            )
            if self._bool("StarTrack_Lost_Lock"):
                event_type = f"{event_type}{LOST_STAR_TRACKER_SUFFIX}"
                reasons.append("Swift lost its star-tracker lock (StarTrack_Lost_Lock is true)")
        elif telescope == "Antares":
            self._note_missing("Antares", _ANTARES_EXPECTED)
            values["antares_ranking"] = self._int("ranking")
        elif telescope == "HESS":
            self._note_missing("HESS", _HESS_EXPECTED)
            values.update(
                duration_s=self._float("observation_duration"),
                hess_significance=self._float("significance"),
            )
        elif telescope == "AMON":
            values.update(
                icecube_signalness=self._float("signalness"),
                icecube_energy_tev=self._float("energy"),
                icecube_pos_error_50_deg=self._float("src_error_50"),
            )
        elif telescope == "LVC":
            values.update(self._lvc_values(event_type, reasons))

        if "isRealAlert" in self.params:
            is_real = self._bool("isRealAlert")
            values["antares_is_real_alert"] = is_real
            if is_real is False:
                reasons.append("isRealAlert is false (not a real alert)")

        source_type = self._source_type(telescope, event_type, source_name, values)
        return ParsedEvent(
            ivorn=ivorn,
            role=role,
            telescope=telescope,
            event_type=event_type,
            trig_id=trig_id,
            self_generated_trig_id=self_generated,
            source_type=source_type,
            source_name=source_name,
            ignored=bool(reasons),
            ignore_reason="; ".join(reasons) if reasons else None,
            observed_utc=observed_utc,
            ra_deg=ra_deg,
            dec_deg=dec_deg,
            pos_error_deg=pos_error_deg,
            warnings=tuple(self.warnings),
            **values,
        )

    def _lvc_values(self, event_type: str | None, reasons: list[str]) -> dict[str, Any]:
        group = self._str("Group")
        alert_type = self._str("AlertType")
        retraction = event_type == "Retraction" or alert_type == "Retraction"
        burst = group is not None and group.casefold() == "burst"
        if burst:
            reasons.append("LVC Group is Burst (unmodelled burst search); only CBC alerts are followed up")
        if not retraction and not burst:
            self._note_missing("LVC", _LVC_EXPECTED)
        values: dict[str, Any] = {
            "lvc_false_alarm_rate_hz": self._float("FAR"),
            "lvc_significant": self._bool("Significant"),
            "lvc_binary_neutron_star_probability": self._float("BNS"),
            "lvc_neutron_star_black_hole_probability": self._float("NSBH"),
            "lvc_binary_black_hole_probability": self._float("BBH"),
            "lvc_terrestrial_probability": self._float("Terrestrial"),
            "lvc_includes_neutron_star_probability": self._float("HasNS"),
            "lvc_has_mass_gap_probability": self._float("HasMassGap"),
            "lvc_has_remnant_probability": self._float("HasRemnant"),
            "lvc_instruments": self._str("Instruments"),
            "lvc_skymap_fits": self._str("skymap_fits"),
            "lvc_event_url": self._str("EventPage"),
            "lvc_alert_type": alert_type,
            "lvc_pipeline": self._str("Pipeline"),
            "lvc_search": self._str("Search"),
            "lvc_group": group,
        }
        if retraction:
            citations = self.top.get("Citations")
            description = self._first(citations, "description") if citations is not None else None
            if description is not None:
                values["lvc_retraction_message"] = _clean_text(description.text)
        return values

    # ----------------------------------------------------------------- identity
    def _trig_id(self, ivorn: str) -> tuple[str, bool]:
        for name in ("TrigID", "AMON_ID", "GraceID"):
            value = self.params.get(name, "").strip()
            if value:
                return value, False
        citations = self.top.get("Citations")
        if citations is not None:
            for cited in citations.iter("{*}EventIVORN"):
                if cited.get("cite") != "followup":
                    continue
                text = (cited.text or "").strip()
                fragment = text.rpartition("#")[2]
                followed = fragment.rpartition("_")[2].partition("-")[0].strip()
                if followed:
                    return followed, False
        self.warnings.append("no TrigID, AMON_ID, GraceID or followup citation; trig_id derived from the ivorn")
        return "ivorn-" + hashlib.sha256(ivorn.encode("utf-8")).hexdigest()[:12], True

    def _source_name(self, telescope: str | None) -> str | None:
        if telescope == "SWIFT":
            why = self.top.get("Why")
            name = self._first(why, "name") if why is not None else None
            return _clean_text(name.text) if name is not None else None
        if telescope == "MAXI":
            return self._str("Source_Name")
        return None

    def _source_type(
        self,
        telescope: str | None,
        event_type: str | None,
        source_name: str | None,
        values: Mapping[str, Any],
    ) -> SourceType | None:
        if telescope == "LVC":
            return SourceType.GW
        if telescope == "Antares" or (telescope == "AMON" and event_type is not None and "ICECUBE" in event_type):
            return SourceType.NU
        if (
            source_name is not None
            and not self._swift_sub_sub_threshold(telescope)
            and self.parser.is_flare_star(source_name)
        ):
            return SourceType.FS
        if telescope in ("Fermi", "HESS"):
            return SourceType.GRB
        if telescope == "SWIFT" and values.get("swift_grb_identified") is True:
            return SourceType.GRB
        if source_name is not None and "GRB" in source_name:
            return SourceType.GRB
        return None

    def _swift_sub_sub_threshold(self, telescope: str | None) -> bool:
        if telescope != "SWIFT":
            return False
        what = self.top.get("What")
        description = self._first(what, "description") if what is not None else None
        return description is not None and "sub-sub-threshold" in (description.text or "")

    # ----------------------------------------------------------------- where and when
    def _coords(self) -> Any:
        """The first ObservationLocation's AstroCoords (cached), or ``None``."""
        if self._coords_cache is None:
            where_when = self.top.get("WhereWhen")
            self._coords_cache = (self._first(where_when, "coords") if where_when is not None else None,)
        return self._coords_cache[0]

    def _observed_utc(self) -> datetime | None:
        coords = self._coords()
        iso = self._first(coords, "iso_time") if coords is not None else None
        text = _clean_text(iso.text) if iso is not None else None
        if coords is None or text is None:
            self.warnings.append("no WhereWhen ISOTime; event time unknown")
            return None
        system = coords.get("coord_system_id") or ""
        scale = system.partition("-")[0].upper() if system else "UTC"
        try:
            moment = datetime.fromisoformat(_LONG_FRACTION_RE.sub(r"\1", text))
        except ValueError:
            self.warnings.append(f"ISOTime {text!r} is not an ISO 8601 time; event time unknown")
            return None
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        if scale == "UTC":
            return moment.replace(tzinfo=UTC)
        if scale == "GPS":
            moment, scale = moment + timedelta(seconds=-GPS_MINUS_TAI_S), "TAI"
        if scale in _ASTROPY_TIME_SCALES:
            converted = _astropy_to_utc(moment, scale)
            if converted is not None:
                return converted
            self.warnings.append(f"could not convert ISOTime {text!r} from {scale} to UTC; taken as UTC")
            return moment.replace(tzinfo=UTC)
        self.warnings.append(f"time scale {scale!r} (coord_system_id {system!r}) not recognised; ISOTime taken as UTC")
        return moment.replace(tzinfo=UTC)

    def _position(self) -> tuple[float | None, float | None, float | None]:
        coords = self._coords()
        position = self._first(coords, "position") if coords is not None else None
        if position is None:
            position, coords = self._fallback_position()
            if position is None:
                return None, None, None
        ra = self._coordinate(self._first(position, "c1"), "C1 (RA)")
        dec = self._coordinate(self._first(position, "c2"), "C2 (Dec)")
        error = self._coordinate(self._first(position, "error"), "Error2Radius")
        if ra is None or dec is None:
            return None, None, None
        if ra == 0.0 and dec == 0.0 and error == 0.0:
            self.warnings.append("position 0, 0 with error 0 means no position (e.g. Fermi GBM_Alert); ignored")
            return None, None, None
        if not (0.0 <= ra <= 360.0 and -90.0 <= dec <= 90.0):
            self.warnings.append(f"position RA {ra}, Dec {dec} is outside the sky; ignored")
            return None, None, None
        if error is not None and error < 0.0:
            self.warnings.append(f"negative Error2Radius {error}; error left empty")
            error = None
        system = coords.get("coord_system_id") if coords is not None else None
        frame = system.split("-")[1].upper() if system is not None and system.count("-") >= 1 else None
        if frame not in _POSITION_FRAMES:
            self.warnings.append(f"coordinate system {system!r} is not FK5/ICRS; RA/Dec used as given")
        unit = position.get("unit")
        if unit is not None and unit != "deg":
            self.warnings.append(f"Position2D unit is {unit!r}, not 'deg'; values used as degrees")
        return ra % 360.0, dec, error

    def _fallback_position(self) -> tuple[Any, Any]:
        """First Position2D anywhere under an ObservationLocation (never the observatory's own location)."""
        where_when = self.top.get("WhereWhen")
        if where_when is None:
            return None, None
        for location in where_when.iter("{*}ObservationLocation"):
            position = location.find(".//{*}Position2D")
            if position is not None:
                parent = position.getparent()
                self.warnings.append("position not at the standard WhereWhen path; first Position2D used")
                return position, parent
        return None, None

    def _coordinate(self, element: Any, label: str) -> float | None:
        if element is None:
            return None
        text = _clean_text(element.text)
        if text is None:
            return None
        value = _to_float(text)
        if value is None:
            self.warnings.append(f"{label} {text!r} is not a number; ignored")
        return value

    # ----------------------------------------------------------------- params
    def _note_missing(self, label: str, names: Iterable[str]) -> None:
        missing = [name for name in names if name not in self.params]
        if missing:
            self.warnings.append(f"{label} params absent (left empty): {', '.join(missing)}")

    def _str(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        return value.strip() or None

    def _float(self, name: str) -> float | None:
        text = self._str(name)
        if text is None:
            return None
        value = _to_float(text)
        if value is None:
            self.warnings.append(f"Param {name} value {text!r} is not a finite number; ignored")
        return value

    def _int(self, name: str) -> int | None:
        text = self._str(name)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        value = _to_float(text)
        if value is not None and value.is_integer():
            return int(value)
        self.warnings.append(f"Param {name} value {text!r} is not an integer; ignored")
        return None

    def _bool(self, name: str) -> bool | None:
        text = self._str(name)
        if text is None:
            return None
        folded = text.casefold()
        if folded in _TRUE_STRINGS:
            return True
        if folded in _FALSE_STRINGS:
            return False
        self.warnings.append(f"Param {name} value {text!r} is not a boolean (1/true/0/false); ignored")
        return None


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    return text.strip() or None


def _to_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _telescope_from_ivorn(ivorn: str) -> str | None:
    for prefix, telescope in _TELESCOPE_PREFIXES:
        if ivorn.startswith(prefix):
            return telescope
    head = ivorn.partition("#")[0]
    body = head.removeprefix("ivo://")
    path = body.partition("/")[2]
    segment = path.rstrip("/").rpartition("/")[2]
    return segment or None


def _event_type_from_ivorn(ivorn: str, telescope: str | None) -> str | None:
    head, hash_sign, fragment = ivorn.partition("#")
    if telescope == "HESS":
        return _HESS_EVENT_TYPE
    if telescope == "Antares":
        return head.rpartition("Antares_")[2] or None
    if not hash_sign or not fragment:
        return None
    if telescope == "LVC":
        return fragment.rpartition("-")[2] or None
    digit = _FIRST_DIGIT_RE.search(fragment)
    prefix = fragment[: digit.start()] if digit is not None else fragment
    return prefix.rstrip("_-") or None


def _astropy_to_utc(moment: datetime, scale: str) -> datetime | None:
    """A naive time in ``scale`` (an astropy time scale) as tz-aware UTC, or ``None`` if that fails.

    astropy is imported only here (rare packets), with internet access switched off so that an
    outdated leap-second table can never make the parser reach for the network.
    """
    from astropy.time import Time
    from astropy.utils.data import conf as astropy_data_conf

    try:
        with astropy_data_conf.set_temp("allow_internet", False), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            utc = Time(moment, scale=scale.lower()).utc.to_datetime()
    except Exception:
        return None
    return utc.replace(tzinfo=UTC) if isinstance(utc, datetime) else None
