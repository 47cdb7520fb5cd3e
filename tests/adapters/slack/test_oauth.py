"""Installing to many workspaces: bolt's real OAuth flow, installations in our database.

The app runs with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (no bot token); the stub plays
slack.com's `oauth.v2.access` and knows which workspace each token belongs to, so every call
says whose token answered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from memory.slack_installations import slack_bots, slack_installations, slack_oauth_states
from testing.stubs.model_server import ModelServer, Reply
from testing.stubs.slack_api import CLIENT_ID, CLIENT_SECRET, SlackAPI, Workspace
from tests.helpers import RunningApp, settings_for, start_app
from tests.slack_support import SECRET, Events, message

ONE = Workspace("T0ONE", name="One", bot_user="U0BOTONE", bot_id="B0BOTONE")
TWO = Workspace("T0TWO", name="Two", bot_user="U0BOTTWO", bot_id="B0BOTTWO")
COOKIE = "slack-app-oauth-state"


def oauth_env(db_url: str, model: ModelServer, slack: SlackAPI) -> dict[str, str]:
    return {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
    }


@pytest.fixture
async def distributed(
    db_url: str, model: ModelServer, slack: SlackAPI
) -> AsyncIterator[RunningApp]:
    slack.strict_tokens = True  # a token Slack did not issue through OAuth is refused
    running = await start_app(settings_for(db_url, model.url, **oauth_env(db_url, model, slack)))
    yield running
    await running.stop()


@pytest.fixture
async def web(distributed: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=distributed.http, timeout=10) as client:
        yield client


async def install_page(web: httpx.AsyncClient) -> tuple[str, str]:
    """GET /slack/install: the "Add to Slack" link's state, and the cookie that carries it."""
    page = await web.get("/slack/install")
    assert page.status_code == 200 and "Add to Slack" in page.text
    link = re.search(r'<a href="([^"]+)"', page.text)
    assert link is not None
    url = urlparse(link.group(1).replace("&amp;", "&"))
    query = parse_qs(url.query)
    assert url.path == "/oauth/v2/authorize" and query["client_id"] == [CLIENT_ID]
    assert "chat:write.customize" in query["scope"][0].split(",")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    state = query["state"][0]
    assert cookie.startswith(f"{COOKIE}={state};")
    return state, f"{COOKIE}={state}"


async def redirect(
    web: httpx.AsyncClient, code: str, state: str, cookie: str | None
) -> httpx.Response:
    """Slack sends the installer's browser back with a code and our state."""
    headers = {"Cookie": cookie} if cookie else {}
    return await web.get(
        "/slack/oauth_redirect", params={"code": code, "state": state}, headers=headers
    )


async def install(web: httpx.AsyncClient, slack: SlackAPI, workspace: Workspace) -> str:
    state, cookie = await install_page(web)
    done = await redirect(web, slack.issue_code(workspace), state, cookie)
    assert done.status_code == 200, done.text
    return next(t for t, w in reversed(slack.tokens.items()) if w is workspace)


async def rows(db_url: str, table: object) -> list[dict[str, object]]:
    engine = create_async_engine(db_url)
    async with engine.connect() as conn:
        found = [dict(r) for r in (await conn.execute(select(table))).mappings()]  # type: ignore[call-overload]
    await engine.dispose()
    return found


def answered_with(slack: SlackAPI) -> list[str]:
    """The token of every call that put an answer into Slack."""
    sent = ("chat.startStream", "chat.postMessage")
    return [slack.token_of(c) for c in slack.calls if c.method in sent]


async def test_install_page_state_check_and_code_exchange_store_the_installation(
    distributed: RunningApp, web: httpx.AsyncClient, slack: SlackAPI, db_url: str
) -> None:
    state, cookie = await install_page(web)
    assert [r["state"] for r in await rows(db_url, slack_oauth_states)] == [state]
    done = await redirect(web, slack.issue_code(ONE), state, cookie)
    assert done.status_code == 200
    exchange = slack.of("oauth.v2.access")
    assert len(exchange) == 1 and exchange[0].headers["Authorization"].startswith("Basic ")
    [installed] = await rows(db_url, slack_installations)
    token = installed["bot_token"]
    assert isinstance(token, str) and slack.tokens[token] is ONE
    assert (installed["team_id"], installed["client_id"]) == ("T0ONE", CLIENT_ID)
    assert installed["bot_user_id"] == "U0BOTONE" and installed["bot_id"] == "B0BOTONE"
    assert [b["team_id"] for b in await rows(db_url, slack_bots)] == ["T0ONE"]
    assert await rows(db_url, slack_oauth_states) == []  # consumed


async def test_a_forged_or_replayed_state_is_refused_and_no_code_is_exchanged(
    distributed: RunningApp, web: httpx.AsyncClient, slack: SlackAPI, db_url: str
) -> None:
    state, cookie = await install_page(web)
    code = slack.issue_code(ONE)
    # A state we never issued, with a cookie to match (a forger controls both).
    forged = await redirect(web, code, "forged-state", f"{COOKIE}=forged-state")
    # Our state, but not from the browser that started the install (no cookie).
    other_browser = await redirect(web, code, state, None)
    assert (forged.status_code, other_browser.status_code) == (401, 400)
    assert slack.of("oauth.v2.access") == []
    assert (await redirect(web, code, state, cookie)).status_code == 200
    replayed = await redirect(web, slack.issue_code(ONE), state, cookie)
    assert replayed.status_code == 401
    assert len(slack.of("oauth.v2.access")) == 1
    assert len(await rows(db_url, slack_installations)) == 1


async def test_two_workspaces_are_each_answered_with_their_own_token(
    distributed: RunningApp,
    web: httpx.AsyncClient,
    slack: SlackAPI,
    model: ModelServer,
) -> None:
    one, two = await install(web, slack, ONE), await install(web, slack, TWO)
    assert one != two
    events = Events(distributed)
    model.then(Reply("hello one"), Reply("hello two"))
    await events.send(message("<@U0BOTONE> hi from one", team="T0ONE"))
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 1)
    await events.send(message("<@U0BOTTWO> hi from two", team="T0TWO"))
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 2)
    assert answered_with(slack) == [one, two]
    assert {slack.token_of(c) for c in slack.of("chat.appendStream")} <= {one, two}
    memory = distributed.app.state.service.memory
    assert [m.text for m in await memory.recent("slack:T0ONE:C0CHAN", 10)] == [
        "@chatbot hi from one",
        "hello one",
    ]
    assert [m.text for m in await memory.recent("slack:T0TWO:C0CHAN", 10)][0] == (
        "@chatbot hi from two"
    )
    await events.close()


async def test_uninstall_forgets_the_installation_and_stops_answering_memory_stays(
    distributed: RunningApp,
    web: httpx.AsyncClient,
    slack: SlackAPI,
    model: ModelServer,
    db_url: str,
) -> None:
    await install(web, slack, ONE)
    two = await install(web, slack, TWO)
    events = Events(distributed)
    await events.send(message("<@U0BOTONE> remember me", team="T0ONE"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    gone = await events.send({"type": "app_uninstalled"}, team="T0ONE")
    assert gone.status_code == 200
    await slack.wait_quiet(0.3)
    assert {r["team_id"] for r in await rows(db_url, slack_installations)} == {"T0TWO"}
    assert {r["team_id"] for r in await rows(db_url, slack_bots)} == {"T0TWO"}
    asked = len(model.chat_requests())
    await events.send(message("<@U0BOTONE> are you there?", team="T0ONE"))
    await slack.wait_quiet(0.4)
    assert len(model.chat_requests()) == asked  # not answered, nothing posted
    assert len(answered_with(slack)) == 1
    memory = distributed.app.state.service.memory
    assert [m.text for m in await memory.recent("slack:T0ONE:C0CHAN", 10)][0] == (
        "@chatbot remember me"
    )
    # The other workspace is still answered; and a revoked bot token uninstalls too.
    await events.send(message("<@U0BOTTWO> still here?", team="T0TWO"))
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 2)
    assert answered_with(slack)[-1] == two
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOTTWO"]}}
    assert (await events.send(revoked, team="T0TWO")).status_code == 200
    await slack.wait_quiet(0.3)
    assert await rows(db_url, slack_installations) == []
    await events.close()


async def test_an_expiring_token_is_rotated_and_the_new_one_answers(
    distributed: RunningApp,
    web: httpx.AsyncClient,
    slack: SlackAPI,
    db_url: str,
) -> None:
    slack.rotation_seconds = 600  # expires within bolt's two-hour window: rotate at once
    first = await install(web, slack, ONE)
    events = Events(distributed)
    await events.send(message("<@U0BOTONE> rotate please", team="T0ONE"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    refreshes = [c for c in slack.of("oauth.v2.access") if c.params.get("grant_type")]
    assert len(refreshes) == 1 and refreshes[0].params["grant_type"] == "refresh_token"
    rotated = answered_with(slack)[0]
    assert rotated != first and slack.tokens[rotated] is ONE
    saved = {r["bot_token"] for r in await rows(db_url, slack_installations)}
    assert rotated in saved  # the next process (or restart) starts from the new token
    await events.close()


async def test_every_process_sees_every_installation(
    distributed: RunningApp,
    web: httpx.AsyncClient,
    slack: SlackAPI,
    model: ModelServer,
    db_url: str,
) -> None:
    token = await install(web, slack, ONE)
    other = await start_app(settings_for(db_url, model.url, **oauth_env(db_url, model, slack)))
    try:
        events = Events(other)  # installed through the first process, answered by the second
        await events.send(message("<@U0BOTONE> from the other process", team="T0ONE"))
        await slack.wait_for(lambda: slack.of("chat.stopStream"))
        assert answered_with(slack) == [token]
        await events.close()
    finally:
        await other.stop()


async def test_without_oauth_settings_there_is_no_install_page(slack_app: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=slack_app.http) as http:
        assert (await http.get("/slack/install")).status_code == 404
        assert (await http.get("/slack/oauth_redirect?code=x&state=y")).status_code == 404


async def drop(db_url: str, table: str) -> None:
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {table}"))
    await engine.dispose()


async def test_a_database_that_fails_mid_install_is_a_clear_page_not_a_traceback(
    distributed: RunningApp, web: httpx.AsyncClient, slack: SlackAPI, db_url: str
) -> None:
    state, cookie = await install_page(web)
    await drop(db_url, "slack_installations")
    failed = await redirect(web, slack.issue_code(ONE), state, cookie)
    assert failed.status_code == 500 and "Traceback" not in failed.text
    assert "storage_error" in failed.text  # bolt's failure page, with its reason
    await drop(db_url, "slack_oauth_states")
    page = await web.get("/slack/install")
    assert page.status_code == 503 and "try again" in page.text
    assert (await web.get("/healthz")).status_code == 200  # the service is still up
