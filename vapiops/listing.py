"""Complete listings of one kind, whatever order the API returns items in: all of them, or an ApiError.

Vapi does not document the order of its array lists (`GET /assistant`, `/tool`, `/squad`) and they
take no sort parameter, only `limit` and `createdAt` bounds. Trusting one order is how a 150-tool
org once listed as 100 tools and planned 50 duplicate creates. So no order is assumed; coverage is
proven from the `createdAt` bounds instead.

Pages are asked for with the largest `limit` the API documents (1000), but a server may cap a page
lower without saying so. What is trusted is only this: a response holds min(cap, what its bounds
select) items for one fixed cap of at least `trusted` (100, Vapi's documented default page). So a
response is known to hold everything its bounds select when it is shorter than `trusted`, or
shorter than a response already seen (the cap is at least that). Any other response is "full":

- a full page is a run of the timeline from its oldest to its newest item only if the API sorts by
  `createdAt` (either way; the order inside a page does not matter). That is checked, not assumed:
  one more request for the span strictly inside (or, for a page taken beyond a bound, from its far
  end to that bound) must come back known-complete (as above), all of it already seen;
- the rest of the timeline is walked from the oldest item seen downwards (`createdAtLe`) and from
  the newest item seen upwards (`createdAtGe`): inclusive bounds, so items sharing the boundary
  timestamp are read again and deduplicated by id, until each side ends in a known-complete page.

The checks are extra requests, not extra waiting: they run beside the walks (list_array). Against
an API that honours `limit=1000`, 6,000 assistants list in 6 pages, 6 checks and the two ends.

More than a page of items sharing one `createdAt` cannot be paged through with time bounds: an
error. Paginated kinds (`{results, metadata}`) are read page by page in ascending `createdAt` order
(new objects then land at the end, not in pages already read) with a limit the API is trusted to
honour (offsets are computed from it), and the count is checked against `metadata.totalItems`.
Page 1's count lets the other pages be asked for at once (a window of them in flight).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from vapiops.errors import ApiError
from vapiops.kinds import Kind
from vapiops.timestamps import parse_time

Fetch = Callable[[dict[str, Any]], Any]  # one GET of the kind's collection with these query parameters

INCOMPLETE_HINT = "the listing could not be shown to be complete, so nothing was planned or changed"


class Abandoned(Exception):
    """The caller stopped wanting the listing (plan read ahead, then met an invalid manifest)."""


def list_array(kind: Kind, fetch: Fetch, limit: int, trusted: int) -> list[dict]:
    """Every object of an array kind (see the module docstring for how completeness is proven).

    The proof's requests cost no wall time of their own: the first page's check and the walks
    downwards and upwards run at once, and each check runs while the walk fetches its next page.
    Errors are those of the sequential order (first check, older side, newer side): a failure
    stops only the work after it in that order, so the same listing always reports the same one.
    """
    listing = _ArrayListing(kind, fetch, limit, trusted)
    first = listing.page({})
    if listing.complete(first):
        return listing.collect([first])
    oldest, newest = listing.span(first)
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix=f"list-{kind.name}") as pool:
        listing.pool = pool
        covered = _Stage(None)
        older = _Stage(covered)
        newer = _Stage(older)
        check = pool.submit(
            covered.run, listing.check_covered, first, {"createdAtGt": oldest[1], "createdAtLt": newest[1]}
        )
        down = pool.submit(older.run, listing.walk, oldest, "Le", older)
        up = pool.submit(newer.run, listing.walk, newest, "Ge", newer)
        check.result()
        older_pages = down.result()
        newer_pages = up.result()
    return listing.collect([first, *older_pages, *newer_pages])


# One walk per direction, the first page's check and one pending check per walk: never more
# tasks than threads, so a walk waiting on its check can never starve it of a thread.
_WORKERS = 5


class _Stopped(Exception):
    """An earlier stage of the listing failed: this one gives up (its own outcome is not reported)."""


class _Stage:
    """One part of a concurrent listing, after `before` in the sequential order errors are reported in."""

    def __init__(self, before: _Stage | None):
        self.before = before
        self.failed = threading.Event()

    def stopped(self) -> bool:
        stage = self.before
        while stage is not None:
            if stage.failed.is_set():
                return True
            stage = stage.before
        return False

    def run(self, work: Callable[..., Any], *args: Any) -> Any:
        try:
            return work(*args)
        except BaseException:
            self.failed.set()
            raise


class _Page(list):
    """A response's items, and whether they are known to be all that its bounds select."""

    def __init__(self, items: list[dict], *, complete: bool):
        super().__init__(items)
        self.complete = complete


class _ArrayListing:
    def __init__(self, kind: Kind, fetch: Fetch, limit: int, trusted: int):
        self.kind = kind
        self.fetch = fetch
        self.limit = limit
        self.trusted = min(trusted, limit)
        self.largest = 0  # the longest response so far: the server's cap is at least this
        self.lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None

    @staticmethod
    def complete(response: list[dict]) -> bool:
        """Whether a response (as page() returned it) surely holds everything its bounds select."""
        return isinstance(response, _Page) and response.complete

    def collect(self, pages: list[list[dict]]) -> list[dict]:
        """The items of `pages`, each id once (its first appearance), in the order they were read."""
        found: dict[str, dict] = {}
        for page in pages:
            for item in page:
                found.setdefault(item["id"], item)
        return list(found.values())

    def page(self, bounds: dict[str, str]) -> list[dict]:
        """One response, judged as it arrives: known-complete when shorter than the trusted page or
        than a response before it (the server's cap is at least as long); else possibly capped."""
        data = self.fetch({"limit": self.limit, **bounds})
        if not isinstance(data, list):
            raise _malformed(self.kind, "expected a JSON array")
        _check_items(self.kind, data)
        with self.lock:
            page = _Page(data, complete=len(data) < max(self.trusted, self.largest))
            self.largest = max(self.largest, len(data))
        return page

    def span(self, page: list[dict]) -> tuple[tuple[datetime, str], tuple[datetime, str]]:
        """(oldest, newest) createdAt of a non-empty page, each as (time, the text the API gave)."""
        times = []
        for item in page:
            when = parse_time(item.get("createdAt"))
            if when is None:
                raise _malformed(self.kind, f"item {item['id']} has no valid `createdAt` to page by")
            times.append((when, item["createdAt"]))
        oldest, newest = min(times, key=lambda t: t[0]), max(times, key=lambda t: t[0])
        if oldest[0] == newest[0]:
            raise ApiError(
                "GET",
                self.kind.path,
                None,
                f"cannot list every {self.kind.name}: {len(page)} or more share createdAt {oldest[1]}, "
                f"and the API pages only by createdAt (at most {len(page)} per call here)",
                hint=INCOMPLETE_HINT,
            )
        return oldest, newest

    def check_covered(self, page: list[dict], bounds: dict[str, str]) -> None:
        """Prove that `page` holds every item within `bounds` (a span its own items delimit)."""
        inside = self.page(bounds)
        seen = {item["id"] for item in page}
        if not self.complete(inside) or any(item["id"] not in seen for item in inside):
            raise ApiError(
                "GET",
                self.kind.path,
                None,
                f"cannot list every {self.kind.name}: a full page of {len(page)} was not a run of "
                "consecutive createdAt values, so the API's list order is neither oldest nor newest first",
                hint=INCOMPLETE_HINT,
            )

    def walk(self, start: tuple[datetime, str], direction: str, stage: _Stage) -> list[list[dict]]:
        """The pages beyond `start` (`Le`: older, `Ge`: newer) until a short page ends that side.

        Each full page's check runs in the pool while the next page is fetched; a failed check is
        what the walk reports, before anything the next page showed, and the walk goes no further.
        """
        assert self.pool is not None
        pages: list[list[dict]] = []
        bound = start
        pending: Future[None] | None = None
        while True:
            if stage.stopped():
                break
            try:
                page = self.page({f"createdAt{direction}": bound[1]})
            finally:
                if pending is not None:
                    # Sent with this page's request, so done by now or nearly; its failure comes
                    # first, as it would in sequence.
                    pending.result()
                    pending = None
            pages.append(page)
            if self.complete(page):
                break
            oldest, newest = self.span(page)
            if direction == "Le":
                bounds, bound = {"createdAtGt": oldest[1], "createdAtLe": bound[1]}, oldest
            else:
                bounds, bound = {"createdAtGe": bound[1], "createdAtLt": newest[1]}, newest
            pending = self.pool.submit(self.check_covered, page, bounds)
        if pending is not None:
            pending.result()
        if stage.stopped():
            raise _Stopped
        return pages


def list_paginated(kind: Kind, fetch: Fetch, limit: int) -> list[dict]:
    """Every object of a paginated kind: pages 1, 2, ... oldest first, checked against totalItems.

    Page 1 says how many pages there are (totalPages, or totalItems / limit): the rest are asked
    for at once, and read in order with the same checks as one by one, so a listing costs two round
    trips, not one per page. Pages beyond the count (objects created meanwhile) are read after.
    """
    pages = _Pages(kind, limit)
    first = fetch(_page_query(limit, 1))
    if pages.read(first, 1):
        return pages.counted()
    expected = _page_count(first, limit)
    page_no = 2
    if expected > 2:
        # A window of requests in flight, topped up as pages are read: after an error or the last
        # page, at most the window was asked for in vain (a server ignoring `page`, say).
        with ThreadPoolExecutor(max_workers=_PAGE_WORKERS, thread_name_prefix="pages") as pool:
            window: deque[Future] = deque()
            next_no = 2
            try:
                while next_no <= expected or window:
                    while next_no <= expected and len(window) < _PAGE_WORKERS:
                        window.append(pool.submit(fetch, _page_query(limit, next_no)))
                        next_no += 1
                    if pages.read(window.popleft().result(), page_no):
                        return pages.counted()
                    page_no += 1
            finally:
                for future in window:
                    future.cancel()
    while not pages.read(fetch(_page_query(limit, page_no)), page_no):
        page_no += 1
    return pages.counted()


_PAGE_WORKERS = 8  # pages of one paginated kind asked for at once
_MAX_PAGES_AT_ONCE = 1000  # a server's count is not trusted to size the work beyond this


def _page_query(limit: int, page_no: int) -> dict[str, Any]:
    return {"limit": limit, "page": page_no, "sortOrder": "ASC"}


def _metadata(data: dict) -> dict:
    return data["metadata"] if isinstance(data.get("metadata"), dict) else {}


def _page_count(data: dict, limit: int) -> int:
    """How many pages page 1's metadata announces (1 when it says nothing usable)."""
    meta = _metadata(data)
    pages, total = meta.get("totalPages"), meta.get("totalItems")
    if isinstance(pages, int) and not isinstance(pages, bool):
        return min(max(pages, 1), _MAX_PAGES_AT_ONCE)
    if isinstance(total, int) and not isinstance(total, bool):
        return min(max(-(-total // limit), 1), _MAX_PAGES_AT_ONCE)
    return 1


class _Pages:
    """The pages of one paginated listing, read in page order."""

    def __init__(self, kind: Kind, limit: int):
        self.kind = kind
        self.limit = limit
        self.found: dict[str, dict] = {}
        self.total: Any = None  # the latest totalItems a page reported

    def read(self, data: Any, page_no: int) -> bool:
        """Add page `page_no`'s items; True when it is the last page."""
        kind = self.kind
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise _malformed(kind, "expected an object with a `results` array")
        results = data["results"]
        _check_items(kind, results)
        new = 0
        for item in results:
            if item["id"] not in self.found:
                self.found[item["id"]] = item
                new += 1
        meta = _metadata(data)
        self.total = meta.get("totalItems", self.total)
        total_pages = meta.get("totalPages")
        if (
            len(results) < self.limit
            or meta.get("hasNextPage") is False
            or (isinstance(total_pages, (int, float)) and page_no >= total_pages)
        ):
            return True
        if not new:
            # A server ignoring `page` would otherwise be read forever.
            raise ApiError(
                "GET",
                kind.path,
                None,
                f"cannot list every {kind.name}: page {page_no} repeats earlier items",
                hint=INCOMPLETE_HINT,
            )
        return False

    def counted(self) -> list[dict]:
        """The objects found, if as many as the API counts."""
        total = self.total
        if isinstance(total, (int, float)) and not isinstance(total, bool) and total != len(self.found):
            raise ApiError(
                "GET",
                self.kind.path,
                None,
                f"cannot list every {self.kind.name}: the API counts {total:g} but its pages held "
                f"{len(self.found)} (objects created or deleted while listing?)",
                hint=f"{INCOMPLETE_HINT}; run the command again",
            )
        return list(self.found.values())


def _check_items(kind: Kind, items: list[Any]) -> None:
    """Every listed item is an object with a string `id` (what dedupes and adopts them)."""
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _malformed(kind, "a listed item has no string `id`")


def _malformed(kind: Kind, what: str) -> ApiError:
    return ApiError("GET", kind.path, None, f"malformed response: {what}")
