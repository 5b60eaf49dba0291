"""Listings are complete whatever order the API returns items in, or an error: never a partial list.

A fake Vapi as data (items with createdAt, an order, the filters it honours) served through
httpx.MockTransport to the real VapiClient; the table crosses orders, sizes and shared timestamps.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from vapiops.client import LIST_LIMIT, TRUSTED_PAGE, VapiClient
from vapiops.errors import ApiError
from vapiops.kinds import KINDS

T0 = datetime(2026, 8, 1, 9, 0, tzinfo=timezone.utc)
TOOL = KINDS["tool"]
STRUCTURED = KINDS["structured-output"]
FILTERS = {
    "createdAtGt": lambda v, b: v > b,
    "createdAtLt": lambda v, b: v < b,
    "createdAtGe": lambda v, b: v >= b,
    "createdAtLe": lambda v, b: v <= b,
}


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_items(n: int, per_timestamp: int = 1) -> list[dict]:
    """n items, `per_timestamp` of them sharing each createdAt (ids unrelated to time order)."""
    ids = [f"id-{i:04d}" for i in range(n)]
    random.Random(n).shuffle(ids)
    return [{"id": ids[i], "createdAt": iso(T0 + timedelta(seconds=i // per_timestamp))} for i in range(n)]


class FakeArrayApi:
    """GET /tool as data: `order` is asc, desc, asc-shuffled or desc-shuffled (sorted, then each
    page shuffled), or random (no order at all); `honours_filters=False` ignores the time bounds."""

    def __init__(self, items: list[dict], order: str, honours_filters: bool = True, cap: int = 1000):
        self.items = items
        self.cap = cap  # the most one response holds, whatever `limit` asks (a capping server)
        self.order = order
        self.honours_filters = honours_filters
        self.requests: list[dict[str, str]] = []
        self.rng = random.Random(7)

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.requests.append(params)
        limit = int(params.get("limit", 100))
        items = list(self.items)
        if self.honours_filters:
            for name, test in FILTERS.items():
                if name in params:
                    items = [o for o in items if test(o["createdAt"], params[name])]
        if self.order == "random":
            self.rng.shuffle(items)
        else:
            # Ties in an order unrelated to the ids or insertion, as a database might return them.
            items.sort(key=lambda o: (o["createdAt"], o["id"][::-1]), reverse=self.order.startswith("desc"))
        page = items[: min(limit, self.cap)]
        if self.order.endswith("shuffled"):
            self.rng.shuffle(page)
        return httpx.Response(200, json=page)


def listed(api: FakeArrayApi | FakePaginatedApi, kind=TOOL) -> list[dict]:
    with VapiClient("https://api.example.test", "k", transport=httpx.MockTransport(api.handler)) as client:
        return client.list(kind)


ORDERS = ["asc", "desc", "asc-shuffled", "desc-shuffled"]
SIZES = [0, 1, 100, 101, 250, 1000, 2500]


@pytest.mark.parametrize("cap", [1000, 100, 150], ids=["honours-1000", "caps-at-100", "caps-at-150"])
@pytest.mark.parametrize("per_timestamp", [1, 7], ids=["distinct", "7-share-each-createdAt"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("order", ORDERS)
def test_array_listing_is_complete_in_any_order(order: str, n: int, per_timestamp: int, cap: int):
    """Whatever the order, and whether the server honours `limit` or caps pages lower unannounced
    (at the trusted 100 or above it), the listing is complete."""
    items = make_items(n, per_timestamp)
    api = FakeArrayApi(items, order, cap=cap)
    got = listed(api)
    ids = [o["id"] for o in got]
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == {o["id"] for o in items}
    # Cost: one call below the trusted page; else each page of the cap, its check, and each side's end.
    pages = -(-n // cap)
    assert len(api.requests) == 1 if n < TRUSTED_PAGE else len(api.requests) <= 2 * pages + 3
    assert all(r["limit"] == str(LIST_LIMIT) for r in api.requests)


def test_a_server_honouring_the_documented_maximum_lists_2500_in_a_handful_of_calls():
    api = FakeArrayApi(make_items(2500), "desc")
    assert len(listed(api)) == 2500
    # Pages of 1,000, 1,000 and 500 (newest first), a check for each full one, and the newer end.
    assert len(api.requests) == 6


@pytest.mark.parametrize(
    ("case", "items", "order", "honours_filters", "cap", "message"),
    [
        ("150 share one createdAt", make_items(150, 150), "desc", True, 100, "share createdAt"),
        ("1,200 share one createdAt", make_items(1200, 1200), "desc", True, 1000, "share createdAt"),
        (
            "120 of 250 share one createdAt",
            make_items(130) + make_items(120, 120),
            "asc",
            True,
            100,
            "share createdAt",
        ),
        ("no order at all", make_items(150), "random", True, 100, "neither oldest nor newest first"),
        ("no order, pages of 150", make_items(400), "random", True, 150, "neither oldest nor newest first"),
        (
            "no order, pages of 1000",
            make_items(1500),
            "random",
            True,
            1000,
            "neither oldest nor newest first",
        ),
        ("time filters ignored", make_items(150), "desc", False, 100, "neither oldest nor newest first"),
    ],
)
def test_array_listing_that_cannot_be_proven_complete_is_an_error(
    case, items, order, honours_filters, cap, message
):
    # Distinct ids where two groups are concatenated.
    for i, item in enumerate(items):
        item["id"] = f"id-{i:04d}"
    with pytest.raises(ApiError, match=message) as e:
        listed(FakeArrayApi(items, order, honours_filters, cap=cap))
    assert "GET /tool" in str(e.value)
    assert "nothing was planned" in str(e.value)


def test_the_old_newest_first_assumption_is_gone_150_tools_oldest_first():
    # The bug: an oldest-first API listed 150 tools as 100, and the planner created 50 twice.
    items = make_items(150)
    assert len(listed(FakeArrayApi(items, "asc"))) == 150


class FakePaginatedApi:
    """GET /structured-output as data: honours `page`, `limit` and (unless told not to) `sortOrder`;
    `hide` leaves items out of every page while `metadata.totalItems` still counts them."""

    def __init__(self, items: list[dict], honours_sort: bool = True, hide: int = 0):
        self.items = items
        self.honours_sort = honours_sort
        self.hide = hide
        self.requests: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.requests.append(params)
        limit, page = int(params.get("limit", 100)), int(params.get("page", 1))
        ascending = self.honours_sort and params.get("sortOrder") == "ASC"
        items = sorted(self.items, key=lambda o: o["createdAt"], reverse=not ascending)
        shown = items[self.hide :]
        total_pages = max(1, -(-len(items) // limit))
        metadata = {
            "itemsPerPage": limit,
            "totalItems": len(items),
            "currentPage": page,
            "totalPages": total_pages,
            "hasNextPage": page < total_pages,
        }
        return httpx.Response(
            200, json={"results": shown[(page - 1) * limit : page * limit], "metadata": metadata}
        )


@pytest.mark.parametrize("honours_sort", [True, False], ids=["sorted-as-asked", "always-newest-first"])
@pytest.mark.parametrize("n", SIZES)
def test_paginated_listing_is_complete_and_counted(n: int, honours_sort: bool):
    items = make_items(n, 3)
    api = FakePaginatedApi(items, honours_sort)
    got = listed(api, STRUCTURED)
    assert sorted(o["id"] for o in got) == sorted(o["id"] for o in items)
    assert all(r["sortOrder"] == "ASC" for r in api.requests)


def test_paginated_listing_shorter_than_its_count_is_an_error():
    with pytest.raises(ApiError, match="the API counts 150 but its pages held 149"):
        listed(FakePaginatedApi(make_items(150), hide=1), STRUCTURED)


class ChangingPaginatedApi(FakePaginatedApi):
    """FakePaginatedApi that answers every page with page 1 (`ignores_page`), or whose org gains
    `grows` newer objects right after page 1 is served; `latency` seconds per request."""

    def __init__(
        self, items: list[dict], *, ignores_page: bool = False, grows: int = 0, latency: float = 0.0
    ):
        super().__init__(items)
        self.ignores_page = ignores_page
        self.grows = grows
        self.latency = latency
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.latency)
            if self.ignores_page:
                request = httpx.Request("GET", request.url.copy_set_param("page", "1"))
            with self.lock:
                response = super().handler(request)
                if self.grows and len(self.requests) == 1:
                    later = T0 + timedelta(days=1)
                    self.items = self.items + [
                        {"id": f"new-{i}", "createdAt": iso(later + timedelta(seconds=i))}
                        for i in range(self.grows)
                    ]
            return response
        finally:
            with self.lock:
                self.in_flight -= 1


def test_paginated_pages_after_the_first_are_asked_for_at_once():
    api = ChangingPaginatedApi(make_items(1000), latency=0.05)
    started = time.monotonic()
    got = listed(api, STRUCTURED)
    took = time.monotonic() - started
    assert len({o["id"] for o in got}) == 1000
    assert api.most_in_flight > 1
    assert took < 10 * 0.05 * 0.7, f"10 pages took {took:.2f} s: read one by one?"


def test_paginated_server_ignoring_page_is_an_error_after_a_bounded_number_of_requests():
    from vapiops.listing import _PAGE_WORKERS

    api = ChangingPaginatedApi(make_items(5000), ignores_page=True)
    with pytest.raises(ApiError, match="page 2 repeats earlier items"):
        listed(api, STRUCTURED)
    assert len(api.requests) <= 1 + _PAGE_WORKERS + 1  # page 1, one batch in flight, not 49 pages


def test_paginated_objects_created_while_listing_are_read_beyond_the_announced_pages():
    api = ChangingPaginatedApi(make_items(250), grows=170)
    got = listed(api, STRUCTURED)
    assert len({o["id"] for o in got}) == 420  # 3 pages announced, 5 read
    assert sorted(int(r["page"]) for r in api.requests) == [1, 2, 3, 4, 5]


class SlowArrayApi(FakeArrayApi):
    """FakeArrayApi with `latency` seconds per request, counting how many are in flight at once."""

    def __init__(self, items: list[dict], order: str, latency: float):
        super().__init__(items, order, cap=100)  # pages of 100, whatever `limit` asks
        self.latency = latency
        self.in_flight = 0
        self.overlapping = 0  # requests sent while another was in flight
        self.lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.overlapping += self.in_flight > 0
            self.in_flight += 1
        try:
            time.sleep(self.latency)
            return super().handler(request)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_each_check_runs_while_the_walk_fetches_its_next_page(order: str):
    # 1,000 items from a server capping pages at 100: 10 pages, each proven by a check. In sequence about 21 request
    # times; with each check sent beside the next page, about 11.
    api = SlowArrayApi(make_items(1000), order, latency=0.03)
    got = listed(api)
    assert sorted(o["id"] for o in got) == sorted(o["id"] for o in make_items(1000))
    assert len(api.requests) <= 2 * 10 + 2
    assert sum(1 for r in api.requests if len(r) == 3) >= 9  # limit and two bounds: no check skipped
    assert api.overlapping >= 9


def _scripted(answers: dict[str, object], delay: dict[str, float] | None = None):
    """A GET /tool answering by which bounds the request carries (sorted names joined by '+')."""
    full = [{"id": f"id-{i:03d}", "createdAt": iso(T0 + timedelta(seconds=i))} for i in range(100)]

    def handler(request: httpx.Request) -> httpx.Response:
        shape = "+".join(sorted(k for k in request.url.params if k != "limit")) or "first"
        time.sleep((delay or {}).get(shape, 0))
        answer = answers.get(shape, [])
        return httpx.Response(200, json=full if answer == "full" else answer)

    return handler


@pytest.mark.parametrize(
    ("case", "answers", "delay", "message"),
    [
        # The first page's check fails slowly; the older side fails at once: the check is reported.
        (
            "first check before older side",
            {"first": "full", "createdAtGt+createdAtLt": "full", "createdAtLe": {"not": "a list"}},
            {"createdAtGt+createdAtLt": 0.1},
            "neither oldest nor newest first",
        ),
        # The older side fails slowly; the newer side fails at once: the older side is reported.
        (
            "older side before newer side",
            {"first": "full", "createdAtLe": {"not": "a list"}, "createdAtGe": [{"id": 1}]},
            {"createdAtLe": 0.1},
            "expected a JSON array",
        ),
    ],
)
def test_concurrent_listing_reports_the_error_the_sequential_order_meets_first(case, answers, delay, message):
    client = VapiClient(
        "https://api.example.test", "k", transport=httpx.MockTransport(_scripted(answers, delay))
    )
    with client, pytest.raises(ApiError, match=message):
        client.list(TOOL)
