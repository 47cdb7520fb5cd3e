"""The web chat refuses what would break it or mislead people: ids past 64 bits, names."""

from __future__ import annotations

import httpx

from tests.helpers import Client, RunningApp


async def test_messages_after_beyond_64_bits_is_a_client_error(app: RunningApp) -> None:
    c = await Client.connect(app.ws_url("minseo"))
    await c.say("hello")
    await c.recv()
    async with httpx.AsyncClient(base_url=app.http, timeout=10) as http:
        for after in (2**63, 2**64, 10**30):
            response = await http.get("/messages", params={"after": after})
            assert response.status_code == 422, (after, response.text)
        largest = await http.get("/messages", params={"after": 2**63 - 1})
        assert largest.status_code == 200 and largest.json() == []
        everything = await http.get("/messages", params={"after": 0})
        assert [m["message"] for m in everything.json()] == ["hello"]
    await c.close()
