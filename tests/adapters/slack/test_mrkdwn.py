"""Markdown → mrkdwn, code left alone, and no pings; plus the Slack settings."""

from __future__ import annotations

from pathlib import Path

from adapters.slack.inbound import BotIdentity, normalise
from adapters.slack.mrkdwn import defuse_markdown, to_mrkdwn
from adapters.slack.settings import SlackSettings
from chatbot.config import AppSettings


def test_prose_is_converted() -> None:
    assert to_mrkdwn("**bold** and *italic* and ~~gone~~") == "*bold* and _italic_ and ~gone~"
    assert to_mrkdwn("__also bold__") == "*also bold*"
    assert to_mrkdwn("## A heading\ntext") == "*A heading*\ntext"
    assert to_mrkdwn("- one\n* two\n  + three") == "• one\n• two\n  • three"
    assert (
        to_mrkdwn("see [the docs](https://x.io/a?b=1&c=2)")
        == "see <https://x.io/a?b=1&amp;c=2|the docs>"
    )


def test_code_is_left_alone() -> None:
    md = "Use `**kwargs` here:\n```python\nx = a ** 2 * b  # *not italic*\n```\nthen **done**"
    assert to_mrkdwn(md) == (
        "Use `**kwargs` here:\n```\nx = a ** 2 * b  # *not italic*\n```\nthen *done*"
    )


def test_control_characters_escaped_so_nothing_pings() -> None:
    out = to_mrkdwn("a < b & c > d <!everyone> <!here> <!channel> <@U123> `<!here>`")
    assert "<" not in out and ">" not in out
    assert out.startswith("a &lt; b &amp; c &gt; d &lt;!everyone&gt;")
    assert out.endswith("`&lt;!here&gt;`")


def test_markdown_for_streams_is_defused_but_otherwise_untouched() -> None:
    out = defuse_markdown("**hi** <!here> <@U1> <#C1> a<b")
    assert "<!here>" not in out and "<@U1>" not in out and "<#C1>" not in out
    assert out.replace("\u2060", "") == "**hi** <!here> <@U1> <#C1> a<b"


def test_bot_mention_becomes_the_tag_where_it_was_written_others_stay() -> None:
    me = BotIdentity(user_id="U0BOT", bot_id="B0BOT")
    assert normalise("<@U0BOT> hi <@U0ALICE>", me, "chatbot") == ("@chatbot hi <@U0ALICE>", True)
    # a mention later in the message stays where it was; the core hears it was there
    assert normalise("thanks <@U0BOT|chatbot>!", me, "chatbot") == ("thanks @chatbot!", True)
    assert normalise("hi <@U0ALICE>", me, "chatbot") == ("hi <@U0ALICE>", False)


def slack_from(env: dict[str, str]) -> SlackSettings | None:
    return AppSettings.from_env(env).slack


def test_slack_settings_need_a_token_and_a_transport() -> None:
    assert slack_from({"SLACK_BOT_TOKEN": "xoxb-1"}) is None
    assert slack_from({"SLACK_SIGNING_SECRET": "s"}) is None
    http = slack_from({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert http is not None and http.base_url == "https://slack.com/api/"
    sock = slack_from(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_API_URL": "http://h/api"}
    )
    assert sock is not None and sock.base_url == "http://h/api/"
    assert "xoxb-1" not in repr(sock) and "xapp-1" not in repr(sock)


def test_manifest_asks_for_exactly_what_the_adapter_uses() -> None:
    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[3] / "slack" / "manifest.yaml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "chat:write",
        "users:read",
        "files:read",
    }
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"].endswith("/slack/events")
    assert set(events["bot_events"]) == {
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
        "message.mpim",
    }


def test_thread_target_labels_personas_and_styles_error_lines() -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack.api import SlackWeb
    from adapters.slack.target import SlackThreadTarget, ThreadPlace
    from bot.delivery import ReplyMeta
    from bot.errors import ErrorKind

    web = SlackWeb(AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"))
    target = SlackThreadTarget(web, ThreadPlace("C1", "1.2"), default_persona="chatbot")
    assert target.render("**hi**", ReplyMeta(persona="chatbot")) == "*hi*"
    assert target.render("**hi**", ReplyMeta(persona="summary")) == "*summary:* *hi*"
    error = target.render("The model timed out.", ReplyMeta("chatbot", error=ErrorKind.TIMEOUT))
    assert error == "⚠️ _The model timed out._"
    assert target.measure("<!here>") == len("&lt;!here&gt;")
