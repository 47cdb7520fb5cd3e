"""The course's chat server, as written in class: one `await send` per connection, in turn.

    python -m bench.baseline_server --port 8001

No database (the course used MongoDB; leaving it out only flatters the baseline).
"""

from __future__ import annotations

import argparse
from datetime import datetime

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
conns: list[WebSocket] = []


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


@app.websocket("/ws/{nickname}")
async def chat(ws: WebSocket, nickname: str) -> None:
    await ws.accept()
    conns.append(ws)
    try:
        while True:
            data = await ws.receive_json()
            data["nickname"] = nickname
            data["timestamp"] = datetime.now().isoformat()
            for c in conns:
                await c.send_json(data)
    except WebSocketDisconnect:
        pass
    finally:
        conns.remove(ws)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
