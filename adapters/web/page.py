"""The chat page's files: `GET /` and `GET /static/{path}`, with a Content-Security-Policy.

Only the files listed here are served (no directory walking). The policy lets the page run its
own scripts and talk to its own server, and nothing else: no inline script, no remote loads.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "vendor/marked.umd.js": "text/javascript; charset=utf-8",
    "vendor/purify.min.js": "text/javascript; charset=utf-8",
}


def _read(name: str) -> str:
    return resources.files("adapters.web").joinpath(f"static/{name}").read_text("utf-8")


def build_page_router() -> APIRouter:
    router = APIRouter()
    page = _read("index.html")
    files = {name: _read(name) for name in STATIC_FILES}

    @router.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.get("/static/{name:path}")
    async def static(name: str) -> Response:
        if name not in files:
            raise HTTPException(404, "Not found.")
        return Response(files[name], media_type=STATIC_FILES[name], headers=PAGE_HEADERS)

    return router
