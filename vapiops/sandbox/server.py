"""The sandbox's HTTP front: a local stand-in for Vapi's REST API on 127.0.0.1 (docs/sandbox.md).

Built on the standard library's ThreadingHTTPServer: zero new dependencies, and a threaded
stdlib server is plenty for a local test double (it is never exposed beyond 127.0.0.1).
This module does HTTP only: parsing, auth (one org per API key), faults and the request log;
`api` holds the Vapi semantics and `store` the data.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vapiops.kinds import KINDS
from vapiops.sandbox.api import Api, Response, error
from vapiops.sandbox.faults import Faults
from vapiops.sandbox.store import Store, org_id_for_key
from vapiops.sandbox.uploads import parse_multipart

HOST = "127.0.0.1"
_METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS")
_UNAUTHORIZED = (
    "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."
)


class SandboxServer:
    """A stateful local Vapi API: start() it in a thread for tests, serve_forever() for the CLI."""

    def __init__(
        self,
        *,
        data_file: Path | None = None,
        latency_ms: int = 0,
        fault_rate: float = 0.0,
        allow_fields: dict[str, list[str]] | None = None,
        list_order: str | None = None,
        api_key: str | None = None,
        seed: int | None = None,
        log: Callable[[str], None] | None = None,
        mask_secrets: bool = False,
        ignore_fields: dict[str, list[str]] | None = None,
        echo_errors: bool = False,
        strict_real: bool = False,
        page_cap: int | None = None,
    ):
        """strict_real: every real-API behaviour that is otherwise off (docs/sandbox.md, Strict-real):
        secrets answered masked and array lists oldest first, the order vapiops must not assume
        away; an explicit list_order still wins. UUID checks and server rules are always on.
        page_cap: the most items a list call answers whatever its `limit` (default: the documented
        maximum, 1000), as a server capping pages lower than it says would."""
        if list_order is None:
            list_order = "asc" if strict_real else "desc"
        mask_secrets = mask_secrets or strict_real
        if api_key is not None and not api_key.strip():
            raise ValueError("api_key must not be empty")
        self._api_key = api_key
        self._store = Store(Path(data_file) if data_file is not None else None)
        self._api = Api(
            self._store,
            allow_fields,
            mask_secrets=mask_secrets,
            ignore_fields=ignore_fields,
            list_order=list_order,
            **({"page_cap": page_cap} if page_cap is not None else {}),
        )
        self._faults = Faults(latency_ms=latency_ms, fault_rate=fault_rate, seed=seed)
        # Like a careless server, quote the request body in every error message: shows that vapiops
        # scrubs every secret value from an API error, not only the API key.
        self.echo_errors = echo_errors
        self._log = log  # one line per request (method, path, status, time); never headers or keys
        self._requests: list[dict[str, Any]] = []
        self._requests_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve in a daemon thread (port 0: any free port); returns "http://127.0.0.1:PORT"."""
        httpd = self._bind(port)
        # A short poll interval makes stop() quick: shutdown() waits for the next poll.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="vapiops-sandbox", daemon=True
        )
        self._thread.start()
        return self.url

    def serve_forever(self, port: int) -> None:
        """Serve in the foreground until interrupted (KeyboardInterrupt propagates to the caller)."""
        httpd = self._bind(port)
        if self._log is not None:
            self._log(f"Vapi API sandbox listening on {self.url}")
        try:
            httpd.serve_forever(poll_interval=0.05)
        finally:
            httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()  # also ends a serve_forever() running in another thread
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind(self, port: int) -> ThreadingHTTPServer:
        if self._httpd is not None:
            raise RuntimeError("sandbox is already serving")
        httpd = ThreadingHTTPServer((HOST, port), _make_handler(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        self.url = f"http://{HOST}:{httpd.server_address[1]}"
        return httpd

    # -- test hooks -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far: {method, path, query, body, status} (a snapshot copy)."""
        with self._requests_lock:
            return copy.deepcopy(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def inject(
        self,
        method: str,
        path_prefix: str,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        after_effect: bool = False,
    ) -> None:
        """Answer the next `times` requests matching method ("*" = any) and path prefix with `status`.

        after_effect=True carries the request out first (e.g. the object IS created) and then
        answers with the error, as when a gateway fails after the API acted.
        """
        self._faults.inject(method, path_prefix, status, times, retry_after, after_effect)

    def objects(self, kind_name: str, api_key: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored objects of one kind, oldest first: one org's (by key) or every org's."""
        org = org_id_for_key(api_key) if api_key is not None else None
        return self._store.objects(kind_name, org)

    def seed(self, kind_name: str, api_key: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Store an object as the dashboard made it, unchecked, and return it: for what the API cannot
        create as a test needs it (a file, which is an upload; a fixed `id` or `createdAt`). `id`,
        `createdAt` and `updatedAt` are generated unless `fields` gives them; `orgId` is the key's org.
        Anything the API can create is better created with an HTTP POST, as the dashboard would."""
        if kind_name not in KINDS:
            raise KeyError(f"no kind {kind_name!r}")
        org = org_id_for_key(api_key)
        now = self._store.now()
        obj = {"id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now, **copy.deepcopy(fields)}
        obj["orgId"] = org
        self._store.put(org, kind_name, obj)
        return copy.deepcopy(obj)

    def edit(self, kind_name: str, api_key: str, obj_id: str, changes: dict[str, Any]) -> None:
        """Set top-level keys of a stored object directly, unchecked, as the dashboard can (a field
        Vapi's published spec lacks, a pin): the test hook for "changed outside vapiops"."""
        org = org_id_for_key(api_key)
        with self._store.lock:
            obj = self._store.get(org, kind_name, obj_id)
            if obj is None:
                raise KeyError(f"no {kind_name} {obj_id} in that org")
            obj.update(copy.deepcopy(changes))
            self._store.put(org, kind_name, obj)

    # -- one request ----------------------------------------------------------------------------

    def _serve(self, method: str, target: str, headers: Any, raw_body: bytes | None) -> Response:
        started = time.monotonic()
        split = urlsplit(target)
        path = split.path or "/"
        query = {
            name: values[-1] if len(values) == 1 else values
            for name, values in parse_qs(split.query, keep_blank_values=True).items()
        }
        content_type = headers.get("Content-Type") or ""
        if content_type.startswith("multipart/form-data") and raw_body is not None:
            body, body_ok = parse_multipart(content_type, raw_body)
        else:
            body, body_ok = _parse_json(raw_body)
        try:
            response = self._respond(method, path, query, body, body_ok, headers.get("Authorization"))
        except Exception as exc:  # a sandbox bug: answer 500 rather than drop the connection
            response = error(500, f"sandbox internal error: {type(exc).__name__}: {exc}")
        if self.echo_errors and response.status >= 400 and isinstance(response.body, dict):
            echoed = (raw_body or b"").decode("utf-8", "replace")
            response.body["message"] = f"{response.body.get('message')} (request body: {echoed})"
        with self._requests_lock:
            self._requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": copy.deepcopy(query),
                    "body": copy.deepcopy(body),
                    "status": response.status,
                }
            )
        if self._log is not None:
            self._log(f"{method} {path} {response.status} {(time.monotonic() - started) * 1000:.0f}ms")
        return response

    def _respond(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        body: Any,
        body_ok: bool,
        authorization: str | None,
    ) -> Response:
        self._faults.delay()
        if not self._api.routable(path):
            return error(404, f"Cannot {method} {path}")
        org = self._org(authorization)
        if org is None:
            return error(401, _UNAUTHORIZED)
        fault = self._faults.pick(method, path)
        if fault is not None and not fault.after_effect:
            return _fault_response(fault.status, fault.retry_after)
        if body_ok:
            response = self._api.handle(method, path, query, body, org)
        else:
            response = error(400, "request body is not valid JSON")
        if fault is not None:
            return _fault_response(fault.status, fault.retry_after)
        return response

    def _org(self, authorization: str | None) -> str | None:
        """The org a request acts for: one per distinct key (one in all when the key is fixed)."""
        scheme, _, key = (authorization or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None
        if self._api_key is not None and key != self._api_key:
            return None
        return org_id_for_key(key)


def _fault_response(status: int, retry_after: float | None) -> Response:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return error(status, HTTPStatus(status).phrase, headers)


def _parse_json(raw: bytes | None) -> tuple[Any, bool]:
    """(parsed body or None, whether it was acceptable): an empty body is None and fine."""
    if raw is None:
        return None, False
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False


def _make_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: httpx reuses connections
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every response.
        disable_nagle_algorithm = True
        server_version = "vapiops-sandbox"

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            raw: bytes | None = None  # unreadable: answered 400
            if length < 0:
                self.close_connection = True  # the body's end is unknown: the stream is unusable
            else:
                raw = self.rfile.read(length) if length else b""
            response = server._serve(self.command, self.path, self.headers, raw)
            payload = json.dumps(response.body).encode("utf-8")
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the stdlib's access log would go to stderr; SandboxServer(log=...) replaces it

    for method in _METHODS:
        setattr(Handler, f"do_{method}", Handler._handle)
    return Handler
