"""`GET /metrics`: Prometheus text with the core's counters and the connected clients."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from testing.stubs.model_server import ModelServer, Reply, Status
from tests.helpers import Client, RunningApp


async def scrape(app: RunningApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{app.http}/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


async def test_metrics_count_messages_turns_latency_tokens_errors_and_clients(
    app: RunningApp, model: ModelServer
) -> None:
    model.then(Reply("hi there", usage=(30, 5)), Status(401, {"error": {"message": "bad key"}}))
    a = await Client.connect(app.ws_url("ana"))
    b = await Client.connect(app.ws_url("ben"))
    await a.say("just chatting")
    await a.say("@chatbot hello")
    await a.answer()
    await a.say("@chatbot again")
    failed = await a.answer()
    assert failed["error"] == "auth_failed"

    m = await scrape(app)
    web = (("adapter", "web"),)
    assert m[("chatbot_messages_received_total", web)] == 3
    assert m[("chatbot_addressed_turns_total", web)] == 2
    assert m[("chatbot_connected_clients", web)] == 2
    assert m[("chatbot_provider_latency_seconds_count", (("provider", "openai"),))] == 2
    assert m[("chatbot_tokens_total", (("kind", "input"), ("provider", "openai")))] == 30
    assert m[("chatbot_tokens_total", (("kind", "output"), ("provider", "openai")))] == 5
    assert m[("chatbot_errors_total", (("adapter", "web"), ("kind", "auth_failed")))] == 1
    assert (
        m[("chatbot_provider_errors_total", (("kind", "auth_failed"), ("provider", "openai")))] == 1
    )

    await b.close()
    await a.close()
