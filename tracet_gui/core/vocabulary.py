"""Enumerations shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class SourceType(StrEnum):
    """What kind of astrophysical source an alert is about (TraceT's SOURCE_CHOICES)."""

    GRB = "GRB"
    FS = "FS"
    NU = "NU"
    GW = "GW"


class Testing(StrEnum):
    """Which events a proposal acts on and whether the telescope request is real (TraceT's TRIGGER_ON)."""

    PRETEND_REAL = "PRETEND_REAL"
    BOTH = "BOTH"
    REAL_ONLY = "REAL_ONLY"


class Decision(StrEnum):
    """State of one proposal's decision about one event group."""

    PENDING = "P"
    IGNORED = "I"
    ERROR = "E"
    TRIGGERED = "T"
    CANCELED = "C"


class Channel(StrEnum):
    """How a raw packet reached us."""

    VTP_REMOTE = "vtp-remote"
    VTP_AUTHOR = "vtp-author"
    KAFKA = "kafka"
    FILE = "file"
    MANUAL = "manual"


class InboxStatus(StrEnum):
    """Processing state of a raw packet in the inbox."""

    NEW = "new"
    PROCESSED = "processed"
    FAILED = "failed"


class LogKind(StrEnum):
    """Kind of a structured decision-log entry."""

    INFO = "info"
    WARNING = "warning"
    DEBUG = "debug"
    DECISION = "decision"
    OPERATOR = "operator"
    ERROR = "error"
