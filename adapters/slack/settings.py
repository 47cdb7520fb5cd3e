"""What the Slack adapter is configured with (read from the environment by chatbot/config.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    signing_secret: str | None = field(default=None, repr=False)  # HTTP Events API
    app_token: str | None = field(default=None, repr=False)  # Socket Mode
    api_url: str = DEFAULT_API_URL

    @property
    def base_url(self) -> str:
        # AsyncWebClient joins method names onto the base URL: it needs the trailing slash.
        return self.api_url if self.api_url.endswith("/") else self.api_url + "/"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackSettings | None:
        """None unless SLACK_BOT_TOKEN and a transport (signing secret or app token) are set."""
        token = env.get("SLACK_BOT_TOKEN", "").strip()
        secret = env.get("SLACK_SIGNING_SECRET", "").strip() or None
        app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
        if not token or not (secret or app_token):
            return None
        return cls(
            bot_token=token,
            signing_secret=secret,
            app_token=app_token,
            api_url=env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL,
        )
