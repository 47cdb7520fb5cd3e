"""Markdown (what models write) to Slack mrkdwn, leaving code alone; and never a ping.

Slack's `text` field speaks mrkdwn: `*bold*`, `_italic_`, `~strike~`, `<url|label>`, no headings,
and `&`, `<`, `>` are control characters. Escaping those three everywhere (code included: Slack
decodes the entities there too) is also what keeps model output from pinging anyone, because
`<!everyone>`, `<!channel>`, `<!here>` and `<@U…>` only work as raw `<…>` sequences.

The stream API takes standard markdown (`markdown_text`) instead; `defuse_markdown` breaks the
same control sequences there without touching anything else.
"""

from __future__ import annotations

import re

# A fenced block (``` … ```, the info string dropped: Slack would show it as code) or `inline`.
_CODE = re.compile(r"```[^\n`]*\n?(.*?)```|`[^`\n]+`", re.DOTALL)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD_MARK = "\x00"  # stands in for `*` of converted bold, so the italic pass leaves it alone

# `<!here>`, `<!channel>`, `<!everyone>`, `<!subteam^…>`, `<@U…>`, `<#C…>`: Slack's pings.
_CONTROL = re.compile(r"<(?=[!@#])")
_WORD_JOINER = "\u2060"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _prose(text: str) -> str:
    text = escape(text)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return text.replace(_BOLD_MARK, "*")


def to_mrkdwn(markdown: str) -> str:
    """Convert the prose; code blocks and inline code keep their text (only escaped)."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(markdown):
        out.append(_prose(markdown[pos : m.start()]))
        if m.group(0).startswith("```"):
            body = m.group(1)
            out.append("```\n" + escape(body.rstrip("\n")) + "\n```")
        else:
            out.append(escape(m.group(0)))
        pos = m.end()
    out.append(_prose(markdown[pos:]))
    return "".join(out)


def defuse_markdown(markdown: str) -> str:
    """For `markdown_text`: break `<!…>`, `<@…>`, `<#…>` with an invisible word joiner."""
    return _CONTROL.sub("<" + _WORD_JOINER, markdown)
