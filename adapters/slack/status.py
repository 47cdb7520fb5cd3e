"""The thread's loading status while the model works ("is thinking…"), cleared by the answer.

Two Web API methods show it:
- `agents.sessions.setStatus` (`processing`, then `active` once the answer is there): the agent
  session Slack shows for apps declared as agents (the manifest's `agent_view`), with a title
  and a stop button. Used where the installed slack-sdk offers it (CHATBOT_SLACK_STATUS=auto).
- `assistant.threads.setStatus` (a line of text; empty clears it), which channel apps may call
  with `chat:write`. Used when the app is not set up for sessions: the first refusal that says
  so (an unknown method, a missing scope, ...) switches that workspace over for good, in this
  process. `CHATBOT_SLACK_STATUS=assistant` uses it always; `off`, neither.

A status is decoration: a failure is logged and never delays or breaks the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import SlackWeb, error_code
from adapters.slack.looks import Look
from adapters.slack.place import ThreadPlace as Where

log = logging.getLogger(__name__)

THINKING = "is thinking…"
TITLE_LENGTH = 60  # Slack allows 200; a title is for recognising a conversation in a list
# Refusals that mean "this app has no agent sessions here", not a passing failure.
NO_SESSIONS = frozenset(
    {
        "unknown_method",
        "method_deprecated",
        "missing_scope",
        "not_allowed_token_type",
        "invalid_arguments",
        "not_allowed",
        "feature_not_enabled",
    }
)


def title_of(question: str) -> str:
    """A conversation's title: its first question, on one line, shortened at a word."""
    line = " ".join(question.split())
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[: TITLE_LENGTH - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


class ThinkingStatus:
    """One per adapter: remembers the workspaces whose app cannot use agent sessions."""

    def __init__(self, mode: str = "auto"):
        self.mode = mode
        self.sessions = mode == "auto" and hasattr(AsyncWebClient, "agents_sessions_setStatus")
        self._no_sessions: set[str] = set()

    def _sessions_in(self, team: str | None) -> bool:
        return self.sessions and (team or "") not in self._no_sessions

    async def show(self, web: SlackWeb, where: Where, look: Look, title: str | None) -> bool:
        """Show the status (and give a new conversation its title); True if one is shown."""
        if self.mode == "off":
            await self._title(web, where, title)
            return False
        if self._sessions_in(where.team):
            sent = await self._call(
                web,
                "agents.sessions.setStatus",
                where,
                status="processing",
                title=title,
                initiator_user_id=where.user,
                **look.params(),
            )
            if sent is not None:
                return sent
        await self._title(web, where, title)
        return (
            await self._call(
                web, "assistant.threads.setStatus", where, status=THINKING, **look.params()
            )
            is True
        )

    async def clear(self, web: SlackWeb, where: Where) -> None:
        if self._sessions_in(where.team):
            done = await self._call(web, "agents.sessions.setStatus", where, status="active")
            if done is not None:
                return
        await self._call(web, "assistant.threads.setStatus", where, status="")

    async def _title(self, web: SlackWeb, where: Where, title: str | None) -> None:
        if title:
            await self._call(web, "assistant.threads.setTitle", where, title=title)

    async def _call(
        self, web: SlackWeb, method: str, where: Where, **params: str | None
    ) -> bool | None:
        """True: done; False: failed; None: this workspace has no agent sessions after all."""
        body: dict[str, Any] = {"channel_id": where.channel, "thread_ts": where.thread_ts, **params}
        try:
            await web.call(method, retry=False, **body)
            return True
        except SlackApiError as exc:
            code = error_code(exc)
            if method.startswith("agents.") and code in NO_SESSIONS:
                log.info(
                    "slack %s refused (%s): using assistant.threads.setStatus in %s",
                    method,
                    code,
                    where.team or "this workspace",
                )
                self._no_sessions.add(where.team or "")
                return None
            log.warning("slack %s failed (%s); the answer goes on", method, code)
        except Exception:
            log.exception("slack %s failed; the answer goes on", method)
        return False
