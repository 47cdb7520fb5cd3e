"""`GET /admin` and its routes: the operator's console (mounted only with CHATBOT_ADMIN_TOKEN).

Without a session only the login form (GET /admin), the login itself and its stylesheet answer;
every other route answers 401. Every change (POST) needs the session, its CSRF token in
`X-CSRF-Token` and, when the browser sends one, a same-origin `Origin`. The page carries the
chat page's Content-Security-Policy (adapters/web/page.py): its own scripts and styles only.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from adapters.web.page import PAGE_HEADERS
from bot.service import ChatService
from bot.spending import PERIODS, SCOPES, Subjects, label, resets_at
from bot.types import ChannelSettings, Limit, utcnow
from chatbot.check_report import check_lines, provider_states, unpriced_models
from chatbot.config import AppSettings
from chatbot.console import auth
from chatbot.console.auth import COOKIE, LoginLimiter, Session, Sessions
from chatbot.tool_report import toolbox_lines
from memory import console_queries as q
from memory.store import SQLStore

log = logging.getLogger(__name__)

HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}
STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
PUBLIC_STATIC = {"console.css"}  # the login form's style; nothing else without a session
MAX_BODY = 64 * 1024
MAX_PROMPT = 8_000
MAX_LIMITS = 20


def _read(name: str) -> str:
    return resources.files("chatbot.console").joinpath(f"static/{name}").read_text("utf-8")


def _limit_json(limit: Limit) -> dict[str, Any]:
    return {
        "scope": limit.scope,
        "period": limit.period,
        "tokens": limit.tokens,
        "cost_usd": limit.cost_usd,
        "tag": limit.tag,
        "label": label(limit),
    }


def _limits_json(limits: tuple[Limit, ...] | None) -> list[dict[str, Any]] | None:
    return None if limits is None else [_limit_json(x) for x in limits]


class BadInput(ValueError):
    pass


def parse_limits(raw: object) -> tuple[Limit, ...] | None:
    """A channel's limits from the page: None (the file's), or a list of
    {scope, period, tokens | cost_usd}."""
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_LIMITS:
        raise BadInput(f"limits: a list of at most {MAX_LIMITS}, or null for the file's")
    found = []
    for i, one in enumerate(raw):
        if not isinstance(one, dict):
            raise BadInput(f"limits[{i}]: expected an object")
        scope, period = one.get("scope"), one.get("period")
        if scope not in SCOPES:
            raise BadInput(f"limits[{i}].scope: one of {', '.join(SCOPES)}")
        if period not in PERIODS:
            raise BadInput(f"limits[{i}].period: one of {', '.join(PERIODS)}")
        tokens, cost = one.get("tokens"), one.get("cost_usd")
        if (tokens is None) == (cost is None):
            raise BadInput(f"limits[{i}]: set tokens or cost_usd (one of them)")
        if tokens is not None and (
            isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1
        ):
            raise BadInput(f"limits[{i}].tokens: a whole number, at least 1")
        if cost is not None and (
            isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 < cost < 1e9
        ):
            raise BadInput(f"limits[{i}].cost_usd: a number more than 0")
        found.append(
            Limit(scope, period, tokens=tokens, cost_usd=float(cost) if cost is not None else None)
        )
    return tuple(found)


def build_console_router(
    settings: AppSettings,
    service: ChatService,
    store: SQLStore,
    *,
    fail_delay: float | None = None,
    limiter: LoginLimiter | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> APIRouter:
    assert settings.admin_token, "the console is mounted only with CHATBOT_ADMIN_TOKEN"
    sessions = Sessions(settings.admin_token)
    limiter = limiter or LoginLimiter()
    router = APIRouter()
    login_page = _read("login.html")
    console_page = _read("console.html")
    files = {name: _read(name) for name in STATIC}

    def session_of(request: Request) -> Session | None:
        return sessions.check(request.cookies.get(COOKIE))

    def login_form(problem: str = "", status: int = 200, **headers: str) -> HTMLResponse:
        error = f'<p class="error" role="alert">{html.escape(problem)}</p>' if problem else ""
        return HTMLResponse(
            login_page.replace("{{error}}", error),
            status_code=status,
            headers={**HEADERS, **headers},
        )

    def refused() -> JSONResponse:
        return JSONResponse({"error": "login"}, status_code=401, headers=HEADERS)

    def same_origin(request: Request) -> bool:
        """No sign of another site. Under the page's `Referrer-Policy: no-referrer` browsers
        send `Origin: null` for its own posts, so the Fetch Metadata header decides then."""
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin not in (None, "null") and origin != own:
            return False
        return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")

    async def change(
        request: Request, act: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> JSONResponse:
        session = session_of(request)
        if session is None:
            return refused()
        if not same_origin(request):
            return JSONResponse({"error": "csrf", "detail": "another origin"}, 403, HEADERS)
        if not sessions.csrf_ok(session, request.headers.get("x-csrf-token")):
            return JSONResponse({"error": "csrf", "detail": "missing or wrong token"}, 403, HEADERS)
        body = await request.body()
        try:
            if len(body) > MAX_BODY:
                raise BadInput("the request is too big")
            data = json.loads(body or b"{}")
            if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
                raise BadInput("expected a JSON object with a channel")
            return JSONResponse(await act(data), headers=HEADERS)
        except (BadInput, ValueError) as exc:
            return JSONResponse({"error": "bad_input", "detail": str(exc)}, 400, HEADERS)

    # -- the page and the login ------------------------------------------------------------

    @router.get("/admin", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        session = session_of(request)
        if session is None:
            return login_form()
        csrf = html.escape(sessions.csrf_token(session))
        return HTMLResponse(console_page.replace("{{csrf}}", csrf), headers=HEADERS)

    @router.post("/admin/login")
    async def login(request: Request) -> Response:
        address = request.client.host if request.client is not None else "unknown"
        wait = limiter.retry_after(address)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            return login_form(
                f"Too many wrong tokens from your address: try again in {minutes} min.",
                429,
                **{"Retry-After": str(int(wait))},
            )
        if not same_origin(request):
            return login_form("Log in from this page.", 403)
        body = await request.body()
        form = parse_qs(body[:4096].decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if not sessions.token_ok(given):
            limiter.failed(address)
            log.warning("console: a wrong token from %s", address)
            # Slowed down, on top of the rate limit (auth.FAIL_DELAY, read now: tests shorten it).
            await asyncio.sleep(auth.FAIL_DELAY if fail_delay is None else fail_delay)
            return login_form("That is not the admin token.", 401)
        limiter.succeeded(address)
        response = RedirectResponse("/admin", status_code=303, headers=HEADERS)
        response.set_cookie(
            COOKIE,
            sessions.issue(),
            max_age=sessions.lifetime,
            path="/admin",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",  # behind a proxy: uvicorn's proxy headers
        )
        return response

    @router.post("/admin/logout")
    async def logout(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return refused()
        if not same_origin(request) or not sessions.csrf_ok(
            session, request.headers.get("x-csrf-token")
        ):
            return JSONResponse({"error": "csrf"}, 403, HEADERS)
        response = JSONResponse({"ok": True}, headers=HEADERS)
        response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict")
        return response

    @router.get("/admin/static/{name}")
    async def static(name: str, request: Request) -> Response:
        if name not in files:
            return Response("Not found.", 404, headers=HEADERS)
        if name not in PUBLIC_STATIC and session_of(request) is None:
            return refused()
        return Response(files[name], media_type=STATIC[name], headers=HEADERS)

    # -- what it shows ---------------------------------------------------------------------

    @router.get("/admin/api/dashboard")
    async def dashboard(request: Request) -> Response:
        if session_of(request) is None:
            return refused()
        now = clock()
        rules = service.rules
        overridden = {key for key in rules.overrides}

        def read(conn: Any) -> dict[str, Any]:
            by_day, latest = q.failures(conn, now)
            return {
                "channels": [asdict(c) for c in q.channel_table(conn, now)],
                "usage": [asdict(u) for u in q.daily_usage(conn, now)],
                "failures": {
                    "by_day": [asdict(f) for f in by_day],
                    "latest": [asdict(f) for f in latest],
                },
                "people": [asdict(p) for p in q.top_people(conn, now)],
            }

        data = await store.read(read)
        for channel in data["channels"]:
            channel["overridden"] = channel["channel"] in overridden
        spending = settings.bot.spending
        data.update(
            now=now.isoformat(),
            days=q.day_range(now, 30),
            status={
                "lines": check_lines(
                    settings,
                    tools=toolbox_lines(settings, getattr(request.app.state, "tools", None)),
                ),
                "providers": [asdict(p) for p in provider_states(settings)],
                "adapters": sorted(getattr(request.app.state, "adapters", {})),
                "prices_as_of": spending.prices.as_of,
                "unpriced": unpriced_models(settings),
            },
            limits=[_limit_json(x) for x in spending.limits],
            tag_limits={t: [_limit_json(x) for x in v] for t, v in spending.tag_limits.items()},
        )
        return JSONResponse(data, headers=HEADERS)

    async def detail(channel: str) -> dict[str, Any]:
        now = clock()
        memory = await store.read(lambda conn: q.channel_memory(conn, channel))
        stats = await store.stats(channel)
        state = await store.state(channel)
        found = await store.summary(channel)
        rules = service.rules
        in_file = rules.in_file(channel)
        runtime = rules.overrides.get(channel)
        effective = rules.for_channel(channel)
        platform = channel.split(":", 1)[0]
        limits = service.spending.limits(channel, effective.persona or settings.bot.name)
        shared = [x for x in limits if x.scope != "user"]
        uses = await service.spending.uses(shared, Subjects("", channel, platform))
        summary = None
        if found is not None:
            summary = {
                "text": found.text,
                "covers_messages": found.covers_messages,
                "covers_up_to_id": found.covers_up_to_id,
                "model": found.model,
                "created_at": found.created_at.isoformat(),
                "chars": len(found.text),
                "stale": found.covers_up_to_id <= state.reset_after_id,
            }
        return {
            "channel": channel,
            "platform": platform,
            "memory": {
                **asdict(memory),
                "reset_after_id": state.reset_after_id,
                "last_context": json.loads(stats.last_context) if stats.last_context else None,
                "summary": summary,
            },
            "settings": {
                "file": {
                    "persona": in_file.persona,
                    "system_prompt": in_file.system_prompt,
                    "scope": in_file.scope,
                    "limits": _limits_json(in_file.limits),
                },
                "override": None
                if runtime is None
                else {
                    "persona": runtime.persona,
                    "system_prompt": runtime.system_prompt,
                    "limits": _limits_json(runtime.limits),
                },
                "effective": {
                    "persona": effective.persona or settings.bot.name,
                    "limits": [_limit_json(x) for x in service.spending.channel_limits(channel)],
                },
                "global_limits": [_limit_json(x) for x in settings.bot.spending.limits],
            },
            "personas": sorted(service.personas),
            "uses": [
                {
                    **_limit_json(u.limit),
                    "used": u.used,
                    "cap": u.cap,
                    "over": u.over,
                    "resets": resets_at(u.limit.period, now).isoformat(),
                }
                for u in uses
            ],
        }

    @router.get("/admin/api/channel")
    async def channel(request: Request, key: str) -> Response:
        if session_of(request) is None:
            return refused()
        return JSONResponse(await detail(key), headers=HEADERS)

    # -- what it can do --------------------------------------------------------------------

    def confirmed(data: dict[str, Any]) -> str:
        channel = str(data["channel"])
        if data.get("confirm") != channel:
            raise BadInput("confirm with the channel's name")
        return channel

    async def reset(data: dict[str, Any]) -> dict[str, Any]:
        channel = confirmed(data)
        newest = await store.recent(channel, 1)
        if newest:
            await store.reset(channel, newest[-1].id)
        log.info("console: reset %s", channel)
        return {"ok": True, "done": f"{channel}: the model forgets everything said so far"}

    async def forget(data: dict[str, Any]) -> dict[str, Any]:
        channel = confirmed(data)
        newest = await store.recent(channel, 1)
        gone = 0
        if newest:
            await store.reset(channel, newest[-1].id)
            gone = await store.forget(channel, newest[-1].id)
        log.info("console: forgot %s (%d messages)", channel, gone)
        return {"ok": True, "done": f"{channel}: {gone:,} messages deleted"}

    async def save(data: dict[str, Any]) -> dict[str, Any]:
        channel = str(data["channel"])
        persona = data.get("persona") or None
        if persona is not None and (
            not isinstance(persona, str) or persona.lower() not in service.personas
        ):
            raise BadInput(f"persona: one of {', '.join(sorted(service.personas))}")
        prompt = data.get("system_prompt") or None
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > MAX_PROMPT):
            raise BadInput(f"system_prompt: text of at most {MAX_PROMPT:,} characters")
        limits = parse_limits(data.get("limits"))
        await store.save_channel_settings(
            ChannelSettings(
                channel,
                persona=persona.lower() if persona else None,
                system_prompt=prompt.strip() if prompt else None,
                limits=limits,
            )
        )
        service.channel_settings.invalidate()  # this process at once; others within 5 s
        await service.channel_settings.refresh()
        log.info("console: settings of %s changed", channel)
        return {"ok": True, "channel": await detail(channel)}

    @router.post("/admin/api/channel/reset")
    async def reset_route(request: Request) -> Response:
        return await change(request, reset)

    @router.post("/admin/api/channel/forget")
    async def forget_route(request: Request) -> Response:
        return await change(request, forget)

    @router.post("/admin/api/channel/settings")
    async def settings_route(request: Request) -> Response:
        return await change(request, save)

    return router
