"""Credentials: keyring first (an in-memory keyring backend here), environment as the fallback."""

from __future__ import annotations

from typing import Any

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

from tracet_gui.telescopes.credentials import (
    KEYRING_SERVICE,
    CredentialOrigin,
    CredentialStoreError,
    KeyringCredentials,
    SecretKind,
    StaticCredentials,
    env_name,
)


class MemoryKeyring(KeyringBackend):
    """A complete in-memory keyring backend (the keyring package ships none)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


class LockedKeyring(MemoryKeyring):
    """A keyring that refuses every access (a locked wallet)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"cannot store {password}")


@pytest.mark.parametrize(
    ("kind", "project", "name"),
    [
        (SecretKind.MWA_SECURE_KEY, "G0055", "TRACET_MWA_KEY_G0055"),
        (SecretKind.ATCA_TOKEN, "c3204", "TRACET_ATCA_TOKEN_C3204"),
        (SecretKind.MWA_SECURE_KEY, "my-proj.1", "TRACET_MWA_KEY_MY_PROJ_1"),
    ],
)
def test_env_names(kind: SecretKind, project: str, name: str) -> None:
    assert env_name(kind, project) == name


def test_keyring_wins_over_environment() -> None:
    backend = MemoryKeyring()
    env = {"TRACET_MWA_KEY_G0055": "from-env", "TRACET_ATCA_TOKEN_C3204": "token-env"}
    creds = KeyringCredentials(backend=backend, environ=env)
    assert creds.mwa_secure_key("G0055") == "from-env"
    assert creds.origin(SecretKind.MWA_SECURE_KEY, "G0055") is CredentialOrigin.ENVIRONMENT
    creds.store(SecretKind.MWA_SECURE_KEY, "G0055", "from-keyring")
    assert backend.store[(KEYRING_SERVICE, "mwa-secure-key:G0055")] == "from-keyring"
    assert creds.mwa_secure_key("G0055") == "from-keyring"
    assert creds.origin(SecretKind.MWA_SECURE_KEY, "G0055") is CredentialOrigin.KEYRING
    assert creds.atca_token("C3204") == "token-env"
    assert creds.atca_token("C9999") is None
    assert creds.origin(SecretKind.ATCA_TOKEN, "C9999") is CredentialOrigin.MISSING
    creds.forget(SecretKind.MWA_SECURE_KEY, "G0055")
    creds.forget(SecretKind.MWA_SECURE_KEY, "G0055")  # forgetting twice is fine
    assert creds.mwa_secure_key("G0055") == "from-env"


def test_atca_http_login() -> None:
    backend = MemoryKeyring()
    creds = KeyringCredentials(backend=backend, environ={"TRACET_ATCA_HTTP_USER": "envuser"})
    assert creds.atca_http_auth() is None, "a user without a password is no login"
    creds.store_atca_http_auth("narrabri", "pw-123456")
    assert creds.atca_http_auth() == ("narrabri", "pw-123456")
    env_only = KeyringCredentials(
        backend=MemoryKeyring(), environ={"TRACET_ATCA_HTTP_USER": "u1", "TRACET_ATCA_HTTP_PASSWORD": "p1"}
    )
    assert env_only.atca_http_auth() == ("u1", "p1")


def test_broken_keyring_falls_back_to_environment_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    creds = KeyringCredentials(backend=LockedKeyring(), environ={"TRACET_MWA_KEY_G0055": "env-key"})
    assert creds.mwa_secure_key("G0055") == "env-key"
    with pytest.raises(CredentialStoreError) as info:
        creds.store(SecretKind.ATCA_TOKEN, "C3204", "jwt-secret-value")
    assert "jwt-secret-value" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "jwt-secret-value" not in caplog.text


def test_system_keyring_absent_uses_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    creds = KeyringCredentials(environ={"TRACET_ATCA_TOKEN_C3204": "t"})
    assert creds.atca_token("C3204") == "t"
    with pytest.raises(CredentialStoreError):
        creds.store(SecretKind.ATCA_TOKEN, "C3204", "x")


def test_static_credentials_repr_hides_secrets() -> None:
    creds = StaticCredentials(mwa_keys={"G0055": "very-secret"}, atca_http_user="u", atca_http_password="pw-pw-pw")
    shown: Any = repr(creds)
    assert "very-secret" not in shown and "pw-pw-pw" not in shown and "G0055" in shown
    assert creds.atca_http_auth() == ("u", "pw-pw-pw")
    assert StaticCredentials(atca_http_user="u").atca_http_auth() is None
