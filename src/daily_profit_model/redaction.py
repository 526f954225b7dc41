"""Keeping secrets out of everything printed: URLs, connection strings, error texts.

A connection setting can be malformed in ways that make parsers echo it (psycopg's
parse errors quote the string, an unencoded ``@`` in a password turns its tail into
the "host" that an error then names). So every message that may carry a setting goes
through :func:`scrub` with that setting's secret fragments: whatever the parser did
with the string, no part of its password survives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
# scheme://userinfo@host...: the userinfo ends at the authority's LAST "@" (a password
# with an unencoded "@" still hides wholly).
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.S)
_KEY_VALUE_SECRET = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)
_MIN_FRAGMENT = 3  # shorter pieces would mask ordinary words


def _authority(rest: str) -> str:
    """The authority part of a URL after its scheme (up to the path or query)."""
    match = re.match(r"[^/?#]*", rest)
    authority = match.group(0) if match else ""
    # a password may hold "/" or "?" unencoded: the authority runs to the last "@"
    at = rest.rfind("@")
    if at > len(authority):
        slash = rest.find("/", at)
        authority = rest[: slash if slash >= 0 else len(rest)]
    return authority


def url_password(url: str) -> str | None:
    """The password a URL carries (as written), or None."""
    match = _URL.match(url.strip())
    if not match:
        return None
    authority = _authority(match.group("rest"))
    if "@" not in authority:
        return None
    userinfo = authority[: authority.rfind("@")]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


def redact_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***``."""
    match = _URL.match(url.strip())
    if not match:
        return _KEY_VALUE_SECRET.sub(lambda m: m.group(1) + MASK, url)
    rest = match.group("rest")
    authority = _authority(rest)
    if "@" not in authority:
        return url
    userinfo, host = (
        authority[: authority.rfind("@")],
        authority[authority.rfind("@") + 1 :],
    )
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:{MASK}" if ":" in userinfo else user
    return f"{match.group('scheme')}{masked}@{host}{rest[len(authority) :]}"


def secret_fragments(setting: str | None) -> list[str]:
    """Every piece of ``setting``'s password a parser could echo: the password as
    written and decoded, and its parts around "@", ":", "/" and spaces."""
    if not setting:
        return []
    found = []
    password = url_password(setting)
    if password is None and "@" in setting and "://" not in setting:
        password = url_password(f"scheme://{setting}")  # user:password@host, no scheme
    if password is None:
        match = _KEY_VALUE_SECRET.search(setting)
        password = match.group(2).strip("'") if match else None
    if password is None:
        # not a URL or key=value string at all: the whole thing may be a secret
        # (e.g. "user:password@host" without a scheme)
        password = setting
    for text in (password, unquote(password)):
        found.append(text)
        found += re.split(r"[@:/\s?#%]+", text)
    return sorted({f for f in found if len(f) >= _MIN_FRAGMENT}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
