"""Fetching a calendar feed: conditional, bounded, and careful with the secret URL.

A feed URL is a secret (Google's "secret address in iCal format" is a bearer token),
so it is never logged: log lines name the host and a short hash (:func:`url_label`).

:func:`fetch_feed` sends ``If-None-Match`` / ``If-Modified-Since`` (a 304 costs one
round trip and no parsing), follows at most 5 redirects, stops after ``timeout``
seconds in total (checked between chunks, so a slow drip ends within one more read
timeout), streams the body and stops at ``max_bytes``, and decompresses gzip/deflate
itself with a cap on the decompressed size, so a compression bomb fails after reading
a few kilobytes, with bounded memory. An HTML page served with 200 (a sign-in page) is
recognised from its first bytes.

It connects only to addresses it resolved and checked itself (:class:`PinnedTransport`):
every hop of a redirect is resolved once, refused when the name cannot be resolved or
(for addresses people paste) points into a private network, and the connection goes to
that very address, with the name kept for ``Host`` and TLS. A malformed address, here
or in a redirect, is the same one-line ``invalid_url`` error as any other bad link.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
USER_AGENT = "Heedful/0.1 (calendar feed reader; +https://github.com/heedful)"
_SNIFF = 512  # bytes of the decompressed body looked at to tell a web page from a calendar


@dataclass(frozen=True)
class FetchResult:
    changed: bool  # False on 304 Not Modified (body None)
    body: bytes | None
    etag: str | None
    last_modified: str | None


class FeedError(Exception):
    """Why a feed could not be read. ``code`` names the prompt ``feed.error.<code>``
    (``prompts/feeds.toml``) whose words, filled with ``values``, are ``reason``: one
    line for the person. ``permanent`` is True when retrying cannot help (404/410: the
    feed is gone; 401/403: it needs a sign-in; a link that is not http(s)); False for
    timeouts, 5xx and the like."""

    def __init__(self, code: str, *, permanent: bool = False, **values: object) -> None:
        from bot.messages.prompts import load_prompts

        self.code = code
        self.reason = load_prompts().text(f"feed.error.{code}", **values)
        self.permanent = permanent
        super().__init__(self.reason)


def url_label(url: str) -> str:
    """What logs may say about a feed URL: its host and a short hash, never the path."""
    try:
        host = urlsplit(url).hostname or "?"
    except ValueError:
        host = "?"
    return f"{host}#{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def normalize_url(url: str) -> str:
    """``webcal://`` is ``https://`` (``webcals://`` too); raises FeedError for other
    schemes and for any address the HTTP client could not use (``http://0177.0.0.1/``,
    ``http://xn--/``, a port that is not a number …): the same ``invalid_url`` words for
    every malformed link."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise FeedError("invalid_url", permanent=True) from None
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        url = "https" + url[len(parts.scheme) :]
    elif scheme not in ("http", "https"):
        raise FeedError("bad_scheme", permanent=True)
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, ValueError):  # IDNA errors are ValueErrors (UnicodeError)
        raise FeedError("invalid_url", permanent=True) from None
    if not host:
        raise FeedError("no_host", permanent=True)
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise FeedError("invalid_url", permanent=True)
    return url


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10.0,
    max_bytes: int = 5 * 1024 * 1024,
    allow_private: bool = True,
) -> FetchResult:
    """GET a feed. ``changed`` is False (and ``body`` None) when the server says 304.

    With ``allow_private=False`` (what Heedful uses for addresses people paste), every
    request, redirects included, must go to a public address: not loopback, a private
    network, link-local (cloud metadata) or other reserved ranges. See
    :class:`PinnedTransport` for how the address checked is the address connected to.

    Raises :class:`FeedError` with a one-line reason on any failure.
    """
    url = normalize_url(url)
    _redact_httpx_logs()
    label = url_label(url)
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "text/calendar, application/calendar+xml;q=0.5, */*;q=0.1",
        "Accept-Encoding": "gzip, deflate",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(
                transport=PinnedTransport(allow_private=allow_private),
                timeout=httpx.Timeout(timeout),
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            result = _read(response, etag, last_modified, deadline, max_bytes)
    except FeedError as exc:
        logger.info("feed %s: %s", label, exc.reason)
        raise
    except httpx.TooManyRedirects:
        raise _logged(label, FeedError("too_many_redirects", limit=MAX_REDIRECTS)) from None
    except httpx.TimeoutException:
        raise _logged(label, FeedError("timeout", seconds=f"{timeout:g}")) from None
    except httpx.UnsupportedProtocol:
        raise _logged(label, FeedError("redirect_scheme", permanent=True)) from None
    except httpx.ConnectError as exc:
        raise _logged(label, FeedError("connect", why=_why(exc))) from None
    except httpx.RemoteProtocolError as exc:
        if "invalid url" in str(exc).lower():  # a Location header httpx cannot read
            raise _logged(label, FeedError("invalid_url", permanent=True)) from None
        raise _logged(label, FeedError("download", why=_why(exc))) from None
    except httpx.HTTPError as exc:
        raise _logged(label, FeedError("download", why=_why(exc))) from None
    logger.debug("feed %s: %s", label, "changed" if result.changed else "not modified")
    return result


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that connects to exactly the address it checked.

    For every request (httpx follows redirects itself, so every hop comes through
    here) it resolves the host once, refuses when that fails, refuses (unless
    ``allow_private``) when any address found is not public, and then connects to one
    of those very addresses: the request's URL gets the IP, while the ``Host`` header
    keeps the name and TLS gets it as SNI (httpcore's ``sni_hostname`` extension), so
    the certificate is still checked against the name. A resolver that answers a
    public address to the check and a private one to the connection (DNS rebinding)
    cannot move the connection. Proxy settings from the environment are not used:
    through a proxy, the address connected to would be the proxy's choice.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpx.HTTPTransport(verify=_ssl_context(), trust_env=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        https = request.url.scheme == "https"
        port = request.url.port or (443 if https else 80)
        extensions = {**request.extensions, **({"sni_hostname": host} if https else {})}
        failure: httpx.ConnectError | None = None
        for address in vetted_addresses(host, port, allow_private=self.allow_private):
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # Host: the name, as the server expects
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return self._inner.handle_request(pinned)
            except httpx.ConnectError as exc:  # the next vetted address, if any
                failure = exc
        assert failure is not None  # vetted_addresses never returns an empty list
        raise failure

    def close(self) -> None:
        self._inner.close()


def vetted_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``, resolved once, in the resolver's order.

    Raises FeedError ``unresolvable`` when the name cannot be resolved, and, without
    ``allow_private``, ``private_address`` when any address is not public (an IPv4
    address inside an IPv6 one, such as ``::ffff:127.0.0.1``, is judged as IPv4)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise FeedError("unresolvable") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise FeedError("unresolvable")
    if not allow_private and not all(_public(a) for a in addresses):
        raise FeedError("private_address", permanent=True)
    return addresses


def _public(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None and not _public(str(embedded)):
            return False
    return address.is_global and not address.is_multicast


def read_source(source: str, **kwargs: object) -> FetchResult:
    """A feed from a file path or an http(s)/webcal URL (the CLI's ``SOURCE``).

    ``kwargs`` go to :func:`fetch_feed`; a file honours ``max_bytes`` only.
    """
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("http", "https", "webcal", "webcals"):
        return fetch_feed(source, **kwargs)  # type: ignore[arg-type]
    if scheme == "file":
        source = urlsplit(source).path
    elif scheme:
        raise FeedError("bad_source")
    max_bytes = int(kwargs.get("max_bytes", 5 * 1024 * 1024))  # type: ignore[call-overload]
    path = Path(source)
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FeedError("no_file", permanent=True) from None
    except IsADirectoryError:
        raise FeedError("directory", permanent=True) from None
    except PermissionError:
        raise FeedError("permission", permanent=True) from None
    except OSError as exc:
        raise FeedError("unreadable_file", why=exc.strerror or exc) from None
    if len(body) > max_bytes:
        raise FeedError("file_too_big", size=_mib(max_bytes))
    return FetchResult(changed=True, body=body, etag=None, last_modified=None)


# --------------------------------------------------------------------------- the body


def _read(
    response: httpx.Response,
    etag: str | None,
    last_modified: str | None,
    deadline: float,
    max_bytes: int,
) -> FetchResult:
    status = response.status_code
    new_etag = response.headers.get("ETag") or etag
    new_modified = response.headers.get("Last-Modified") or last_modified
    if status == 304:
        return FetchResult(changed=False, body=None, etag=new_etag, last_modified=new_modified)
    if status in (404, 410):
        raise FeedError("gone", permanent=True, status=status)
    if status in (401, 403):
        raise FeedError("sign_in", permanent=True, status=status)
    if status >= 400:
        raise FeedError("status", status=status)
    if status >= 300:
        raise FeedError("bad_redirect", status=status)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not _encoded(response):
        raise FeedError("too_big", size=_mib(max_bytes))
    decoder = _Decoder(response.headers.get("Content-Encoding", ""), max_bytes)
    html_type = "text/html" in response.headers.get("Content-Type", "").lower()
    sniffed = False
    parts: list[bytes] = []
    received = 0
    for chunk in response.iter_raw():  # as it arrives: a slow drip meets the deadline
        received += len(chunk)
        if received > max_bytes:
            raise FeedError("too_big", size=_mib(max_bytes))
        parts.append(decoder.feed(chunk))
        if not sniffed and decoder.size >= _SNIFF:
            _sniff(b"".join(parts)[:_SNIFF], html_type)
            sniffed = True
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("total timeout")
    parts.append(decoder.flush())
    body = b"".join(parts)
    if not sniffed:
        _sniff(body[:_SNIFF], html_type)
    return FetchResult(changed=True, body=body, etag=new_etag, last_modified=new_modified)


def _sniff(head: bytes, html_type: bool) -> None:
    """A web page served with 200 (a sign-in page) instead of a calendar."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"begin:vcalendar"):
        return
    if html_type or start.startswith((b"<!doctype", b"<html")):
        raise FeedError("web_page")


def _encoded(response: httpx.Response) -> bool:
    return response.headers.get("Content-Encoding", "identity").strip().lower() != "identity"


class _Decoder:
    """Streaming gzip/deflate with a cap on the decompressed size."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FeedError("compression", encoding=encoding.strip())
        self.coding = codings[0] if codings else None
        self.max_bytes = max_bytes
        self.size = 0
        self._first = True
        self._z: zlib._Decompress | None = None
        if self.coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "deflate":
            self._z = zlib.decompressobj()

    def feed(self, data: bytes) -> bytes:
        if self._z is None:
            self.size += len(data)
            return data
        try:
            return self._inflate(data)
        except zlib.error:
            if self.coding == "deflate" and self._first:
                # Some servers send raw deflate without the zlib header.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                try:
                    return self._inflate(data)
                except zlib.error:
                    pass
            raise FeedError("corrupt") from None

    def _inflate(self, data: bytes) -> bytes:
        assert self._z is not None
        out: list[bytes] = []
        while data:
            room = self.max_bytes - self.size + 1
            piece = self._z.decompress(data, room)
            self._first = False
            self.size += len(piece)
            if self.size > self.max_bytes:
                raise FeedError("too_big_uncompressed", size=_mib(self.max_bytes))
            out.append(piece)
            data = self._z.unconsumed_tail
            if self._z.eof and self._z.unused_data and self.coding != "deflate":
                data = self._z.unused_data  # another gzip member follows
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return b"".join(out)

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        piece = self._z.flush(self.max_bytes - self.size + 1)
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise FeedError("too_big_uncompressed", size=_mib(self.max_bytes))
        return piece


# --------------------------------------------------------------------------- helpers


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default context, built once: building it loads the CA bundle (~15 ms),
    which would otherwise be most of the cost of a 304."""
    return httpx.create_ssl_context()


def _mib(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{size / 1024:g} KiB"


def _why(exc: BaseException) -> str:
    """A short cause without the URL (httpx puts it in some messages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "://" in text:
        return type(exc).__name__
    return text[:120]


def _logged(label: str, error: FeedError) -> FeedError:
    logger.info("feed %s: %s", label, error.reason)
    return error


class _RedactUrls(logging.Filter):
    """httpx logs each request's full URL at INFO; keep only the host."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                url_label(str(a)) if isinstance(a, httpx.URL | str) and "://" in str(a) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        return True


_redaction_installed = False


def _redact_httpx_logs() -> None:
    global _redaction_installed
    if not _redaction_installed:
        logging.getLogger("httpx").addFilter(_RedactUrls())
        _redaction_installed = True
