"""`plan` lists the live org while it validates the manifests: GETs only, and validation's errors still win.

The listing is I/O and validation CPU, so plan reads ahead (flows/context.LiveListing); what must not
change is what a user sees: a bad manifest is still the one located error (never a listing's), and no
lock is taken and nothing written before the manifests are valid (docs/performance.md).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from conftest import assert_nothing_sent, assert_one_error, write_files, writes

from vapiops.client import VapiClient
from vapiops.flows import context
from vapiops.flows.context import LiveListing
from vapiops.flows.planning import refresh
from vapiops.kinds import KINDS
from vapiops.listing import Abandoned
from vapiops.sandbox import SandboxServer
from vapiops.state import Intent, LocalBackend

TOOL = "kind: tool\nname: hangup\nspec: {type: endCall}\n"
BAD = "kind: tool\nname: broken\nspec: {type: notATool}\n"


@pytest.mark.e2e
def test_plan_starts_listing_before_validation_ends(tmp_path: Path, cli, sandbox, monkeypatch):
    # Validation here waits for the first GET: it comes only if the listing started before it.
    write_files(tmp_path, {"resources/a.yaml": TOOL})
    original = context.Context.desired

    def desired_once_listing_has_begun(self):
        for _ in range(500):
            if any(r["method"] == "GET" for r in sandbox.requests):
                return original(self)
            threading.Event().wait(0.01)
        raise AssertionError("no GET was sent while the manifests were validated")

    monkeypatch.setattr(context.Context, "desired", desired_once_listing_has_begun)
    assert "1 to add" in cli("plan", tmp_path).stdout


@pytest.mark.e2e
def test_a_bad_manifest_beats_the_listings_own_error_and_writes_nothing(tmp_path: Path, run):
    write_files(tmp_path, {"resources/a.yaml": TOOL, "resources/b.yaml": BAD})
    with SandboxServer(api_key="the-only-good-key") as guarded:
        result = run("plan", tmp_path, code=1, env={"VAPI_BASE_URL": guarded.url})
        assert_one_error(result, "resources/b.yaml:3", "notATool")
        assert "401" not in result.stderr
        assert_nothing_sent(guarded, "plan")
    assert not list(tmp_path.glob(".vapiops/state/*.json*"))  # no state, no lock file


@pytest.mark.e2e
def test_without_the_key_a_bad_manifest_is_still_the_error(tmp_path: Path, run, sandbox):
    write_files(tmp_path, {"resources/b.yaml": BAD})
    result = run("plan", tmp_path, code=1, env={"VAPI_API_KEY": None, "VAPI_BASE_URL": sandbox.url})
    assert_one_error(result, "resources/b.yaml:3", "notATool")
    assert sandbox.requests == []  # no key, no read ahead


@pytest.mark.e2e
def test_a_listing_error_after_valid_manifests_is_reported_as_before(tmp_path: Path, run):
    write_files(tmp_path, {"resources/a.yaml": TOOL})
    with SandboxServer(api_key="the-only-good-key") as guarded:
        result = run("plan", tmp_path, code=1, env={"VAPI_BASE_URL": guarded.url})
        assert_one_error(result, "GET /", "failed with 401: Invalid Key", "VAPI_API_KEY")
        assert writes(guarded) == []


LISTINGS = sum(len(kind.listings()) for kind in KINDS.values())


def _full_pages(release: threading.Event, seen: list[str]):
    """Every kind's first page is full (so its listing would go on), once `release` is set."""
    now = datetime(2026, 8, 1, tzinfo=timezone.utc)
    items = [
        {"id": f"id-{i}", "createdAt": (now + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")}
        for i in range(100)
    ]
    paths = {kind.collection(params): kind for kind in KINDS.values() for params, _ in kind.listings()}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        release.wait(5)
        kind = paths[request.url.path]
        if kind.list_shape == "array":
            return httpx.Response(200, json=items)
        meta = {"totalItems": 1000, "totalPages": 10, "hasNextPage": True}
        return httpx.Response(200, json={"results": items, "metadata": meta})

    return handler


def test_an_abandoned_listing_sends_no_further_request():
    release, seen = threading.Event(), []
    client = VapiClient(
        "https://api.example.test", "k", transport=httpx.MockTransport(_full_pages(release, seen))
    )
    with client:
        listing = LiveListing(client)
        for _ in range(500):
            if len(seen) == LISTINGS:
                break
            threading.Event().wait(0.01)
        threading.Timer(0.1, release.set).start()
        listing.abandon()  # waits for the requests in flight, which the timer lets finish
        assert len(seen) == LISTINGS  # one request each, then nothing
        with pytest.raises(Abandoned):
            listing.result()


def test_a_plan_judges_intents_at_the_time_its_listing_began(tmp_path: Path):
    # An intent 40 s old is settled now, but was only 10 s old when the listing began: its POST may
    # have landed after the list was read, so it is left alone (apply settles it under the lock).
    started = datetime.now(timezone.utc) - timedelta(seconds=40)
    backend = LocalBackend(tmp_path / "default.json", "default")
    state = backend.load()
    stamp = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    state.intents["tool/t"] = Intent("tool/t", "tool", stamp, {"type": "endCall"})
    backend.save(state)
    listed_at = started + timedelta(seconds=10)
    assert refresh(backend, state, {}, locked=False, listed_at=listed_at) == []
    assert "tool/t" in backend.load().intents
    assert refresh(backend, state, {}, locked=False) == []  # judged now: it never landed
    assert backend.load().intents == {}
