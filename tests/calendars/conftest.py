"""A small scripted feed server on a loopback port chosen by the OS."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

# A route answers a request with (status, headers, body); the body may be an iterable of
# chunks, written (and flushed) one by one, for slow or endless answers.
Body = bytes | Iterable[bytes]
Route = Callable[[http.server.BaseHTTPRequestHandler], tuple[int, dict[str, str], Body]]


@dataclass
class FeedServer:
    """A scripted HTTP server: ``routes[path]`` answers GETs of ``path``."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(http.server.BaseHTTPRequestHandler):
    server_state: FeedServer

    def do_GET(self) -> None:
        state = self.server_state
        state.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
        route = state.routes.get(self.path.split("?")[0])
        if route is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
        else:
            status, headers, body = route(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if isinstance(body, bytes) and "Content-Length" not in headers and status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status == 304:
            return
        try:
            for chunk in [body] if isinstance(body, bytes) else body:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="feed_server")
def fixture_feed_server() -> Iterator[FeedServer]:
    state = FeedServer(base="")
    handler = type("Handler", (_Handler,), {"server_state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False  # a slow route must not hold up the teardown
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
