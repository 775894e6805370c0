"""Typed settings: TOML in the user config dir, overridden by environment variables, then by CLI flags."""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "tracet-gui"

#: Environment variables that override the config file (secrets belong here or in the keyring, not in files).
ENV_OVERRIDES = {
    "TRACET_DB_URL": "db_url",
    "TRACET_OPERATOR": "operator",
    "GCN_KAFKA_CLIENT_ID": "kafka_client_id",
    "GCN_KAFKA_CLIENT_SECRET": "kafka_client_secret",
}


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def default_db_url() -> str:
    return f"sqlite:///{user_data_dir() / 'tracet.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Defaults are the embedded set-up a newcomer gets."""

    db_url: str = field(default_factory=default_db_url)
    """Any SQLAlchemy URL; SQLite in the user data dir by default."""
    operator: str = field(default_factory=getpass.getuser)
    """Name recorded in the audit trail for operator actions."""
    interesting_streams: tuple[str, ...] | None = None
    """``{telescope}_{event_type}`` pairs worth evaluating; None = TraceT's 24 defaults."""
    max_packet_bytes: int = 1_048_576
    """Packets larger than this are kept in the inbox as failed, never parsed."""
    remotes: tuple[str, ...] = ()
    """Remote VTP brokers to subscribe to, as ``host:port``."""
    receive_port: int | None = None
    """Listen for VTP authors on this port (None = do not listen)."""
    broadcast_port: int | None = None
    """Rebroadcast every newly stored event to local VTP subscribers on this port (None = off; loopback)."""
    author_whitelist: tuple[str, ...] = ("127.0.0.0/8",)
    """Networks allowed to push events to the author port."""
    local_ivo: str = "ivo://tracet-gui/local"
    kafka_client_id: str | None = None
    kafka_client_secret: str | None = None
    kafka_topics: tuple[str, ...] | None = None
    """GCN Kafka topics; None = the default list."""
    telescope_base_url: str | None = None
    """Base URL of a telescope simulator serving both protocols (``tracet-gui telescope-sim``); None = not used."""
    mwa_base_url: str | None = None
    """The MWA trigger web service (e.g. ``http://mro.mwa128t.org/trigger/``); None = no MWA requests."""
    atca_url: str | None = None
    """The ATCA rapid-response service URL; None = no ATCA requests."""
    atca_email: str | None = None
    """Email address on the ATCA proposals (the service requires it)."""
    simulator_credentials: bool = False
    """Use the simulator's built-in credentials instead of the keyring/environment (demos, tests)."""

    def safe_summary(self) -> dict[str, Any]:
        """Settings as a dict with secrets redacted (for logs and ``config show``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if "secret" in f.name and value:
                value = "***"
            out[f.name] = value
        return out


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), then apply environment overrides."""
    env = dict(os.environ) if env is None else env
    settings = Settings()
    config_path = path or user_config_dir() / "config.toml"
    if config_path.is_file():
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        settings = _apply(settings, data, source=str(config_path))
    overrides = {attr: env[var] for var, attr in ENV_OVERRIDES.items() if env.get(var)}
    return _apply(settings, overrides, source="environment")


def _apply(settings: Settings, data: dict[str, Any], source: str) -> Settings:
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in known:
            raise ValueError(f"{source}: unknown setting {key!r}")
        current = getattr(settings, key)
        value = raw
        if isinstance(raw, list) or (isinstance(current, tuple) and isinstance(raw, str)):
            value = tuple(raw) if isinstance(raw, list) else (raw,)
        changes[key] = value
    return replace(settings, **changes)
