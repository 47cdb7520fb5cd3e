"""What the Slack adapter is configured with (read from the environment by chatbot/config.py)."""

from __future__ import annotations

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
