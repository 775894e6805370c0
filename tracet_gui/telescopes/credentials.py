"""Telescope credentials: the OS keyring first, environment variables as the fallback for headless servers.

Nothing here is ever written to the database, a log, an export or an error message; the database only
names the project. Keyring entries live under the service :data:`KEYRING_SERVICE`:

=============================  ==========================================  ====================================
secret                         keyring user name                           environment variable
=============================  ==========================================  ====================================
MWA secure key of a project    ``mwa-secure-key:<PROJECT>``                ``TRACET_MWA_KEY_<PROJECT>``
ATCA token (JWT) of a project  ``atca-token:<PROJECT>``                    ``TRACET_ATCA_TOKEN_<PROJECT>``
ATCA web-server login          ``atca-http-user`` / ``atca-http-password``  ``TRACET_ATCA_HTTP_USER`` /
                                                                           ``TRACET_ATCA_HTTP_PASSWORD``
=============================  ==========================================  ====================================

``<PROJECT>`` in a variable name is the project code upper-cased with every character other than A-Z and
0-9 replaced by ``_`` (``G0055`` → ``TRACET_MWA_KEY_G0055``; ``c3204`` → ``TRACET_ATCA_TOKEN_C3204``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)

KEYRING_SERVICE = "tracet-gui"
"""Keyring service name of every secret this application keeps."""

ATCA_HTTP_USER_KEY = "atca-http-user"
ATCA_HTTP_PASSWORD_KEY = "atca-http-password"
ATCA_HTTP_USER_ENV = "TRACET_ATCA_HTTP_USER"
ATCA_HTTP_PASSWORD_ENV = "TRACET_ATCA_HTTP_PASSWORD"


class SecretKind(StrEnum):
    """Which secret of a project."""

    MWA_SECURE_KEY = "mwa-secure-key"
    ATCA_TOKEN = "atca-token"


_ENV_PREFIX = {SecretKind.MWA_SECURE_KEY: "TRACET_MWA_KEY_", SecretKind.ATCA_TOKEN: "TRACET_ATCA_TOKEN_"}


class CredentialSource(Protocol):
    """Where clients get secrets; every method returns None when the secret is not configured."""

    def mwa_secure_key(self, project_id: str) -> str | None: ...

    def atca_token(self, project_id: str) -> str | None: ...

    def atca_http_auth(self) -> tuple[str, str] | None: ...


def env_name(kind: SecretKind, project_id: str) -> str:
    """The environment variable holding ``kind`` for ``project_id``."""
    return _ENV_PREFIX[kind] + re.sub(r"[^A-Z0-9]", "_", project_id.upper())


def keyring_user(kind: SecretKind, project_id: str) -> str:
    """The keyring user name holding ``kind`` for ``project_id``."""
    return f"{kind.value}:{project_id}"


class CredentialOrigin(StrEnum):
    KEYRING = "keyring"
    ENVIRONMENT = "environment"
    MISSING = "missing"


class KeyringCredentials:
    """Reads the OS keyring (``keyring``), falling back to environment variables.

    ``backend``: a ``keyring.backend.KeyringBackend`` to use instead of the system one (tests use an
    in-memory backend); ``environ``: the environment to read (default ``os.environ``). A keyring that is
    missing or fails (no D-Bus session on a server, locked wallet) is logged once and skipped.
    """

    def __init__(self, backend: Any | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._backend = backend
        self._environ = environ if environ is not None else os.environ
        self._keyring_failed = False

    def _keyring(self) -> Any | None:
        if self._backend is not None:
            return self._backend
        if self._keyring_failed:
            return None
        try:
            import keyring

            return keyring.get_keyring()
        except Exception as exc:
            self._note_keyring_failure(exc)
            return None

    def _note_keyring_failure(self, exc: Exception) -> None:
        if not self._keyring_failed:
            log.warning("OS keyring unavailable (%s); using environment variables only", type(exc).__name__)
        self._keyring_failed = True

    def _from_keyring(self, user: str) -> str | None:
        backend = self._keyring()
        if backend is None:
            return None
        try:
            value = backend.get_password(KEYRING_SERVICE, user)
        except Exception as exc:
            if self._backend is None:
                self._note_keyring_failure(exc)
            else:
                log.warning("keyring lookup failed (%s)", type(exc).__name__)
            return None
        return value or None

    def lookup(self, kind: SecretKind, project_id: str) -> tuple[str | None, CredentialOrigin]:
        value = self._from_keyring(keyring_user(kind, project_id))
        if value:
            return value, CredentialOrigin.KEYRING
        value = self._environ.get(env_name(kind, project_id)) or None
        if value:
            return value, CredentialOrigin.ENVIRONMENT
        return None, CredentialOrigin.MISSING

    def mwa_secure_key(self, project_id: str) -> str | None:
        return self.lookup(SecretKind.MWA_SECURE_KEY, project_id)[0]

    def atca_token(self, project_id: str) -> str | None:
        return self.lookup(SecretKind.ATCA_TOKEN, project_id)[0]

    def atca_http_auth(self) -> tuple[str, str] | None:
        user = self._from_keyring(ATCA_HTTP_USER_KEY) or self._environ.get(ATCA_HTTP_USER_ENV) or None
        password = self._from_keyring(ATCA_HTTP_PASSWORD_KEY) or self._environ.get(ATCA_HTTP_PASSWORD_ENV) or None
        if user is None or password is None:
            return None
        return user, password

    def origin(self, kind: SecretKind, project_id: str) -> CredentialOrigin:
        """Where the secret would come from (for the GUI's project page; never the secret itself)."""
        return self.lookup(kind, project_id)[1]

    # ---- writing (GUI / CLI "set credential"); the keyring only, never the environment ----

    def _writable(self) -> Any:
        backend = self._keyring()
        if backend is None:
            raise CredentialStoreError(
                "No usable OS keyring; on a headless server set the TRACET_* environment variables instead."
            )
        return backend

    def store(self, kind: SecretKind, project_id: str, secret: str) -> None:
        """Keep ``secret`` in the keyring."""
        self._set(keyring_user(kind, project_id), secret)

    def store_atca_http_auth(self, username: str, password: str) -> None:
        self._set(ATCA_HTTP_USER_KEY, username)
        self._set(ATCA_HTTP_PASSWORD_KEY, password)

    def forget(self, kind: SecretKind, project_id: str) -> None:
        """Remove the keyring entry (no error when there is none)."""
        backend = self._writable()
        try:
            backend.delete_password(KEYRING_SERVICE, keyring_user(kind, project_id))
        except Exception as exc:
            if type(exc).__name__ != "PasswordDeleteError":
                raise CredentialStoreError(
                    f"Could not remove the secret from the keyring ({type(exc).__name__})."
                ) from None

    def _set(self, user: str, secret: str) -> None:
        backend = self._writable()
        try:
            backend.set_password(KEYRING_SERVICE, user, secret)
        except Exception as exc:
            # never chain: the backend's message might quote the secret
            raise CredentialStoreError(f"Could not store the secret in the keyring ({type(exc).__name__}).") from None


class CredentialStoreError(Exception):
    """The keyring could not be written; the message never contains the secret."""


@dataclass(frozen=True, repr=False)
class StaticCredentials:
    """Credentials given in code: the demo against the local simulator, replays and tests."""

    mwa_keys: Mapping[str, str] = field(default_factory=dict)
    atca_tokens: Mapping[str, str] = field(default_factory=dict)
    atca_http_user: str | None = None
    atca_http_password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never show secrets
        return f"StaticCredentials(projects={sorted({*self.mwa_keys, *self.atca_tokens})})"

    def mwa_secure_key(self, project_id: str) -> str | None:
        return self.mwa_keys.get(project_id)

    def atca_token(self, project_id: str) -> str | None:
        return self.atca_tokens.get(project_id)

    def atca_http_auth(self) -> tuple[str, str] | None:
        if self.atca_http_user is None or self.atca_http_password is None:
            return None
        return self.atca_http_user, self.atca_http_password
