"""An httpx transport over the standard library's http.client: the same requests, a third of the CPU per call.

httpx's own transport (httpcore + h11) spends about 0.4 ms of CPU on each request in pure Python;
an apply of 10,000 resources makes 10,000 of them. This transport sends the request httpx built
(its headers, its body) over http.client's C-accelerated parser, keeping one pool of idle
keep-alive connections per origin. httpx's objects stay in charge of the rest: the request's
headers and body, the response's decoding. VapiClient does not use this transport when the
environment names a proxy (httpx mounts environment proxies only on a client built without a
transport of its own), so no proxied request reaches it.

Failures are raised as httpx's exceptions, so the client's retry rules see what httpcore raised:
a connection that cannot be made is ConnectError/ConnectTimeout (the request surely never sent);
anything after that is a ReadError, WriteError, timeout or RemoteProtocolError (it may have been).
"""

from __future__ import annotations

import email.parser
import http.client
import re
import select
import socket
import ssl
import threading
from typing import Any

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_IDLE_PER_ORIGIN = 32

Origin = tuple[str, str, int]


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 with keep-alive over http.client; thread-safe (a connection serves one request at a time)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or DEFAULT_PORTS[url.scheme])
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        conn = self._reuse(origin) or self._connect(origin, request, timeouts.get("connect"))
        try:
            conn.sock.settimeout(timeouts.get("write"))
            conn.putrequest(
                request.method, url.raw_path.decode("ascii"), skip_host=True, skip_accept_encoding=True
            )
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            conn.endheaders(request.read() or None)
        except Exception as exc:
            conn.close()
            raise _mapped(exc, request, httpx.WriteTimeout, httpx.WriteError) from exc
        try:
            conn.sock.settimeout(timeouts.get("read"))
            response = conn.getresponse()
            content = response.read()
        except Exception as exc:
            conn.close()
            raise _mapped(exc, request, httpx.ReadTimeout, httpx.ReadError) from exc
        if response.will_close:
            conn.close()
        else:
            self._release(origin, conn)
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1")},
        )

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _reuse(self, origin: Origin) -> http.client.HTTPConnection | None:
        """An idle connection the server has not closed; any it has (readable while idle) are dropped."""
        while True:
            with self._lock:
                conns = self._idle.get(origin)
                if not conns:
                    return None
                conn = conns.pop()
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()

    def _release(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(origin, [])
            if len(conns) < MAX_IDLE_PER_ORIGIN:
                conns.append(conn)
                return
        conn.close()

    def _connect(
        self, origin: Origin, request: httpx.Request, timeout: float | None
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()  # certifi's CAs, as httpx's own transport
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl_context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.response_class = _Response
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception as exc:
            conn.close()
            raise _mapped(exc, request, httpx.ConnectTimeout, httpx.ConnectError) from exc
        return conn


MAX_LINE = 65536  # http.client's limits on a header line and the number of headers
MAX_HEADERS = 100
_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")  # what the email parser takes for a header's name


class _Response(http.client.HTTPResponse):
    """http.client's response, its header block read into the same HTTPMessage without the email
    parser (which http.client uses, and which cost ~100 us of CPU a response, a tenth of a call).

    begin() is http.client's own, but for that: the status line (1xx responses skipped), whether
    the body is chunked, its length, and whether the connection closes after it.
    """

    def begin(self) -> None:
        if self.headers is not None:
            return  # already begun
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                break
            _header_lines(self.fp)  # a 100 Continue's headers: skipped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _parse_headers(_header_lines(self.fp))
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # a nonsensical negative length is ignored
                    self.length = None
        if status in (204, 304) or 100 <= status < 200 or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # the body ends when the connection does


def _header_lines(fp: Any) -> list[bytes]:
    """The header block's lines, up to and including the empty line, within http.client's limits."""
    lines = []
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def _parse_headers(lines: list[bytes]) -> http.client.HTTPMessage:
    """The HTTPMessage http.client.parse_headers makes of these lines: `Name: value` lines are
    split directly; anything else (a folded line, a line without a colon) goes to the email parser
    as there."""
    message = http.client.HTTPMessage()
    for raw in lines:
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.match(name):
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)  # type: ignore[return-value]
        message[name] = value.lstrip(" \t")
    return message


def _readable(sock: socket.socket) -> bool:
    """An idle keep-alive socket is readable only when the server closed it (or sent garbage)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _mapped(
    exc: Exception,
    request: httpx.Request,
    timeout: type[httpx.TimeoutException],
    other: type[httpx.TransportError],
) -> httpx.TransportError:
    """httpx's exception for a failure of this phase (connect, write or read)."""
    if isinstance(exc, httpx.TransportError):
        return exc
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return timeout(message, request=request)
    if isinstance(exc, http.client.HTTPException):  # RemoteDisconnected, IncompleteRead, BadStatusLine, ...
        return httpx.RemoteProtocolError(message, request=request)
    return other(message, request=request)
