"""The fake Stripe behind a real HTTP server on loopback, for runs that want real sockets (a
separate engine process, or checking the HTTP path end to end). It serves ``RestFront`` as is.

Standard-library ``ThreadingHTTPServer``: the sandbox must not import a web framework (the
import contracts keep FastAPI and Starlette in the API layer), and it binds 127.0.0.1 only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from recovery.sandbox.fake_stripe.http import RestFront

LOOPBACK = frozenset({"127.0.0.1", "localhost"})


@dataclass
class ServerHandle:
    """A running server: ``url`` is its base address; ``stop()`` shuts it down and joins."""

    url: str
    _server: ThreadingHTTPServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_class(front: RestFront) -> type[BaseHTTPRequestHandler]:
    class StripeRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's httpx client expects
        # The head and the body go out in two writes: with Nagle's algorithm on, the second
        # waits for the client's delayed ACK (40 ms a request on Linux).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = front.handle(self.command, parts.path, parts.query, body, headers)
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would drown a simulation's output

    return StripeRequestHandler


def serve(front: RestFront, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    if host not in LOOPBACK:
        raise ValueError("the fake Stripe only listens on loopback")
    server = ThreadingHTTPServer((host, port), _handler_class(front))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-stripe-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return ServerHandle(f"http://{bound_host}:{bound_port}", server, thread)
