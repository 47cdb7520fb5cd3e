"""The operator's console: `GET /admin`, on only when CHATBOT_ADMIN_TOKEN is set.

Not a chat platform: it is part of the composition root. `routes.py` (login, the page, its
JSON and its actions), `auth.py` (sessions, CSRF, the login limiter), `static/` (the page:
plain HTML, CSS and JavaScript, charts drawn as SVG; no build step, nothing remote). What it
shows is read through memory/console_queries.py; what it changes goes through the store and
the core's run-time channel settings (bot/channel_overrides.py).
"""
