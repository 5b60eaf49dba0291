"""VapiClient against httpx.MockTransport: paging, retries, POST safety, errors, secrecy."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from vapiops.client import CONNECT_RETRIES, LIST_LIMIT, MAX_RETRY_AFTER, TRUSTED_PAGE, VapiClient
from vapiops.errors import ApiError
from vapiops.kinds import KINDS

API_KEY = "sk-test-VERY-SECRET-0123456789"
ASSISTANT = KINDS["assistant"]
TOOL = KINDS["tool"]
STRUCTURED = KINDS["structured-output"]
SCORECARD = KINDS["scorecard"]
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


TIME_FILTERS: dict[str, Callable[[str, str], bool]] = {
    "createdAtGt": lambda value, bound: value > bound,
    "createdAtLt": lambda value, bound: value < bound,
    "createdAtGe": lambda value, bound: value >= bound,
    "createdAtLe": lambda value, bound: value <= bound,
}


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeVapi:
    """A tiny in-memory Vapi: array lists newest first with createdAt bounds, paginated ones by page.

    `faults` is a list of callables tried in order before normal handling; one returning a
    response (or raising) takes the request, one returning None lets it through.
    """

    def __init__(self) -> None:
        self.items: dict[str, list[dict]] = {}
        self.requests: list[httpx.Request] = []
        self.faults: list[Callable[[httpx.Request], httpx.Response | None]] = []
        self.next_id = 0
        self.lock = threading.Lock()

    def add(self, path: str, created_at: datetime, **fields: object) -> dict:
        with self.lock:
            self.next_id += 1
            obj = {"id": f"id-{self.next_id:04d}", "createdAt": iso(created_at), **fields}
            self.items.setdefault(path, []).append(obj)
            return obj

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        for fault in list(self.faults):
            response = fault(request)
            if response is not None:
                return response
        path = request.url.path
        base, _, item_id = path.rpartition("/")
        if request.method == "GET" and path in {p for k in KINDS.values() for p in k.collections}:
            return self.list(request, path)
        if request.method == "POST":
            body = json.loads(request.content)
            return httpx.Response(201, json=self.add(path, datetime.now(timezone.utc), **body))
        for obj in self.items.get(base, []):
            if obj["id"] == item_id:
                if request.method == "GET":
                    return httpx.Response(200, json=obj)
                if request.method == "PATCH":
                    obj.update(json.loads(request.content))
                    return httpx.Response(200, json=obj)
                if request.method == "DELETE":
                    self.items[base].remove(obj)
                    return httpx.Response(200, json=obj)
        return httpx.Response(404, json={"message": "Not Found", "statusCode": 404})

    def list(self, request: httpx.Request, path: str) -> httpx.Response:
        limit = int(request.url.params.get("limit", 100))
        assert limit <= LIST_LIMIT
        limit = min(limit, TRUSTED_PAGE)  # pages of 100 whatever is asked, as a capping server's
        # Newest first; ties in an order unrelated to insertion, as a database might return them.
        items = sorted(self.items.get(path, []), key=lambda o: (o["createdAt"], o["id"][::-1]), reverse=True)
        if path in (STRUCTURED.path, SCORECARD.path):
            page = int(request.url.params.get("page", 1))
            results = items[(page - 1) * limit : page * limit]
            total_pages = max(1, -(-len(items) // limit))
            return httpx.Response(
                200,
                json={
                    "results": results,
                    "metadata": {
                        "itemsPerPage": limit,
                        "totalItems": len(items),
                        "currentPage": page,
                        "totalPages": total_pages,
                        "hasNextPage": page < total_pages,
                    },
                },
            )
        for name, keep in TIME_FILTERS.items():
            bound = request.url.params.get(name)
            if bound is not None:
                items = [o for o in items if keep(o["createdAt"], bound)]
        return httpx.Response(200, json=items[:limit])

    def count(self, method: str) -> int:
        return sum(1 for r in self.requests if r.method == method)


@pytest.fixture
def api() -> FakeVapi:
    return FakeVapi()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(api: FakeVapi, sleeps: list[float]):
    with VapiClient(
        "https://api.example.test/", API_KEY, transport=httpx.MockTransport(api.handler), sleep=sleeps.append
    ) as c:
        yield c


def fail_times(n: int, make: Callable[[httpx.Request], httpx.Response], method: str | None = None):
    """A fault taking the first n matching requests."""
    left = [n]

    def fault(request: httpx.Request) -> httpx.Response | None:
        if left[0] and (method is None or request.method == method):
            left[0] -= 1
            return make(request)
        return None

    return fault


# -- listing ---------------------------------------------------------------------------------


def test_array_listing_sends_limit_and_inclusive_bounds(api: FakeVapi, client: VapiClient):
    # 250 assistants; groups of 5 share a timestamp, so page boundaries cut through groups.
    made = [api.add("/assistant", T0 + timedelta(seconds=i // 5), name=f"a{i}") for i in range(250)]
    listed = client.list(ASSISTANT)
    assert sorted(o["id"] for o in listed) == sorted(o["id"] for o in made)
    gets = [r for r in api.requests if r.method == "GET"]
    assert "createdAtLe" not in gets[0].url.params
    oldest_first_page = min(o["createdAt"] for o in listed[:100])
    # After the first page and its check, the walk goes on from the oldest timestamp seen, inclusive.
    assert gets[2].url.params["createdAtLe"] == oldest_first_page
    assert all(r.url.params["limit"] == str(LIST_LIMIT) for r in gets)
    assert len(gets) == client.stats["GET"] == 6


def test_array_listing_empty(client: VapiClient):
    assert client.list(ASSISTANT) == []
    assert client.stats == {"GET": 1}


def test_paginated_listing_stops_when_metadata_says_last(api: FakeVapi, client: VapiClient):
    for i in range(200):
        api.add("/observability/scorecard", T0 + timedelta(seconds=i))
    # Exactly two full pages: hasNextPage false on page 2 saves a third, empty call.
    assert len(client.list(SCORECARD)) == 200
    assert client.stats["GET"] == 2


def test_paginated_listing_of_a_server_ignoring_page_is_an_error(api: FakeVapi, client: VapiClient):
    results = [{"id": f"x{i}", "createdAt": iso(T0)} for i in range(100)]
    api.faults.append(
        lambda r: httpx.Response(200, json={"results": results, "metadata": {"currentPage": 1}})
    )
    with pytest.raises(ApiError, match="repeats earlier items"):
        client.list(STRUCTURED)
    assert client.stats["GET"] == 2


def test_a_failing_page_raises_instead_of_returning_a_partial_list(
    api: FakeVapi, client: VapiClient, sleeps: list[float]
):
    for i in range(150):
        api.add("/assistant", T0 + timedelta(seconds=i))
    api.faults.append(
        lambda r: httpx.Response(500, json={"message": "boom"}) if "createdAtGt" in r.url.params else None
    )
    with pytest.raises(ApiError) as e:
        client.list(ASSISTANT)
    assert e.value.status == 500
    assert str(e.value).startswith("GET /assistant failed with 500: boom")
    # Page 1's check (the span inside it) was tried 1 + max_retries times; the walks that ran beside
    # it may have sent their first pages (and their checks, failing alike) before it gave up.
    checks = [r for r in api.requests if r.method == "GET" and "createdAtLt" in r.url.params]
    assert len(checks) == 6
    assert len(sleeps) % 5 == 0 and client.stats["GET"] <= 1 + 6 + 2 + 6


def test_a_failing_paginated_page_raises(api: FakeVapi, client: VapiClient):
    for i in range(150):
        api.add("/structured-output", T0 + timedelta(seconds=i))
    api.faults.append(
        lambda r: (
            httpx.Response(403, json={"message": "Forbidden"}) if r.url.params.get("page") == "2" else None
        )
    )
    with pytest.raises(ApiError) as e:
        client.list(STRUCTURED)
    assert e.value.status == 403


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (ASSISTANT, {"results": []}),
        (ASSISTANT, [{"name": "no id"}]),
        (STRUCTURED, [{"id": "x"}]),
        (STRUCTURED, {"metadata": {}}),
    ],
)
def test_malformed_listings_are_errors(api: FakeVapi, client: VapiClient, kind, body):
    api.faults.append(lambda r: httpx.Response(200, json=body))
    with pytest.raises(ApiError, match="malformed response"):
        client.list(kind)


def test_non_json_success_is_an_error(api: FakeVapi, client: VapiClient):
    api.faults.append(lambda r: httpx.Response(200, text="<html>hello</html>"))
    with pytest.raises(ApiError, match="not JSON"):
        client.list(ASSISTANT)


# -- retries ---------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    api.add("/assistant", T0)
    api.faults.append(fail_times(1, lambda r: httpx.Response(429, headers={"Retry-After": "7"})))
    assert len(client.list(ASSISTANT)) == 1
    assert sleeps == [7.0]
    assert client.stats["GET"] == 2


def test_retry_after_http_date_and_cap(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    api.faults.append(fail_times(1, lambda r: httpx.Response(503, headers={"Retry-After": soon})))
    api.faults.append(fail_times(1, lambda r: httpx.Response(429, headers={"Retry-After": "3600"})))
    client.list(ASSISTANT)
    assert 15 < sleeps[0] <= 20
    assert sleeps[1] == MAX_RETRY_AFTER


def test_5xx_on_get_is_retried_with_growing_backoff(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    obj = api.add("/assistant", T0, name="support")
    api.faults.append(fail_times(3, lambda r: httpx.Response(503, text="unavailable")))
    assert client.get(ASSISTANT, obj["id"]) == obj
    assert client.stats["GET"] == 4
    # backoff 0.5 * 2**n plus jitter below 0.5
    assert [int(s / 0.5) for s in sleeps] == [1, 2, 4]


def test_retries_give_up_after_max_retries(api: FakeVapi, sleeps: list[float]):
    api.faults.append(lambda r: httpx.Response(503, json={"message": "Service Unavailable"}))
    c = VapiClient(
        "https://x.test",
        API_KEY,
        transport=httpx.MockTransport(api.handler),
        sleep=sleeps.append,
        max_retries=2,
    )
    with pytest.raises(ApiError) as e:
        c.get(ASSISTANT, "abc")
    assert e.value.status == 503
    assert c.stats["GET"] == 3
    assert "gave up after 3 attempts" in str(e.value)


def test_network_errors_on_get_and_patch_are_retried(api: FakeVapi, client: VapiClient):
    obj = api.add("/assistant", T0, name="support")

    def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    api.faults.append(fail_times(1, read_timeout, method="GET"))
    api.faults.append(fail_times(1, read_timeout, method="PATCH"))
    assert client.get(ASSISTANT, obj["id"])["name"] == "support"
    assert client.update(ASSISTANT, obj["id"], {"name": "helpdesk"})["name"] == "helpdesk"
    assert client.stats == {"GET": 2, "PATCH": 2}


def test_4xx_is_not_retried(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    api.faults.append(lambda r: httpx.Response(400, json={"message": ["name must be shorter"]}))
    with pytest.raises(ApiError):
        client.update(ASSISTANT, "abc", {"name": "x" * 100})
    assert client.stats == {"PATCH": 1}
    assert sleeps == []


# -- POST safety -----------------------------------------------------------------------------


def test_post_502_after_creating_is_found_via_match_without_a_second_post(api: FakeVapi, client: VapiClient):
    api.add("/tool", T0, type="function", name="old")  # an unrelated, older object

    def create_then_502(request: httpx.Request) -> httpx.Response:
        api.add(request.url.path, datetime.now(timezone.utc), **json.loads(request.content))
        return httpx.Response(502, text="Bad Gateway")

    api.faults.append(fail_times(1, create_then_502, method="POST"))
    body = {"type": "function", "name": "lookup"}
    obj = client.create(TOOL, body, match=lambda o: o.get("name") == "lookup")
    assert obj["name"] == "lookup"
    assert api.count("POST") == 1
    assert [o["name"] for o in api.items["/tool"]] == ["old", "lookup"]


def test_post_502_without_the_object_is_retried(api: FakeVapi, client: VapiClient):
    api.faults.append(fail_times(1, lambda r: httpx.Response(502), method="POST"))
    obj = client.create(
        TOOL, {"type": "function", "name": "lookup"}, match=lambda o: o.get("name") == "lookup"
    )
    assert obj["name"] == "lookup"
    assert api.count("POST") == 2
    assert api.count("GET") == 1  # one look for the object between the two POSTs
    assert len(api.items["/tool"]) == 1


def test_post_read_timeout_after_creating_is_found(api: FakeVapi, client: VapiClient):
    def create_then_timeout(request: httpx.Request) -> httpx.Response:
        api.add(request.url.path, datetime.now(timezone.utc), **json.loads(request.content))
        raise httpx.ReadTimeout("timed out", request=request)

    api.faults.append(fail_times(1, create_then_timeout, method="POST"))
    obj = client.create(ASSISTANT, {"name": "support"}, match=lambda o: o.get("name") == "support")
    assert obj["name"] == "support"
    assert api.count("POST") == 1
    assert len(api.items["/assistant"]) == 1


def test_post_match_ignores_objects_created_before_started_at(api: FakeVapi, client: VapiClient):
    api.add("/assistant", T0, name="support")  # an identical object from long ago: not ours
    api.faults.append(fail_times(1, lambda r: httpx.Response(500), method="POST"))
    obj = client.create(
        ASSISTANT,
        {"name": "support"},
        match=lambda o: o.get("name") == "support",
        started_at=iso(T0 + timedelta(hours=1)),
    )
    assert obj["createdAt"] > iso(T0 + timedelta(hours=1))
    assert api.count("POST") == 2


def test_post_5xx_without_match_is_not_retried(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    api.faults.append(lambda r: httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(ApiError) as e:
        client.create(ASSISTANT, {"name": "support"})
    assert api.count("POST") == 1
    assert e.value.status == 502
    assert "may have reached Vapi" in str(e.value)
    assert sleeps == []


def test_post_on_429_is_retried_without_looking(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    api.faults.append(
        fail_times(2, lambda r: httpx.Response(429, headers={"Retry-After": "1"}), method="POST")
    )
    obj = client.create(ASSISTANT, {"name": "support"})
    assert obj["name"] == "support"
    assert api.count("POST") == 3
    assert api.count("GET") == 0
    assert sleeps == [1.0, 1.0]


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout])
def test_post_on_connection_failure_is_retried(api: FakeVapi, client: VapiClient, error):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise error("connection refused", request=request)

    api.faults.append(fail_times(1, refuse, method="POST"))
    assert client.create(ASSISTANT, {"name": "support"})["name"] == "support"
    assert api.count("POST") == 2
    assert api.count("GET") == 0


def test_post_that_keeps_failing_looks_once_more_before_giving_up(api: FakeVapi, sleeps: list[float]):
    api.faults.append(lambda r: httpx.Response(500) if r.method == "POST" else None)
    c = VapiClient(
        "https://x.test",
        API_KEY,
        transport=httpx.MockTransport(api.handler),
        sleep=sleeps.append,
        max_retries=2,
    )
    with pytest.raises(ApiError) as e:
        c.create(ASSISTANT, {"name": "support"}, match=lambda o: True)
    assert e.value.status == 500
    assert c.stats == {"POST": 3, "GET": 3}


def test_post_when_the_lookup_fails_too(api: FakeVapi, client: VapiClient):
    api.faults.append(lambda r: httpx.Response(502) if r.method == "POST" else None)
    api.faults.append(lambda r: httpx.Response(401, json={"message": "Unauthorized"}))
    with pytest.raises(ApiError) as e:
        client.create(ASSISTANT, {"name": "support"}, match=lambda o: True)
    assert e.value.status == 502
    assert "looking for the object it may have created also failed" in str(e.value)
    assert api.count("POST") == 1


# -- reads, writes, deletes ------------------------------------------------------------------


def test_delete_of_a_missing_object_is_success(api: FakeVapi, client: VapiClient):
    obj = api.add("/assistant", T0)
    assert client.delete(ASSISTANT, obj["id"]) is None
    assert api.items["/assistant"] == []
    assert client.delete(ASSISTANT, obj["id"]) is None  # 404 now: already gone
    assert client.stats == {"DELETE": 2}


def test_get_404_is_an_error(client: VapiClient):
    with pytest.raises(ApiError) as e:
        client.get(ASSISTANT, "missing")
    assert e.value.status == 404
    assert str(e.value) == "GET /assistant/missing failed with 404: Not Found"


def test_update_sends_patch_query(api: FakeVapi, client: VapiClient):
    so = api.add("/structured-output", T0, name="outcome")
    a = api.add("/assistant", T0, name="support")
    client.update(STRUCTURED, so["id"], {"name": "call-outcome"})
    client.update(ASSISTANT, a["id"], {"name": "helpdesk", "voice": None})
    client.update(STRUCTURED, so["id"], {"schema": {"type": "string"}}, {"schemaOverride": "true"})
    so_patch, a_patch, so_override = [r for r in api.requests if r.method == "PATCH"]
    assert so_patch.url.params["schemaOverride"] == "false"  # the kind's default
    assert so_override.url.params["schemaOverride"] == "true"  # the step's own, laid over it
    assert so_patch.url.path == f"/structured-output/{so['id']}"
    assert dict(a_patch.url.params) == {}
    assert json.loads(a_patch.content) == {"name": "helpdesk", "voice": None}  # removed field sent as null


def test_ids_are_escaped_in_paths(api: FakeVapi, client: VapiClient):
    with pytest.raises(ApiError):
        client.get(ASSISTANT, "../tool")
    assert api.requests[0].url.raw_path == b"/assistant/..%2Ftool"


def test_headers_sent(api: FakeVapi, client: VapiClient):
    client.list(ASSISTANT)
    request = api.requests[0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith("vapiops/")
    assert str(request.url).startswith("https://api.example.test/assistant?")


def test_stats_are_counted_across_threads(api: FakeVapi, client: VapiClient):
    obj = api.add("/assistant", T0)
    threads = [
        threading.Thread(target=lambda: [client.get(ASSISTANT, obj["id"]) for _ in range(20)])
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.stats["GET"] == 160 == api.count("GET")


# -- error messages and secrecy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(
                400,
                json={
                    "message": ["property foo should not exist", "name must be a string"],
                    "error": "Bad Request",
                    "statusCode": 400,
                },
            ),
            "PATCH /assistant/1234 failed with 400: property foo should not exist; name must be a string",
        ),
        (
            httpx.Response(400, json={"message": "property foo should not exist"}),
            "PATCH /assistant/1234 failed with 400: property foo should not exist",
        ),
        (httpx.Response(409, json={"error": "Conflict"}), "PATCH /assistant/1234 failed with 409: Conflict"),
        (
            httpx.Response(422, text="<html>\n  <b>nope</b>\n</html>"),
            "PATCH /assistant/1234 failed with 422: <html> <b>nope</b> </html>",
        ),
        (httpx.Response(418), "PATCH /assistant/1234 failed with 418: I'm a teapot"),
    ],
)
def test_error_message_formats(api: FakeVapi, client: VapiClient, response, expected):
    api.faults.append(lambda r: response)
    with pytest.raises(ApiError) as e:
        client.update(ASSISTANT, "1234", {"foo": 1})
    assert str(e.value) == expected
    assert (e.value.method, e.value.path, e.value.status) == (
        "PATCH",
        "/assistant/1234",
        response.status_code,
    )


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_hint_at_the_key_variable(api: FakeVapi, client: VapiClient, status: int):
    api.faults.append(
        lambda r: httpx.Response(status, json={"message": "Invalid Key. Hot tip, use the private key"})
    )
    with pytest.raises(ApiError) as e:
        client.list(ASSISTANT)
    assert "VAPI_API_KEY" in str(e.value)
    assert client.stats["GET"] == 1


def test_connection_failure_message(api: FakeVapi, client: VapiClient, sleeps: list[float]):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    api.faults.append(refuse)
    with pytest.raises(ApiError) as e:
        client.delete(ASSISTANT, "1")
    assert e.value.status is None
    assert str(e.value).startswith(
        "DELETE /assistant/1 failed: could not reach https://api.example.test: [Errno 111] Connection refused"
    )
    # A refused connection gives up after CONNECT_RETRIES, sooner than the 5 retries of a 5xx.
    assert len(sleeps) == CONNECT_RETRIES == 2


def test_api_key_never_appears(api: FakeVapi, client: VapiClient):
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(vars(client))
    messages = []
    echoes = [
        lambda r: httpx.Response(401, json={"message": f"bad key {API_KEY}"}),
        lambda r: httpx.Response(400, text=f"Authorization: Bearer {API_KEY}"),
        lambda r: httpx.Response(500, json={"message": [API_KEY]}),
    ]
    for echo in echoes:
        api.faults[:] = [echo]
        for call in (
            lambda: client.list(ASSISTANT),
            lambda: client.update(ASSISTANT, "1", {}),
            lambda: client.create(ASSISTANT, {}),
            lambda: client.delete(ASSISTANT, "1"),
        ):
            with pytest.raises(ApiError) as e:
                call()
            messages += [str(e.value), repr(e.value), e.value.api_message, str(e.value.hint)]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect with {request.headers['Authorization']}", request=request)

    api.faults[:] = [refuse]
    with pytest.raises(ApiError) as e:
        client.get(ASSISTANT, "1")
    messages.append(str(e.value))
    assert len(messages) == 49
    assert all(API_KEY not in m for m in messages)
    assert any("(sensitive)" in m for m in messages)  # the echoed key was there, and was redacted


def test_close_and_context_manager(api: FakeVapi):
    with VapiClient("https://x.test", API_KEY, transport=httpx.MockTransport(api.handler)) as c:
        c.list(ASSISTANT)
    with pytest.raises(RuntimeError):
        c.list(ASSISTANT)
