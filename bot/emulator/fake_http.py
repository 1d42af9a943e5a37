"""HTTP plumbing shared by the fake providers (``FakeGoogle``, ``FakeMicrosoft``).

* :class:`Answer`: what a fake writes back, with work to do just before or after writing it.
* :func:`start_server`: a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive on a port
  the OS chooses, optionally behind TLS. The handler is thin: it reads the request, asks the
  fake's ``handle(method, target, headers, body)`` for an :class:`Answer` and writes it.
* :class:`Routes`: a provider delivers to a public ``https://`` address; the app under test
  listens on loopback HTTP, so a routed public base is rewritten to a local one, like a
  TLS-terminating proxy would.
* :func:`post`: one POST from the fake to the app, timed, for deliveries.
* What both fakes keep alike: :class:`FakeCall` (a request answered),
  :class:`RunsInWith` (``with fake:`` starts and stops it), and over their grants
  :func:`bearer_grant`, :func:`expire_access_tokens` and :func:`with_query`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import logging
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import unquote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    """What to write back, and what to do just before or after writing it."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[], object] | None = None
    after: Callable[[], object] | None = None


@dataclass(frozen=True)
class FakeCall:
    """One request a fake answered; ``query`` shows secrets, codes and state tokens as
    ``*`` (or leaves them out)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: dt.datetime


class RunsInWith:
    """``with fake:`` starts the fake and stops it at the end (its ``start`` returns it)."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Grant(Protocol):
    access_tokens: dict[str, dt.datetime]
    revoked: bool


G = TypeVar("G", bound=_Grant)


def bearer_grant(grants: Sequence[G], token: str, now: dt.datetime) -> G | None:
    """The live grant whose unexpired access token this is, else None."""
    for grant in grants:
        expires = grant.access_tokens.get(token)
        if expires is not None and not grant.revoked and now < expires:
            return grant
    return None


def expire_access_tokens(grants: Iterable[_Grant], now: dt.datetime) -> None:
    """Every access token issued so far expires now (refresh tokens stay valid)."""
    for grant in grants:
        for token, expires in grant.access_tokens.items():
            grant.access_tokens[token] = min(expires, now)


def with_query(uri: str, params: dict[str, str]) -> str:
    """``uri`` with ``params`` added to its query (a redirect back to a client)."""
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}{urlencode(params)}"


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps(payload, indent=2).encode("utf-8")
    return Answer(status, body, headers=headers or {})


def basic_auth(header: str) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header (form-decoded, RFC 6749 §2.3.1)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))


Handle = Callable[[str, str, Any, bytes], Answer]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handle: Handle,
        *,
        label: str,
        methods: frozenset[str],
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, _Handler)
        self.handle_request_for = handle
        self.label = label
        self.methods = methods
        self.tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap in TLS here, in the request's own thread, so a slow handshake never holds up
        ``accept`` for everyone else."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        wrapped = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(wrapped, client_address)
        finally:
            with contextlib.suppress(OSError):
                wrapped.shutdown(socket.SHUT_RDWR)
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log at debug level instead of printing a traceback to stderr."""
        logger.debug("%s: error serving %s: %r", self.label, client_address, sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, a keep-alive
    # client (httplib2) waits for the delayed ACK, about 40 ms, on every answer.
    disable_nagle_algorithm = True
    sys_version = ""
    timeout = 30
    server: _Server

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return f"{self.server.label.replace(' ', '')}/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request lines."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        if method not in self.server.methods:
            self.send_error(501, f"Unsupported method ({method!r})")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.handle_request_for(method, self.path, self.headers, body)
        if answer.before is not None:
            answer.before()
        self.send_response(answer.status)
        if answer.status != 204:
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if answer.status != 204:
            self.wfile.write(answer.body)
        self.wfile.flush()
        if answer.after is not None:
            answer.after()


def start_server(
    host: str,
    port: int,
    handle: Handle,
    *,
    label: str = "fake Google",
    methods: Iterable[str] = ("GET", "POST"),
    tls: ssl.SSLContext | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Bind, then serve in a daemon thread; returns the server and its thread.

    Methods outside ``methods`` get http.server's 501, as before they existed here.
    """
    server = _Server((host, port), handle, label=label, methods=frozenset(methods), tls=tls)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},
        name=f"{label.replace(' ', '-').lower()}-http",
        daemon=True,
    )
    thread.start()
    return server, thread


class Routes:
    """Public ``https://`` bases rewritten to local ones; the longest matching base wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, str] = {}

    def add(self, public_base: str, local_base: str) -> None:
        with self._lock:
            self._routes[public_base.rstrip("/")] = local_base.rstrip("/")

    def resolve(self, address: str) -> str | None:
        """Where to send a delivery for ``address``; None when no route matches."""
        with self._lock:
            routes = dict(self._routes)
        for public in sorted(routes, key=len, reverse=True):
            if address == public or address.startswith((public + "/", public + "?")):
                return routes[public] + address[len(public) :]
        return None


@dataclass(frozen=True)
class Posted:
    """What the receiver answered to one POST, and how long it took (real seconds)."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Posted:
    """POST with the header names spelled as given (urllib would re-case them).

    Raises ``OSError`` (``TimeoutError`` included) when the receiver cannot be reached or
    does not answer within ``timeout`` seconds.
    """
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.netloc, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    try:
        connection.request("POST", target, body, headers)
        response = connection.getresponse()
        answer = response.read()
        return Posted(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            answer,
            time.monotonic() - started,
        )
    finally:
        connection.close()


def self_signed_tls(directory: str, *, host: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a fresh self-signed certificate, and the PEM path to trust.

    The certificate names ``IP:127.0.0.1`` (or ``host``) and ``DNS:localhost``, is its own CA
    (so it can stand in ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``), and is valid from one day
    ago for 30 days of *real* time: TLS clients check it against the machine's clock, never a
    fake one.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Heedful fake {host}")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "fake-ca.pem")
    key_path = os.path.join(directory, "fake-key.pem")
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path
