"""A real HTTP server on this machine that receives outbound webhooks in tests: it records every
request and answers with the statuses queued for it (200 once they run out)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``answers``: (status, extra headers) for the next requests, in order."""

    requests: list[Received] = field(default_factory=list)
    answers: deque = field(default_factory=deque)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def start(self) -> Receiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self.server.serve_forever, name="webhook-receiver",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, status: int, **headers: str) -> None:
        self.answers.append((status, headers))

    def ids(self) -> list[str]:
        return [received.headers["webhook-id"] for received in self.requests]


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in
                                                          self.headers.items()}, body))
            status, headers = receiver.answers.popleft() if receiver.answers else (200, {})
            answer = b'{"received": true}' if status < 300 else b'{"error": "not today"}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

    return Handler
