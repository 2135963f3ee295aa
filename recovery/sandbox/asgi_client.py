"""Deliver HTTP requests to the engine's real ASGI app in-process, without sockets.

The sandbox posts every webhook through the app's real ``/webhooks/stripe`` route (signature
check, inbox insert), only skipping the network. One event loop is kept for all requests.
"""

from __future__ import annotations

import asyncio


class AsgiClient:
    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self.loop.run_until_complete(self._post(path, body, headers))

    async def _post(self, path: str, body: bytes, headers: dict[str, str]):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "server": ("sandbox", 80),
            "client": ("127.0.0.1", 0),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"content-length", str(len(body)).encode())],
        }
        sent = False
        status, chunks = 500, []

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    def close(self) -> None:
        self.loop.close()
