"""What the Slack adapter is configured with (read from the environment by chatbot/config.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_COMMAND = "/chatbot"
# How the thread shows that the model is working (CHATBOT_SLACK_STATUS):
# "auto": agents.sessions.setStatus where the installed slack-sdk offers it, falling back for
# good to assistant.threads.setStatus in a workspace whose app is not set up for it;
# "assistant": assistant.threads.setStatus only; "off": no status.
STATUS_MODES = ("auto", "assistant", "off")
# What a distributed install asks for: exactly slack/manifest.yaml's bot scopes (a test checks).
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "channels:read",
    "chat:write",
    "chat:write.customize",
    "commands",
    "files:read",
    "groups:history",
    "groups:read",
    "im:history",
    "mpim:history",
    "users:read",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


@dataclass(frozen=True, slots=True)
class SlackSettings:
    # One workspace: the bot token pasted from the app's settings (SLACK_BOT_TOKEN) ...
    bot_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)  # HTTP Events API
    app_token: str | None = field(default=None, repr=False)  # Socket Mode
    api_url: str = DEFAULT_API_URL
    # ... or installed to many through OAuth (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET).
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None  # SLACK_REDIRECT_URI; None: the app's configured one
    # Installations, OAuth states and agent-view contexts live in the app's database.
    database_url: str = field(default="", repr=False)
    command: str = DEFAULT_COMMAND  # CHATBOT_SLACK_COMMAND, the slash command
    status: str = "auto"  # CHATBOT_SLACK_STATUS, one of STATUS_MODES

    @property
    def base_url(self) -> str:
        # AsyncWebClient joins method names onto the base URL: it needs the trailing slash.
        return self.api_url if self.api_url.endswith("/") else self.api_url + "/"

    @property
    def distributed(self) -> bool:
        """Installed to many workspaces through OAuth, not one with a pasted token."""
        return self.client_id is not None and self.client_secret is not None

    @property
    def oauth_url(self) -> str:
        """Where people authorise the app: slack.com's page beside the Web API's URL."""
        base = self.base_url.removesuffix("/").removesuffix("/api")
        return f"{base}/oauth/v2/authorize"
