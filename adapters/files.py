"""Downloading a platform's files, from its own file hosts only (no server-side request forgery).

Discord and Slack give us URLs of attachments; a URL someone typed is never fetched. Each URL
must be on an allowed host (`CHATBOT_FILE_HOSTS`, by default Discord's CDN and Slack's file
host; tests name a loopback stub), over http(s). Redirects are followed by hand, only to an
allowed host, at most three, and a token never travels to a host other than the one it was
meant for. The body is read up to the limit the core gives and refused past it, so a file that
lies about its size costs at most the limit. Adapters build one FileDownloads each and hand the
core an `Attachment` whose `fetch` calls it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from bot.attachments import FileRefused, megabytes

log = logging.getLogger(__name__)

DEFAULT_FILE_HOSTS = ("cdn.discordapp.com", "media.discordapp.net", "files.slack.com")
MAX_REDIRECTS = 3
CHUNK = 256 * 1024


def _entry(raw: str) -> tuple[str, int | None]:
    """`host` or `host:port` (an `[ipv6]:port` too); a scheme or path is ignored."""
    raw = raw.strip().lower()
    if "//" in raw:
        raw = urlsplit(raw).netloc
    raw = raw.split("/", 1)[0]
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, sep, port = raw.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return raw, None


class HostPolicy:
    def __init__(self, hosts: tuple[str, ...] = DEFAULT_FILE_HOSTS):
        self.entries = [_entry(h) for h in hosts if h.strip()]

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
            return False
        host = parts.hostname.lower()
        for allowed, allowed_port in self.entries:
            if host == allowed and (allowed_port is None or allowed_port == port):
                return True
        return False


def _same_host(a: str, b: str) -> bool:
    return urlsplit(a).netloc.lower() == urlsplit(b).netloc.lower()


class FileDownloads:
    """GETs files from allowed hosts with aiohttp (imported when the first file is fetched)."""

    def __init__(self, hosts: tuple[str, ...] = DEFAULT_FILE_HOSTS, *, timeout: float = 30.0):
        self.policy = HostPolicy(hosts)
        self.timeout = timeout
        self._session: object | None = None
        self._lock = asyncio.Lock()

    async def _client(self) -> object:
        async with self._lock:
            if self._session is None:
                import aiohttp

                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                    trust_env=False,  # no proxy from the environment: the hosts are the hosts
                )
            return self._session

    async def fetch(
        self, name: str, url: str, limit: int, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """The file's bytes, at most `limit` of them. Raises FileRefused with the line to show."""
        import aiohttp

        if not self.policy.allows(url):
            log.warning("not fetching %s: %s is not an allowed file host", name, _host(url))
            raise FileRefused(f"{name} is not on a file host I may download from.")
        session = await self._client()
        assert isinstance(session, aiohttp.ClientSession)
        sent = dict(headers or {})
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with session.get(url, headers=sent, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        target = urljoin(url, resp.headers.get("Location", ""))
                        if not self.policy.allows(target):
                            log.warning(
                                "not following %s to %s: not an allowed file host",
                                name,
                                _host(target),
                            )
                            raise FileRefused(f"{name} is not on a file host I may download from.")
                        if not _same_host(url, target):
                            sent = {}  # the platform's token is for the platform's host
                        url = target
                        continue
                    if resp.status != 200:
                        raise FileRefused(f"{name} could not be downloaded (HTTP {resp.status}).")
                    if resp.content_length is not None and resp.content_length > limit:
                        raise FileRefused(f"{name} is over the {megabytes(limit)} limit.")
                    body = bytearray()
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        body += chunk
                        if len(body) > limit:
                            raise FileRefused(f"{name} is over the {megabytes(limit)} limit.")
                    return bytes(body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("downloading %s failed: %s", name, exc.__class__.__name__)
                raise FileRefused(f"{name} could not be downloaded.") from exc
        raise FileRefused(f"{name} could not be downloaded (too many redirects).")

    async def close(self) -> None:
        session, self._session = self._session, None
        close = getattr(session, "close", None)
        if close is not None:
            await close()


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc[:100] or "?"
    except ValueError:
        return "?"
