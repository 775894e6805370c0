"""Keep secrets out of everything we record, log or show.

Two complementary rules, both applied to every recorded request, response and error message:

* **by field name** – any mapping key that names a credential (``secure_key``, ``passwd``, ``password``,
  ``authToken``, ``token``, ``Authorization`` …) has its (string) value replaced by :data:`REDACTED`;
* **by value** – every occurrence of a known secret value (and of its URL-encoded and HTTP basic-auth
  forms) in any string is replaced by :data:`REDACTED`, so a secret echoed back by a server or quoted in an
  exception message never survives either.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "***REDACTED***"
"""What a secret is replaced by."""

SECRET_FIELD_NAMES = frozenset(
    {
        "secure_key",
        "passwd",
        "password",
        "authtoken",
        "auth_token",
        "authenticationtoken",
        "token",
        "authorization",
        "httpauthpassword",
        "secret",
        "api_key",
    }
)
"""Field names (compared case-insensitively) whose string values are always redacted."""

MIN_SECRET_LENGTH = 4
"""Secret values shorter than this (characters) are not searched for inside text (they would match words);
they are still redacted by field name."""


def is_secret_field(name: str) -> bool:
    """True when a field of this name carries a credential."""
    return name.lower() in SECRET_FIELD_NAMES


class Redactor:
    """Redacts known secret values and credential fields; safe to share between threads (read-only)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.update({secret, quote_plus(secret), quote(secret, safe="")})
        # Longest first, so a secret containing another is replaced whole.
        self._forms = tuple(sorted(forms, key=len, reverse=True))

    def with_secrets(self, *secrets: str | None) -> Redactor:
        """A redactor that also knows ``secrets``."""
        joined = Redactor([*self._forms, *secrets])
        return joined

    def with_basic_auth(self, username: str, password: str) -> Redactor:
        """Also redact the password and the ``Authorization: Basic …`` token built from this pair."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return self.with_secrets(password, token)

    def text(self, value: str) -> str:
        """``value`` with every known secret replaced."""
        for form in self._forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def data(self, value: Any) -> Any:
        """A JSON-able copy of ``value`` with credential fields and known secret values redacted.

        Mappings, lists and tuples are copied recursively (tuples become lists); other non-JSON scalars
        become their redacted ``str``.
        """
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = self.text(str(key))
                if is_secret_field(name) and not isinstance(item, Mapping | list | tuple):
                    out[name] = REDACTED if item not in (None, "") else item
                else:
                    out[name] = self.data(item)
            return out
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))

    def exception(self, exc: BaseException) -> str:
        """``Type: message`` of an exception, redacted (never the traceback)."""
        return self.text(f"{type(exc).__name__}: {exc}")
