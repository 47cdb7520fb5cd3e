"""The slash command (`/chatbot`, CHATBOT_SLACK_COMMAND), over HTTP and Socket Mode alike.

- `help`, `reset`, `usage`, `memory` (and nothing: `help`) go to the core by name
  (`ChatService.command`), with the same permissions as `@chatbot reset` in the channel; the
  reply is ephemeral (only the person sees it), through the command's `response_url`, which
  works even where the app is not a member.
- `ask <question>` is a question to the bot: the app posts "*name* asks: question" in the
  channel and answers in that post's thread, as it answers a mention (status, stream, memory).
  Where it may not post, the person is told ephemerally, with their question to copy back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError

from adapters.slack.api import REASONS, SlackWeb, error_code
from adapters.slack.inbound import PLATFORM, SlackInbound, channel_key, message_id
from adapters.slack.mrkdwn import escape, to_mrkdwn
from adapters.slack.place import ThreadPlace
from bot.delivery import ReplyMeta, ReplyTarget
from bot.errors import ErrorKind
from bot.service import ChatService
from bot.splitting import utf8_len
from bot.types import Author, IncomingMessage

log = logging.getLogger(__name__)

CORE_COMMANDS = ("help", "reset", "usage", "memory")
MAX_BYTES = 3_500


class EphemeralReply:
    """The core's reply target for a slash command: only the person who asked sees it."""

    max_length = MAX_BYTES

    def __init__(self, respond: AsyncRespond):
        self.respond = respond

    def measure(self, text: str) -> int:
        return utf8_len(to_mrkdwn(text))

    async def send(self, text: str, meta: ReplyMeta) -> None:
        body = to_mrkdwn(text)
        if meta.error is not None and meta.error is not ErrorKind.USAGE:
            body = f"⚠️ {body}"
        await self.respond(text=body, response_type="ephemeral", replace_original=False)


def usage_line(command: str) -> str:
    return (
        f"Try `{command} help`, `{command} reset`, `{command} usage`, `{command} memory`, "
        f"or `{command} ask <question>`."
    )


ThreadTarget = Callable[[SlackWeb, ThreadPlace], ReplyTarget]


class SlashCommand:
    def __init__(self, service: ChatService, inbound: SlackInbound, name: str):
        self.service = service
        self.inbound = inbound
        self.name = name  # "/chatbot"

    async def run(
        self,
        web: SlackWeb,
        command: dict[str, Any],
        respond: AsyncRespond,
        thread_target: ThreadTarget,
    ) -> None:
        text = str(command.get("text") or "").strip()
        word, _, rest = text.partition(" ")
        word = word.lower() or "help"
        user = str(command.get("user_id") or "")
        team = str(command.get("team_id") or "")
        channel = str(command.get("channel_id") or "")
        if not (user and team and channel):
            log.warning("a slash command without user, team or channel: ignored")
            return
        author = Author(id=user, name=await self.inbound.names.name(web, {"user": user}))
        direct = command.get("channel_name") == "directmessage" or channel.startswith("D")
        reply = EphemeralReply(respond)
        if word == "ask":
            await self._ask(web, rest.strip(), author, team, channel, direct, reply, thread_target)
            return
        if word not in CORE_COMMANDS:
            await reply.send(usage_line(self.name), ReplyMeta(self.service.name))
            return
        message = IncomingMessage(
            platform=PLATFORM,
            channel=channel_key(team, channel),
            message_id=None,
            author=author,
            text=text,
            is_direct=direct,
        )
        await self.service.command(word, message, reply)

    async def _ask(
        self,
        web: SlackWeb,
        question: str,
        author: Author,
        team: str,
        channel: str,
        direct: bool,
        reply: EphemeralReply,
        thread_target: ThreadTarget,
    ) -> None:
        meta = ReplyMeta(self.service.name)
        if not question:
            await reply.send(f"Write the question after `ask`: `{self.name} ask what is …?`", meta)
            return
        try:
            posted = await web.call(
                "chat.postMessage",
                channel=channel,
                text=f"*{escape(author.name)} asks:* {escape(question)}",
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            code = error_code(exc)
            why = REASONS.get(code, code or "Slack refused")
            await reply.send(
                f"I could not post your question here ({why}). Ask me in a DM, or invite me "
                f"with `/invite @{self.service.name}`. Your question was:\n> {question}",
                ReplyMeta(self.service.name, error=ErrorKind.NOT_STORED),
            )
            return
        ts = str(posted.get("ts") or "")
        if not ts:
            return
        # The question starts a thread: its conversation, and the answer's place.
        message = IncomingMessage(
            platform=PLATFORM,
            channel=channel_key(team, channel, ts),
            message_id=message_id(channel, ts),
            author=author,
            text=question,
            is_direct=direct,
            asks=self.service.name,
        )
        place = ThreadPlace(channel=channel, thread_ts=ts, team=team, user=author.id)
        await self.service.receive(message, thread_target(web, place))
