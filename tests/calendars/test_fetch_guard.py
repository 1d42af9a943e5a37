"""The private-address guard of ``fetch_feed`` against a resolver the test controls
(``socket.getaddrinfo``, which the fetch and the HTTP client both use) and real
servers on loopback addresses.

127.0.0.2 stands in for a public address (``public_loopback``): a server there is "the
internet", a server on 127.0.0.1 is "the private network" that must never be reached.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.messages.prompts import load_prompts
from bot.sync import fetch
from bot.sync.feeds import FeedConnectError, normalise_feed_url
from bot.sync.fetch import FeedError, fetch_feed

ICS = (Path(__file__).parent / "fixtures" / "apple_icloud.ics").read_bytes()
PUBLIC, PRIVATE = "127.0.0.2", "127.0.0.1"
REAL_GETADDRINFO = socket.getaddrinfo


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A real HTTP(S) server on one loopback address; records what reached it."""

    address: str
    port: int
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self, tls: ssl.SSLContext | None = None) -> None:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                state.requests.append({"path": self.path, "host": self.headers.get("Host", "")})
                status, headers, body = state.routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.address, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment]
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(name="servers")
def fixture_servers() -> Iterator[tuple[Server, Server]]:
    """A "public" and a "private" server on the same port (one URL, two addresses)."""
    for _ in range(20):
        public = Server(PUBLIC, 0)
        public.start()
        private = Server(PRIVATE, public.port)
        try:
            private.start()
        except OSError:  # that port is taken on 127.0.0.1: try another
            public.stop()
            continue
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    for server in (public, private):
        server.routes["/feed.ics"] = (200, {"Content-Type": "text/calendar"}, ICS)
    yield public, private
    public.stop()
    private.stop()


# --------------------------------------------------------------------------- the resolver


@dataclass
class Resolver:
    """Scripted answers per host name: each lookup takes the next one (the last one
    repeats); an exception is raised. Other names go to the real resolver."""

    answers: dict[str, list[str | Exception]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        script = self.answers.get(name)
        if script is None:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.lookups.append(name)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, int(port or 0)))]


@pytest.fixture(name="resolver")
def fixture_resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    resolver = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


@pytest.fixture(name="public_loopback")
def fixture_public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.2 counts as a public address for the length of the test."""
    real = ipaddress.IPv4Address.is_global

    def is_global(self: ipaddress.IPv4Address) -> bool:
        return str(self) == PUBLIC or bool(real.fget(self))  # type: ignore[attr-defined]

    monkeypatch.setattr(ipaddress.IPv4Address, "is_global", property(is_global))


def code_of(error: FeedError) -> str:
    return error.code


# --------------------------------------------------------------------------- rebinding


def test_dns_rebinding_cannot_move_the_connection_to_a_private_address(
    servers: tuple[Server, Server], resolver: Resolver, public_loopback: None
) -> None:
    """The first answer is public (the check), every later one private (what a second
    lookup by the HTTP client would get): the fetch goes where it checked."""
    public, private = servers
    resolver.answers["calendar.rebind.test"] = [PUBLIC, PRIVATE]
    url = f"http://calendar.rebind.test:{public.port}/feed.ics"

    assert fetch_feed(url, allow_private=False).body == ICS
    assert private.requests == []
    assert public.requests == [{"path": "/feed.ics", "host": f"calendar.rebind.test:{public.port}"}]
    assert resolver.lookups == ["calendar.rebind.test"]  # resolved once, connected there


def test_every_redirect_hop_is_resolved_checked_and_pinned(
    servers: tuple[Server, Server], resolver: Resolver, public_loopback: None
) -> None:
    public, private = servers
    resolver.answers["calendar.rebind.test"] = [PUBLIC, PRIVATE]
    resolver.answers["intranet.test"] = [PRIVATE]
    public.routes["/same-host"] = (302, {"Location": "/feed.ics"}, b"")
    public.routes["/other-host"] = (302, {"Location": f"http://intranet.test:{public.port}/"}, b"")
    for path in ("/same-host", "/other-host"):
        with pytest.raises(FeedError) as caught:
            fetch_feed(f"http://calendar.rebind.test:{public.port}{path}", allow_private=False)
        assert (code_of(caught.value), caught.value.permanent) == ("private_address", True)
    assert private.requests == []
    assert [r["path"] for r in public.requests] == ["/same-host"]  # the second lookup: private


def test_a_name_the_guard_cannot_resolve_is_not_fetched(
    servers: tuple[Server, Server], resolver: Resolver
) -> None:
    """The guard's lookup fails, the HTTP client's would succeed: nothing is fetched."""
    _, private = servers
    resolver.answers["flaky.test"] = [socket.gaierror(socket.EAI_AGAIN, "try again"), PRIVATE]
    for allow_private in (False, True):
        with pytest.raises(FeedError) as caught:
            fetch_feed(f"http://flaky.test:{private.port}/feed.ics", allow_private=allow_private)
        assert code_of(caught.value) == "unresolvable" and not caught.value.permanent
        assert caught.value.reason == load_prompts().text("feed.error.unresolvable")
        resolver.answers["flaky.test"] = [socket.gaierror(socket.EAI_NONAME, "unknown")]
    assert private.requests == []


def test_private_addresses_in_any_spelling_are_refused(
    servers: tuple[Server, Server], resolver: Resolver
) -> None:
    _, private = servers
    port = private.port
    resolver.answers["mapped.test"] = ["::ffff:127.0.0.1"]
    resolver.answers["sixtofour.test"] = ["2002:7f00:1::1"]
    for url in (
        f"http://2130706433:{port}/feed.ics",  # 127.0.0.1 as one number
        f"http://0x7f.1:{port}/feed.ics",
        f"http://127.1:{port}/feed.ics",
        f"http://[::1]:{port}/feed.ics",
        f"http://mapped.test:{port}/feed.ics",
        f"http://sixtofour.test:{port}/feed.ics",
        "http://169.254.169.254/latest/meta-data/",
    ):
        with pytest.raises(FeedError) as caught:
            fetch_feed(url, allow_private=False, timeout=5)
        assert code_of(caught.value) == "private_address", url
    assert private.requests == []
    assert fetch.vetted_addresses("127.0.0.1", port, allow_private=True) == ["127.0.0.1"]


# --------------------------------------------------------------------------- malformed


MALFORMED = [
    "http://0177.0.0.1/feed.ics",
    "http://256.1.1.1/feed.ics",
    "http://xn--/feed.ics",
    "http://[::1/feed.ics",
    "http://example.com:99999/feed.ics",
    "http://example.com:port/feed.ics",
    "https://exa mple.com/feed.ics",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_address_is_the_same_clear_error_as_any_bad_link(url: str) -> None:
    with pytest.raises(FeedError) as caught:
        fetch_feed(url, allow_private=False)
    assert code_of(caught.value) == "invalid_url" and caught.value.permanent
    assert caught.value.reason == load_prompts().text("feed.error.invalid_url")
    with pytest.raises(FeedConnectError) as refused:
        normalise_feed_url(url)
    assert str(refused.value) == load_prompts().text("calendar.connect.bad_url")


def test_a_malformed_redirect_is_the_same_clear_error(
    servers: tuple[Server, Server],
) -> None:
    _, private = servers
    private.routes["/moved"] = (302, {"Location": "http://0177.0.0.1/feed.ics"}, b"")
    with pytest.raises(FeedError) as caught:
        fetch_feed(f"http://127.0.0.1:{private.port}/moved")
    assert code_of(caught.value) == "invalid_url"


# --------------------------------------------------------------------------- TLS


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


def test_https_keeps_the_name_for_sni_the_certificate_and_host(
    tmp_path: Path, resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connecting to the vetted IP must not change what TLS and HTTP see: the
    certificate (valid for the name only) is checked against the name."""
    cert, key = _self_signed(tmp_path, "calendar.example.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = Server(PRIVATE, 0)
    server.routes["/feed.ics"] = (200, {"Content-Type": "text/calendar"}, ICS)
    server.start(tls=server_tls)
    trusting: Callable[[], ssl.SSLContext] = lambda: ssl.create_default_context(cafile=cert)  # noqa: E731
    monkeypatch.setattr(fetch, "_ssl_context", trusting)
    resolver.answers["calendar.example.test"] = [PRIVATE]
    try:
        url = f"https://calendar.example.test:{server.port}/feed.ics"
        assert fetch_feed(url, allow_private=True).body == ICS
        assert server.sni == ["calendar.example.test"]
        assert server.requests[-1]["host"] == f"calendar.example.test:{server.port}"

        resolver.answers["impostor.test"] = [PRIVATE]  # the same server under another name
        with pytest.raises(FeedError) as caught:
            fetch_feed(f"https://impostor.test:{server.port}/feed.ics", allow_private=True)
        assert code_of(caught.value) == "connect"  # its certificate is not for that name
    finally:
        server.stop()
