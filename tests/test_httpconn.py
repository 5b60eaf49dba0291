"""StdlibTransport: keep-alive reuse, a connection the server closed, and each failure as the httpx error the client's retry rules expect."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from vapiops.httpconn import StdlibTransport

Handler = Callable[[socket.socket, int], None]  # one accepted connection, and its number


def _read_request(conn: socket.socket) -> bytes:
    """The request head and its body (Content-Length), or b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def _ok(body: bytes = b'{"ok": true}', close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


@contextmanager
def server(handler: Handler) -> Iterator[tuple[str, list[bytes]]]:
    """A raw TCP server on 127.0.0.1 running `handler` per connection; yields its URL and the requests seen."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        number = 0
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            number += 1
            with conn:
                handler(_Recording(conn, seen), number)  # type: ignore[arg-type]

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        listener.close()
        thread.join(2)


class _Recording:
    def __init__(self, conn: socket.socket, seen: list[bytes]):
        self.conn, self.seen = conn, seen

    def read(self) -> bytes:
        data = _read_request(self.conn)
        if data:
            self.seen.append(data)
        return data

    def sendall(self, data: bytes) -> None:
        self.conn.sendall(data)


def _client(url: str, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=url, transport=StdlibTransport(), timeout=timeout)


def test_requests_reuse_one_connection_and_send_what_httpx_built():
    def handler(conn, number):
        while conn.read():
            conn.sendall(_ok(f'{{"connection": {number}}}'.encode()))

    with server(handler) as (url, seen), _client(url) as client:
        answers = [client.post("/tool", json={"name": "x"}, params={"a": "1 2"}).json() for _ in range(3)]
    assert answers == [{"connection": 1}] * 3
    head = seen[0].decode()
    assert head.startswith("POST /tool?a=1+2 HTTP/1.1\r\n")
    assert "content-type: application/json" in head.lower() and head.endswith('{"name":"x"}')


def test_a_connection_the_server_closed_while_idle_is_replaced():
    def handler(conn, number):
        if conn.read():
            conn.sendall(_ok(f'{{"connection": {number}}}'.encode()))  # then closes, without saying so

    with server(handler) as (url, _), _client(url) as client:
        first = client.get("/a").json()
        time.sleep(0.1)  # the server's close has arrived: the idle socket is readable
        second = client.get("/b").json()
    assert (first, second) == ({"connection": 1}, {"connection": 2})


def test_connection_close_is_honoured():
    def handler(conn, number):
        if conn.read():
            conn.sendall(_ok(close=True))

    with server(handler) as (url, seen), _client(url) as client:
        assert [client.get("/").status_code for _ in range(2)] == [200, 200]
    assert len(seen) == 2


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    "handler, error",
    [
        (lambda conn, n: conn.read(), httpx.RemoteProtocolError),  # closed without an answer: may have acted
        (
            lambda conn, n: (conn.read(), conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")),
            httpx.RemoteProtocolError,
        ),
        (lambda conn, n: (conn.read(), conn.sendall(b"garbage\r\n\r\n")), httpx.RemoteProtocolError),
        (lambda conn, n: (conn.read(), threading.Event().wait(0.6)), httpx.ReadTimeout),
    ],
    ids=["closed", "short-body", "not-http", "read-timeout"],
)
def test_failures_after_sending_are_the_httpx_errors_of_a_request_that_may_have_acted(handler, error):
    with server(handler) as (url, _), _client(url, timeout=0.3) as client, pytest.raises(error):
        client.post("/tool", json={})


def test_a_refused_connection_is_a_connect_error_and_an_unknown_scheme_unsupported():
    with _client(_refused_url()) as client, pytest.raises(httpx.ConnectError):
        client.get("/")
    with pytest.raises(httpx.UnsupportedProtocol):
        StdlibTransport().handle_request(httpx.Request("GET", "ftp://127.0.0.1/x"))


def _serve_ok(conn, _number):
    while conn.read():
        conn.sendall(_ok(b'{"id": "x1"}'))


def test_the_vapi_client_sends_straight_to_the_transport_what_httpx_would_have_built():
    """Without a transport given, VapiClient skips httpx.Client's per-call layers; the bytes sent
    are those httpx.Client builds (a transport given explicitly goes through the client)."""
    from vapiops.client import VapiClient
    from vapiops.kinds import KINDS

    def calls(client: VapiClient) -> None:
        client.create(KINDS["tool"], {"type": "function", "name": "é"})
        client.update(KINDS["tool"], "a b", {"name": "n"}, {"flag": "1"})
        client.delete(KINDS["tool"], "x1")

    with server(_serve_ok) as (url, seen):
        with VapiClient(url + "/", "key-1234") as direct:
            assert direct._direct is not None
            calls(direct)
        with VapiClient(url, "key-1234", transport=StdlibTransport()) as layered:
            assert layered._direct is None
            calls(layered)
    assert seen[:3] == seen[3:]
    assert (
        seen[0].startswith(b"POST /tool HTTP/1.1\r\n")
        and b"\r\nAuthorization: Bearer key-1234\r\n" in seen[0]
    )
    assert seen[0].endswith('{"type":"function","name":"é"}'.encode())
    assert seen[1].startswith(b"PATCH /tool/a%20b?flag=1 HTTP/1.1\r\n")


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_a_proxy_named_by_the_environment_is_used(monkeypatch, variable):
    """httpx mounts environment proxies only on a client built without a transport: with one set,
    the client uses httpx's own transport, and the request reaches the proxy in absolute form."""
    from vapiops.client import VapiClient
    from vapiops.kinds import KINDS

    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    with server(_serve_ok) as (proxy, seen):
        monkeypatch.setenv(variable, proxy)
        with VapiClient("http://vapi.invalid", "key-1234", max_retries=0) as client:
            assert client._direct is None
            assert client.create(KINDS["tool"], {"type": "function"}) == {"id": "x1"}
    assert seen[0].startswith(b"POST http://vapi.invalid/tool HTTP/1.1\r\n")


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
        b"X-A:  spaced value \r\nx-a: second\r\nEmpty:\r\n\r\n",  # repeated names, no value
        b"Set-Cookie: a=1\r\nX-Latin: caf\xe9\r\n\r\n",
        b"X-Folded: one\r\n two\r\nX-After: 3\r\n\r\n",  # obsolete line folding: the email parser's way
        b"Bad Name: x\r\nX-B: y\r\n\r\n",  # not a header name: the email parser's way
        b"no colon here\r\n\r\n",
        b"X-Bare-LF: 1\nX-C: 2\n\n",
        b"\r\n",
    ],
)
def test_response_headers_are_parsed_as_http_client_parses_them(block):
    import io
    from http.client import parse_headers

    from vapiops.httpconn import _header_lines, _parse_headers

    ours = _parse_headers(_header_lines(io.BytesIO(block + b"body")))
    theirs = parse_headers(io.BytesIO(block + b"body"))
    assert ours.items() == theirs.items()
    assert ours.get("x-a") == theirs.get("x-a") and ours.get_all("x-a") == theirs.get_all("x-a")


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, b"{}"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 200, b"{}"),
        (b"HTTP/1.0 200 OK\r\n\r\n[1]", 200, b"[1]"),  # no length: the body ends with the connection
        (b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 201, b""),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
    ],
)
def test_every_body_framing_is_read(answer, status, body):
    def handler(conn, _number):
        if conn.read():
            conn.sendall(answer)

    with server(handler) as (url, _), _client(url) as client:
        response = client.get("/x")
    assert (response.status_code, response.content) == (status, body)
