"""The console's login: the admin token for a session cookie, CSRF tokens, a slowed-down and
rate-limited login.

Sessions are stateless and signed: `<expires>.<nonce>.<hmac>` with a key derived from
CHATBOT_ADMIN_TOKEN, so every process that has the token accepts them (no shared session
store) and changing the token ends every session. A session's CSRF token is an HMAC of its
nonce under another derived key: the page sends it back in `X-CSRF-Token` with every change,
which a page on another site cannot read or guess; SameSite=Strict already keeps the cookie
off other sites' requests, and changes also require a same-origin `Origin` when one is sent.

A wrong token is answered only after `FAIL_DELAY` seconds, and an address with `MAX_FAILURES`
wrong tokens within `WINDOW` seconds is refused (429) until the window has passed, the right
token included. Counted per process: with N processes an address gets N times the attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "chatbot_admin"
SESSION_SECONDS = 12 * 3600
FAIL_DELAY = 1.0  # seconds before a wrong token is answered
MAX_FAILURES = 5  # wrong tokens per address per WINDOW, then 429
WINDOW = 600.0
MAX_ADDRESSES = 10_000


def _derive(token: str, purpose: str) -> bytes:
    return hmac.new(token.encode(), f"chatbot console {purpose} v1".encode(), "sha256").digest()


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    expires: int


class Sessions:
    def __init__(
        self,
        token: str,
        *,
        lifetime: int = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        # Only digests of the token are kept: comparing them takes the same time whatever
        # was typed, its length included.
        self._token_digest = hashlib.sha256(token.encode()).digest()
        self._session_key = _derive(token, "session")
        self._csrf_key = _derive(token, "csrf")
        self.lifetime = lifetime
        self.clock = clock

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token_digest)

    def _sign(self, body: str) -> str:
        return hmac.new(self._session_key, body.encode(), "sha256").hexdigest()

    def issue(self) -> str:
        body = f"{int(self.clock()) + self.lifetime}.{secrets.token_urlsafe(18)}"
        return f"{body}.{self._sign(body)}"

    def check(self, cookie: str | None) -> Session | None:
        if not cookie or cookie.count(".") != 2:
            return None
        expires, nonce, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{expires}.{nonce}")):
            return None
        if not expires.isdigit() or int(expires) < self.clock():
            return None
        return Session(nonce=nonce, expires=int(expires))

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), "sha256").hexdigest()

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf_token(session))


class LoginLimiter:
    """Wrong tokens per client address, in a sliding window."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float]:
        found = self._failures.get(address)
        if found is None:
            return deque()
        cutoff = self.clock() - self.window
        while found and found[0] <= cutoff:
            found.popleft()
        return found

    def retry_after(self, address: str) -> float | None:
        """Seconds until the address may try again; None: it may now."""
        recent = self._recent(address)
        if len(recent) < self.max_failures:
            return None
        return max(1.0, recent[0] + self.window - self.clock())

    def failed(self, address: str) -> None:
        recent = self._recent(address)
        recent.append(self.clock())
        self._failures[address] = recent
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
