"""URLs made safe to print: credentials masked, everything else left as written.

Masking edits the original string rather than re-assembling a parsed URL, because
`urlunsplit` rewrites URLs it does not know (`sqlite+aiosqlite:///./x.db` loses a slash).
"""

from __future__ import annotations

from urllib.parse import unquote_plus

MASK = "***"

# A query (or fragment) parameter whose name contains one of these, in any case, carries a
# credential: `password`, `api_key`, `X-Amz-Signature`, `access_token`, `sessionid`, `authToken`.
CREDENTIAL_WORDS = (
    "password",
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "sig",
    "signature",
    "credential",
    "session",
)


def redact_url(url: str) -> str:
    """`url` with the password in its userinfo and the value of every credential-looking query
    or fragment parameter masked; scheme, user, host, port, path and other parameters as they
    were. A path is shown as is: a credential inside one (a webhook URL) is not recognised.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        if "@" in url:  # `user:pw@host` without `//`: no telling what is secret before the @
            return f"{MASK}@{url.rpartition('@')[2]}"
        return _mask_tail(url)
    return scheme + sep + _mask_tail(_mask_userinfo(rest))


def _mask_userinfo(rest: str) -> str:
    """`user:pw@host:5432/db` -> `user:***@host:5432/db` (`rest` is what follows `://`)."""
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)  # URL parsers: the authority's last `@` ends the userinfo
    if at < 0:
        # SQLAlchemy reads a password up to the first `@`, so `/`, `?` and `#` may be in it:
        # `user:pa/ss@host`. At worst this masks a port and path that have an `@` after them.
        at, first_colon = rest.find("@"), rest.find(":")
        if at < 0 or not 0 <= first_colon < at or "/" in rest[:first_colon]:
            return rest
    user, colon, password = rest[:at].partition(":")
    return f"{user}:{MASK}{rest[at:]}" if colon and password else rest


def _mask_tail(text: str) -> str:
    """The query's and the fragment's credential parameters masked; the rest untouched."""
    text, hash_, fragment = text.partition("#")
    text, question, query = text.partition("?")
    return text + question + _mask_params(query) + hash_ + _mask_params(fragment)


def _mask_params(params: str) -> str:
    """`a=1&api_key=x` -> `a=1&api_key=***`; the other parameters exactly as written."""
    parts = []
    for part in params.split("&"):
        name, eq, value = part.partition("=")
        parts.append(f"{name}={MASK}" if eq and value and _is_credential(name) else part)
    return "&".join(parts)


def _is_credential(name: str) -> bool:
    folded = unquote_plus(name).casefold()
    return any(word in folded for word in CREDENTIAL_WORDS)
