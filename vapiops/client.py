"""The only module that talks HTTP: VapiClient lists, reads, creates, updates and deletes Vapi resources."""

from __future__ import annotations

import builtins
import email.utils
import hashlib
import hmac
import logging
import math
import random
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from vapiops import __version__, listing, redact
from vapiops.capabilities import AttachedSet
from vapiops.errors import ApiError
from vapiops.httpconn import StdlibTransport
from vapiops.kinds import Kind
from vapiops.timestamps import CLOCK_SKEW, parse_time

log = logging.getLogger(__name__)

# Array lists are asked for Vapi's documented maximum page; a server may cap it lower unannounced,
# and only its documented default page (100) is trusted to be honoured (listing.py's proof). Offset-
# paginated lists compute offsets from the limit, so they ask only for the trusted page.
LIST_LIMIT = 1000
TRUSTED_PAGE = 100
MAX_RETRY_AFTER = 60.0  # a server asking for longer is capped: a run should not hang for minutes
MAX_BACKOFF = 30.0
KEY_HINT = "check the API key: it is read from the environment's api_key_env variable (default VAPI_API_KEY)"

# Failures after which the request surely never reached Vapi: even a POST may be sent again.
CONNECT_RETRIES = 2  # retries after a refused connection
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures after which the request may have been acted on: safe to repeat only when idempotent.
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

# How one attempt ended.
_OK, _NOT_ACTED, _MAYBE_ACTED, _FATAL = "ok", "not-acted", "maybe-acted", "fatal"

Result = httpx.Response | Exception  # one attempt: a response, or the transport error it raised


class VapiClient:
    """Vapi's REST API for the kinds in the registry, with retries and complete listings.

    Thread-safe: one httpx.Client (itself thread-safe) is shared by all calls. `stats` counts
    the HTTP requests sent per method, retries included.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = f"vapiops/{__version__}",
    ):
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.stats: dict[str, int] = {}
        self._stats_lock = threading.Lock()
        # (kind, id) -> the path parameters of its collection (Kind.path_params), as listed or created.
        self._where: dict[tuple[str, str], dict[str, str]] = {}
        # The key lives only in the httpx client's headers (never in repr); the redaction layer
        # knows it (and every secret() value of the run) and scrubs any error message of them.
        redact.register(api_key)
        self._derive = _deriver(api_key)
        self._scrub: Callable[[str], str] = lambda text: redact.scrub(text, (api_key,))
        # httpx's own transport costs ~0.4 ms of CPU a call: ours sends over http.client, except when
        # the environment names a proxy (httpx mounts those only on a client built without a transport).
        own = StdlibTransport() if transport is None and not _proxy_in_environment() else None
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": user_agent,
            },
            timeout=httpx.Timeout(timeout),
            transport=transport if transport is not None else own,
        )
        # With our own transport (so no proxy, no mount), a request goes straight to it, built once
        # with the client's headers and timeouts: httpx.Client's per-call layers (merging the URL,
        # headers, cookies and query with its own, auth and redirect hooks, the cookie jar) cost
        # ~160 us of CPU a call and change nothing here (no auth, no redirects followed, and Vapi
        # sets no cookie).
        self._direct = own
        self._extensions = {"timeout": self._http.timeout.as_dict()}
        self._urls: dict[str, httpx.URL] = {}  # the collection paths' URLs, parsed once

    def derive_key(self, label: str) -> str:
        """A key for `label` derived from the API key (HMAC-SHA256): never stored, so a reader of
        state or a plan file cannot recompute the hashes keyed with it."""
        return self._derive(label)

    def __repr__(self) -> str:
        return f"VapiClient(base_url={self.base_url!r})"

    def __enter__(self) -> VapiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the public calls ---------------------------------------------------------------------

    def _list_one(
        self,
        kind: Kind,
        path_params: dict[str, str],
        query: dict[str, str],
        stop: threading.Event | None = None,
    ) -> list[dict]:
        collection = kind.collection(path_params)

        def fetch(params: dict[str, Any]) -> Any:
            if stop is not None and stop.is_set():
                raise listing.Abandoned(kind.name)
            return self._call("GET", collection, params={**query, **params})

        if kind.list_shape == "array":
            listed = listing.list_array(kind, fetch, LIST_LIMIT, TRUSTED_PAGE)
        else:
            listed = listing.list_paginated(kind, fetch, TRUSTED_PAGE)
        if path_params:
            self._where.update(((kind.name, str(obj["id"])), path_params) for obj in listed)
        return listed

    def list(self, kind: Kind, stop: threading.Event | None = None) -> list[dict]:
        """Every live object of a kind, read to the end; ApiError rather than a partial list.

        A kind listed from several collections (path parameters) or with required queries
        (Kind.listings) has each read in parallel, so a listing costs one round trip as for other
        kinds, and merged. Once `stop` is set, no further request is sent: listing.Abandoned instead."""
        sources = kind.listings()
        if len(sources) == 1:
            return self._list_one(kind, sources[0][0], sources[0][1], stop)
        found: dict[str, dict] = {}
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            for listed in pool.map(lambda s: self._list_one(kind, s[0], s[1], stop), sources):
                for obj in listed:
                    found.setdefault(str(obj["id"]), obj)
        return list(found.values())

    def get(self, kind: Kind, id: str) -> dict:
        path = self._item_path(kind, id)
        return self._object("GET", path, self._call("GET", path))

    def create(
        self,
        kind: Kind,
        body: dict,
        *,
        match: Callable[[dict], bool] | None = None,
        started_at: str | None = None,
    ) -> dict:
        """POST a new object. Never creates it twice: see `_call` for when a POST is repeated.

        `match(obj)` says whether a live object is the one this body would create; it is asked
        about objects created at/after `started_at` when a POST failed in a way that may have
        created it anyway. It should reject objects already known to belong to something else.
        """
        started = parse_time(started_at) if started_at else datetime.now(timezone.utc)
        if started is None:
            raise ValueError(f"started_at is not an ISO 8601 time: {started_at!r}")
        recover = (lambda: self._find_created(kind, started, match)) if match is not None else None
        params = {name: str(body.get(name)) for name in kind.path_params}
        sent = {k: v for k, v in body.items() if k not in kind.path_params}
        path = kind.collection(params)
        obj = self._object("POST", path, self._call("POST", path, body=sent, recover=recover))
        if params:
            self._where[(kind.name, str(obj.get("id")))] = params
        return obj

    def upload(
        self,
        kind: Kind,
        form: dict[str, str],
        file: tuple[str, bytes, str],
        *,
        match: Callable[[dict], bool] | None = None,
        started_at: str | None = None,
    ) -> dict:
        """POST a multipart/form-data upload: `form` fields and `file` (filename, content, mimetype) as
        the kind's upload part. Never uploads it twice, as `create`."""
        assert kind.upload is not None, f"{kind.name} is not uploaded"
        started = parse_time(started_at) if started_at else datetime.now(timezone.utc)
        if started is None:
            raise ValueError(f"started_at is not an ISO 8601 time: {started_at!r}")
        recover = (lambda: self._find_created(kind, started, match)) if match is not None else None
        parts = {"data": form, "files": {kind.upload.part: file}}
        return self._object(
            "POST", kind.path, self._call("POST", kind.path, multipart=parts, recover=recover)
        )

    def attached(self, kind: Kind, id: str, aset: AttachedSet) -> builtins.list[str]:
        """The target IDs attached to an object (one GET), e.g. a knowledge base's file IDs."""
        path = f"{self._item_path(kind, id)}/{aset.path}"
        data = self._call("GET", path)
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise ApiError("GET", path, None, "malformed response: expected a JSON array of objects")
        return [str(x[aset.id_field]) for x in data if x.get(aset.id_field)]

    def attach(self, kind: Kind, id: str, aset: AttachedSet, target_id: str) -> None:
        """Attach one target (POST with {id_field: target_id}); already attached is success (409).
        After an uncertain attempt the attached set is read: attached by it means done."""
        path = f"{self._item_path(kind, id)}/{aset.path}"

        def recover() -> dict | None:
            return {} if target_id in self.attached(kind, id, aset) else None

        self._call("POST", path, body={aset.id_field: target_id}, conflict_ok=True, recover=recover)

    def detach(self, kind: Kind, id: str, aset: AttachedSet, target_id: str) -> None:
        """Detach one target; already detached (404) is success."""
        path = f"{self._item_path(kind, id)}/{aset.path}/{quote(str(target_id), safe='')}"
        self._call("DELETE", path, missing_ok=True)

    def update(self, kind: Kind, id: str, body: dict, query: dict[str, str] | None = None) -> dict:
        """PATCH with the kind's query parameters, `query` laid over them; returns the API's object."""
        path = self._item_path(kind, id)
        params = {**kind.patch_query, **(query or {})}
        sent = {k: v for k, v in body.items() if k not in kind.path_params}
        data = self._call("PATCH", path, params=params or None, body=sent)
        return self._object("PATCH", path, data)

    def delete(self, kind: Kind, id: str) -> None:
        """DELETE; an object already gone (404) is success: the desired outcome holds."""
        if kind.path_params and (kind.name, id) not in self._where and self._locate(kind, id) is None:
            return  # in no collection: gone already
        self._call("DELETE", self._item_path(kind, id), missing_ok=True)

    def _item_path(self, kind: Kind, id: str) -> str:
        """The item path; for a kind with path parameters, in the collection it was listed or created
        in, else (a plan applied by a later process) the one a GET finds it in."""
        params = self._where.get((kind.name, id)) or self._locate(kind, id) or {}
        return f"{kind.collection(params)}/{quote(str(id), safe='')}"

    def _locate(self, kind: Kind, id: str) -> dict[str, str] | None:
        """The path parameters of the collection holding `id` (one GET per allowed value at most)."""
        for params in kind.path_param_sets() if kind.path_params else []:
            if self._call("GET", f"{kind.collection(params)}/{quote(str(id), safe='')}", missing_ok=True):
                self._where[(kind.name, id)] = params
                return params
        return None

    # -- listing (vapiops.listing proves each listing complete) ----------------------------------

    def _find_created(self, kind: Kind, started: datetime, match: Callable[[dict], bool]) -> dict | None:
        """The object an uncertain POST created, if it exists: created since `started`, matching."""
        candidates = [
            obj
            for obj in self.list(kind)
            if (when := parse_time(obj.get("createdAt"))) is not None
            and when >= started - CLOCK_SKEW
            and match(obj)
        ]
        if not candidates:
            return None

        # Several matches: the earliest at/after our first attempt (a later one came from a retry),
        # else the nearest within the skew (the server's clock lagging ours).
        def rank(obj: dict) -> tuple[bool, timedelta]:
            when = parse_time(obj["createdAt"]) or started
            return when < started, abs(when - started)

        return min(candidates, key=rank)

    # -- one call, with retries ---------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict | None = None,
        recover: Callable[[], dict | None] | None = None,
        missing_ok: bool = False,
        conflict_ok: bool = False,
        multipart: dict[str, Any] | None = None,
    ) -> Any:
        """Send a request, retrying what is safe to retry; return the parsed JSON body (or None).

        GET/PATCH/DELETE are repeated on 429, 5xx and network failures. A POST is repeated
        only when Vapi surely did not act (429, no connection). After any other failure a POST
        may have created the object: `recover()` looks for it (found: returned as the result;
        not found: POST again). Without `recover` such a POST is not repeated.
        """
        attempt = 0
        while True:
            result = self._send(method, path, params, body, multipart)
            if missing_ok and isinstance(result, httpx.Response) and result.status_code == 404:
                return None
            if conflict_ok and isinstance(result, httpx.Response) and result.status_code == 409:
                return None
            outcome = _outcome(result)
            if outcome == _OK:
                assert isinstance(result, httpx.Response)
                return self._json(method, path, result)
            unsure = outcome == _MAYBE_ACTED and method == "POST"
            if outcome == _FATAL or (unsure and recover is None):
                hint = (
                    "the request may have reached Vapi: run `vapiops plan` to see whether it was created"
                    if unsure
                    else None
                )
                raise self._error(method, path, result, hint=hint)
            # A refused connection is usually a wrong URL or a server that is down, not a blip:
            # give up sooner than for a 429 or 5xx (5 tries took ~18 s to say "unreachable").
            limit = (
                min(self.max_retries, CONNECT_RETRIES)
                if isinstance(result, httpx.ConnectError)
                else self.max_retries
            )
            last = attempt >= limit
            if not last:
                self.sleep(self._delay(attempt, result))
            if unsure:
                assert recover is not None
                found = self._recover(method, path, result, recover)
                if found is not None:
                    log.debug("%s %s: found the object the failed attempt created", method, path)
                    return found
            if last:
                raise self._error(method, path, result, hint=f"gave up after {attempt + 1} attempts")
            attempt += 1

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict | None,
        multipart: dict[str, Any] | None = None,
    ) -> Result:
        """One attempt, counted in `stats`; a transport failure is returned, not raised."""
        with self._stats_lock:
            self.stats[method] = self.stats.get(method, 0) + 1
        started = time.monotonic()
        try:
            if multipart is not None:
                response = self._http.request(method, path, params=params, **multipart)
            elif self._direct is not None:
                request = httpx.Request(
                    method,
                    self._url(path),
                    params=params,
                    headers=self._http.headers,
                    json=body,
                    extensions=self._extensions,
                )
                response = self._direct.handle_request(request)
            else:
                response = self._http.request(method, path, params=params, json=body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.debug(
                "%s %s -> %s after %.0f ms",
                method,
                path,
                type(exc).__name__,
                (time.monotonic() - started) * 1000,
            )
            return exc
        log.debug(
            "%s %s -> %s in %.0f ms", method, path, response.status_code, (time.monotonic() - started) * 1000
        )
        return response

    def _url(self, path: str) -> httpx.URL:
        """The base URL joined with `path` (as httpx.Client joins them); collection paths are cached."""
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if (
                path.count("/") == 1
            ):  # a one-segment collection path: a handful per run (an item path is used about once)
                self._urls[path] = url
        return url

    def _recover(
        self, method: str, path: str, result: Result, recover: Callable[[], dict | None]
    ) -> dict | None:
        try:
            return recover()
        except ApiError as exc:
            error = self._error(method, path, result)
            raise ApiError(
                method,
                path,
                error.status,
                f"{error.api_message}; looking for the object it may have created also failed: {exc}",
                hint="run `vapiops plan` to see whether it was created",
            ) from exc

    def _delay(self, attempt: int, result: Result) -> float:
        """Retry-After when the server gives one, else exponential backoff with jitter."""
        if isinstance(result, httpx.Response):
            wait = _retry_after(result.headers.get("Retry-After"))
            if wait is not None:
                return wait
        base = min(self.backoff * 2**attempt, MAX_BACKOFF)
        # Jitter spreads out parallel apply threads that all hit the same rate limit.
        return base + random.uniform(0, self.backoff)

    # -- responses and errors -----------------------------------------------------------------

    def _json(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                method,
                path,
                None,
                f"malformed response: HTTP {response.status_code} with a body that is not JSON",
            ) from None

    def _object(self, method: str, path: str, data: Any) -> dict:
        if not isinstance(data, dict):
            raise ApiError(method, path, None, "malformed response: expected a JSON object")
        return data

    def _error(self, method: str, path: str, result: Result, hint: str | None = None) -> ApiError:
        if isinstance(result, httpx.Response):
            status: int | None = result.status_code
            message = _api_message(result)
            if status in (401, 403):
                hint = KEY_HINT
        else:
            status = None
            detail = str(result) or type(result).__name__
            message = f"could not reach {self.base_url}: {detail}"
        return ApiError(method, path, status, self._scrub(message), hint=hint)


def _outcome(result: Result) -> str:
    if isinstance(result, httpx.Response):
        if result.is_success:
            return _OK
        if result.status_code == 429:
            return _NOT_ACTED
        if result.status_code >= 500:
            return _MAYBE_ACTED
        return _FATAL
    if isinstance(result, _NOT_SENT):
        return _NOT_ACTED
    if isinstance(result, _MAYBE_SENT):
        return _MAYBE_ACTED
    return _FATAL


def _api_message(response: httpx.Response) -> str:
    """Vapi's own words: JSON `message` (a string or a list of strings), else the body text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("message", data.get("error"))
        if isinstance(message, list):
            return "; ".join(str(m) for m in message)
        if isinstance(message, str) and message:
            return message
        if message is not None:
            return str(message)
    text = " ".join(response.text.split())
    if text:
        return text if len(text) <= 300 else text[:300] + "..."
    return response.reason_phrase or ""


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), capped at MAX_RETRY_AFTER."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _proxy_in_environment() -> bool:
    """Whether the environment names an HTTP proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), as httpx reads it."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def _deriver(api_key: str) -> Callable[[str], str]:
    # A closure, so the key is in no attribute of the client (vars(), repr, a debugger's dump).
    secret = api_key.encode("utf-8")

    def derive(label: str) -> str:
        return hmac.new(secret, label.encode("utf-8"), hashlib.sha256).hexdigest()

    return derive
