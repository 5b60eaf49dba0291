"""The sandbox over real HTTP on 127.0.0.1: Vapi's semantics, paging, auth, faults, persistence."""

from __future__ import annotations

import ast
import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import sandbox_client

import vapiops.sandbox
from vapiops import vapispec
from vapiops.errors import VapiopsError
from vapiops.kinds import KINDS
from vapiops.sandbox import SandboxServer
from vapiops.sandbox.api import Api, Response, issue_text
from vapiops.sandbox.store import Store
from vapiops.vapispec import SchemaIssue

KEY = "test-key"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

ASSISTANT = {
    "name": "support",
    "firstMessage": "Hi, this is Acme support.",
    "model": {
        "provider": "openai",
        "model": "gpt-4o",
        "temperature": 0.3,
        "messages": [{"role": "system", "content": "You help {{ customer.name }}."}],
    },
}
FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
    },
}
STRUCTURED_OUTPUT = {"name": "call-outcome", "schema": {"type": "boolean", "description": "resolved?"}}


def client(server: SandboxServer, key: str | None = KEY) -> httpx.Client:
    return sandbox_client(server, key, timeout=10)


@pytest.fixture
def api(sandbox: SandboxServer):
    with client(sandbox) as c:
        yield c


def messages(response: httpx.Response) -> list[str]:
    message = response.json()["message"]
    return message if isinstance(message, list) else [message]


# -- create / get / delete ----------------------------------------------------------------------


@pytest.mark.e2e
def test_create_assigns_server_fields_and_fills_defaults(api, sandbox):
    r = api.post("/assistant", json=ASSISTANT)
    assert r.status_code == 201
    obj = r.json()
    assert uuid.UUID(obj["id"]).version == 4
    uuid.UUID(obj["orgId"])
    assert ISO_MS.match(obj["createdAt"]) and obj["updatedAt"] == obj["createdAt"]
    assert {key: obj["model"][key] for key in ASSISTANT["model"]} == ASSISTANT["model"]
    assert obj["name"] == "support"
    # A schema default (CreateAssistantDTO.firstMessageInterruptionsEnabled: false) is filled in,
    # and nested ones inside objects that are present (OpenAIModel: numFastTurns "@default 0").
    assert "firstMessageInterruptionsEnabled" not in ASSISTANT
    assert obj["firstMessageInterruptionsEnabled"] is False
    assert obj["model"]["numFastTurns"] == 0
    server_fields = {"id", "orgId", "createdAt", "updatedAt"}
    assert {k: v for k, v in obj.items() if k not in server_fields} == vapispec.apply_defaults(
        KINDS["assistant"], ASSISTANT
    )
    assert api.get(f"/assistant/{obj['id']}").json() == obj
    assert sandbox.objects("assistant") == [obj]


@pytest.mark.e2e
def test_created_at_strictly_increases_within_one_millisecond(api):
    stamps = [api.post("/squad", json={"members": []}).json()["createdAt"] for _ in range(30)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 30


@pytest.mark.e2e
def test_unknown_property_is_rejected_like_vapi(api, sandbox):
    r = api.post("/assistant", json={**ASSISTANT, "fooBar": 1})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "Bad Request" and body["statusCode"] == 400
    assert isinstance(body["message"], list)
    assert any(m.startswith("property fooBar should not exist") for m in body["message"])
    assert sandbox.objects("assistant") == []


@pytest.mark.e2e
def test_nested_validation_errors_name_the_path(api):
    bad = {**ASSISTANT, "model": {**ASSISTANT["model"], "temperature": 5}}
    r = api.post("/assistant", json=bad)
    assert r.status_code == 400
    assert any("model.temperature" in m for m in messages(r)), messages(r)


def test_schema_issues_are_worded_like_vapi():
    assert issue_text(SchemaIssue(("model", "foo"), "property foo should not exist", "foo")) == (
        "model.property foo should not exist"
    )
    assert issue_text(SchemaIssue(("foo",), "property foo should not exist", "foo")) == (
        "property foo should not exist"
    )
    assert issue_text(SchemaIssue(("model", "temperature"), "5 is greater than the maximum 2")) == (
        "model.temperature 5 is greater than the maximum 2"
    )
    assert issue_text(SchemaIssue(("type",), "unknown tool type 'x'")) == "unknown tool type 'x'"
    assert issue_text(SchemaIssue((), "missing required property 'members'")) == (
        "missing required property 'members'"
    )


@pytest.mark.e2e
def test_non_object_and_malformed_bodies_are_400(api):
    assert api.post("/assistant", json=[1, 2]).status_code == 400
    r = api.post("/assistant", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["statusCode"] == 400


@pytest.mark.e2e
def test_allow_fields_accepts_named_extra_top_level_fields():
    with SandboxServer(allow_fields={"assistant": ["backgroundDenoisingX"]}) as server, client(server) as c:
        r = c.post("/assistant", json={**ASSISTANT, "backgroundDenoisingX": True})
        assert r.status_code == 201 and r.json()["backgroundDenoisingX"] is True
        assert c.post("/assistant", json={**ASSISTANT, "other": 1}).status_code == 400
        # Only for the kind it is allowed on.
        assert c.post("/squad", json={"members": [], "backgroundDenoisingX": True}).status_code == 400
    with pytest.raises(ValueError):
        SandboxServer(allow_fields={"assistnt": ["x"]})


@pytest.mark.e2e
def test_delete_returns_the_object_then_it_is_gone(api):
    obj = api.post("/tool", json=FUNCTION_TOOL).json()
    r = api.delete(f"/tool/{obj['id']}")
    assert r.status_code == 200 and r.json() == obj
    assert api.get(f"/tool/{obj['id']}").status_code == 404
    assert api.delete(f"/tool/{obj['id']}").status_code == 404


@pytest.mark.e2e
def test_unknown_ids_and_paths_are_404(api):
    missing = str(uuid.uuid4())
    for method in ("GET", "PATCH", "DELETE"):
        r = api.request(method, f"/assistant/{missing}", json={} if method == "PATCH" else None)
        assert r.status_code == 404, method
        assert r.json()["error"] == "Not Found" and r.json()["statusCode"] == 404
    assert api.get("/nothing-here").status_code == 404
    assert api.get("/assistant/a/b").status_code == 404
    assert api.put("/assistant", json={}).status_code == 404


# -- PATCH ----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_patch_replaces_top_level_keys_wholesale(api):
    obj = api.post("/assistant", json=ASSISTANT).json()
    r = api.patch(f"/assistant/{obj['id']}", json={"model": {"provider": "openai", "model": "gpt-4o-mini"}})
    assert r.status_code == 200
    patched = r.json()
    assert patched["model"]["model"] == "gpt-4o-mini"
    assert "messages" not in patched["model"]  # not merged with the stored model
    assert patched["firstMessage"] == ASSISTANT["firstMessage"]  # keys not sent survive
    assert patched["id"] == obj["id"] and patched["createdAt"] == obj["createdAt"]
    assert patched["orgId"] == obj["orgId"]
    assert patched["updatedAt"] > obj["updatedAt"]
    assert api.get(f"/assistant/{obj['id']}").json() == patched


@pytest.mark.e2e
def test_patch_null_removes_a_key_and_server_defaults_come_back(api):
    obj = api.post("/assistant", json={**ASSISTANT, "firstMessageInterruptionsEnabled": True}).json()
    r = api.patch(
        f"/assistant/{obj['id']}", json={"firstMessage": None, "firstMessageInterruptionsEnabled": None}
    )
    assert r.status_code == 200
    assert "firstMessage" not in r.json()
    assert r.json()["firstMessageInterruptionsEnabled"] is False


@pytest.mark.e2e
def test_patch_is_validated_and_a_rejected_patch_changes_nothing(api):
    obj = api.post("/assistant", json=ASSISTANT).json()
    r = api.patch(f"/assistant/{obj['id']}", json={"fooBar": 1, "name": "renamed"})
    assert r.status_code == 400
    assert any(m.startswith("property fooBar should not exist") for m in messages(r))
    r = api.patch(f"/assistant/{obj['id']}", json={"id": str(uuid.uuid4())})  # read-only field
    assert r.status_code == 400
    assert api.get(f"/assistant/{obj['id']}").json() == obj


@pytest.mark.e2e
def test_tool_type_cannot_change_but_other_fields_can(api):
    tool = api.post("/tool", json=FUNCTION_TOOL).json()
    assert tool["type"] == "function"
    r = api.patch(f"/tool/{tool['id']}", json={"type": "endCall"})
    assert r.status_code == 400 and any("type" in m for m in messages(r))
    assert api.get(f"/tool/{tool['id']}").json() == tool
    # Without `type` the stored one picks the Update DTO; repeating the same type is fine.
    new_function = {**FUNCTION_TOOL["function"], "description": "Find an order by id"}
    r = api.patch(f"/tool/{tool['id']}", json={"function": new_function})
    assert r.status_code == 200 and r.json()["function"]["description"] == "Find an order by id"
    assert api.patch(f"/tool/{tool['id']}", json={"type": "function", "async": True}).status_code == 200


@pytest.mark.e2e
def test_squad_patch_requires_members(api):
    squad = api.post("/squad", json={"name": "front-desk", "members": []}).json()
    r = api.patch(f"/squad/{squad['id']}", json={"name": "renamed"})
    assert r.status_code == 400 and any("members" in m for m in messages(r))
    r = api.patch(f"/squad/{squad['id']}", json={"name": "renamed", "members": []})
    assert r.status_code == 200 and r.json()["name"] == "renamed"


@pytest.mark.e2e
def test_structured_output_patch_requires_schema_override(api):
    so = api.post("/structured-output", json=STRUCTURED_OUTPUT).json()
    assert so["type"] == "ai"  # schema default
    r = api.patch(f"/structured-output/{so['id']}", json={"description": "x"})
    assert r.status_code == 400 and any("schemaOverride" in m for m in messages(r))
    r = api.patch(
        f"/structured-output/{so['id']}", params={"schemaOverride": "false"}, json={"description": "x"}
    )
    assert r.status_code == 200 and r.json()["description"] == "x"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "flag, schema, status",
    [
        ("false", {"type": "boolean", "description": "resolved at last?"}, 200),  # same type
        ("false", {"type": "string"}, 400),  # the type changes: only with schemaOverride=true
        ("true", {"type": "string"}, 200),
    ],
)
def test_changing_a_structured_outputs_schema_type_needs_schema_override(api, flag, schema, status):
    so = api.post("/structured-output", json=STRUCTURED_OUTPUT).json()
    r = api.patch(f"/structured-output/{so['id']}", params={"schemaOverride": flag}, json={"schema": schema})
    assert r.status_code == status, r.text
    if status == 400:
        assert any("schemaOverride=true" in m for m in messages(r))


# -- listing --------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_array_list_gives_100_by_default_at_most_1000_and_pages_backwards_over_250(api, sandbox):
    created = [api.post("/assistant", json={"name": f"a{i}"}).json()["id"] for i in range(250)]
    first = api.get("/squad").json()
    assert first == []  # kinds do not mix
    page = api.get("/assistant").json()
    assert len(page) == 100
    assert [o["id"] for o in page] == created[::-1][:100]  # newest first
    assert len(api.get("/assistant", params={"limit": 1000}).json()) == 250  # up to the documented 1000
    assert len(api.get("/assistant", params={"limit": 7}).json()) == 7

    # createdAtLe (what vapiops sends): each page repeats only the boundary item.
    seen: list[str] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        page = api.get("/assistant", params=params).json()
        new = [o["id"] for o in page if o["id"] not in seen]
        if not new:
            break
        seen += new
        params["createdAtLe"] = page[-1]["createdAt"]
    assert sorted(seen) == sorted(created) and len(seen) == 250

    # createdAtLt: the pages partition the collection.
    pages, params = [], {}
    while page := api.get("/assistant", params=params).json():
        pages.append(page)
        params = {"createdAtLt": page[-1]["createdAt"]}
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [o["id"] for p in pages for o in p] == created[::-1]
    assert len(sandbox.objects("assistant")) == 250


@pytest.mark.e2e
def test_time_filters(api):
    a, b, c = (api.post("/squad", json={"name": n, "members": []}).json() for n in "abc")

    def names(**params):
        return [o["name"] for o in api.get("/squad", params=params).json()]

    assert names(createdAtGt=a["createdAt"]) == ["c", "b"]
    assert names(createdAtGe=a["createdAt"], createdAtLt=c["createdAt"]) == ["b", "a"]
    assert names(createdAtLe=b["createdAt"]) == ["b", "a"]
    patched = api.patch(f"/squad/{a['id']}", json={"members": [], "name": "a2"}).json()
    assert names(updatedAtGt=c["updatedAt"]) == ["a2"]
    assert names(updatedAtGe=patched["updatedAt"], updatedAtLe=patched["updatedAt"]) == ["a2"]
    assert names(updatedAtLt=patched["updatedAt"]) == ["c", "b"]
    assert names(unknownParam="x", sortBy="cost") == ["c", "b", "a2"]  # unknown parameters ignored
    r = api.get("/squad", params={"createdAtLe": "yesterday"})
    assert r.status_code == 400 and "createdAtLe" in messages(r)[0]
    assert api.get("/squad", params={"limit": "many"}).status_code == 400
    assert api.get("/squad", params={"limit": -1}).status_code == 400


@pytest.mark.e2e
def test_paginated_kinds_page_limit_sort_and_metadata(api):
    ids = [
        api.post("/structured-output", json={**STRUCTURED_OUTPUT, "name": f"so-{i}"}).json()["id"]
        for i in range(5)
    ]
    r = api.get("/structured-output", params={"limit": 2})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"results", "metadata"}
    assert [o["id"] for o in body["results"]] == [ids[4], ids[3]]  # DESC by default
    meta = body["metadata"]
    assert (meta["itemsPerPage"], meta["totalItems"], meta["currentPage"]) == (2, 5, 1)
    assert meta["totalPages"] == 3 and meta["hasNextPage"] is True

    walked = []
    for page in (1, 2, 3, 4):
        walked.append(api.get("/structured-output", params={"limit": 2, "page": page}).json())
    assert [len(p["results"]) for p in walked] == [2, 2, 1, 0]
    assert [o["id"] for p in walked for o in p["results"]] == ids[::-1]
    assert walked[2]["metadata"]["hasNextPage"] is False

    asc = api.get("/structured-output", params={"sortOrder": "ASC", "limit": 3}).json()
    assert [o["id"] for o in asc["results"]] == ids[:3]
    capped = api.get("/structured-output", params={"limit": 5000}).json()
    assert capped["metadata"]["itemsPerPage"] == 1000 and len(capped["results"]) == 5
    assert api.get("/structured-output").json()["metadata"]["itemsPerPage"] == 100  # the default
    assert api.get("/structured-output", params={"page": 0}).status_code == 400
    assert api.get("/structured-output", params={"sortOrder": "UP"}).status_code == 400
    filtered = api.get("/structured-output", params={"createdAtGt": walked[0]["results"][1]["createdAt"]})
    assert [o["id"] for o in filtered.json()["results"]] == [ids[4]]


@pytest.mark.e2e
def test_scorecard_is_paginated_under_its_nested_path(api):
    so = api.post("/structured-output", json=STRUCTURED_OUTPUT).json()
    metric = {
        "structuredOutputId": so["id"],
        "conditions": [{"type": "comparator", "comparator": "=", "value": True, "points": 100}],
    }
    card = api.post("/observability/scorecard", json={"name": "quality", "metrics": [metric]})
    assert card.status_code == 201, card.text
    listed = api.get("/observability/scorecard").json()
    assert listed["results"] == [card.json()] and listed["metadata"]["totalItems"] == 1
    r = api.patch(f"/observability/scorecard/{card.json()['id']}", json={"name": "quality-2"})
    assert r.status_code == 200 and r.json()["metrics"] == [metric]


# -- auth and orgs --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_requests_without_a_bearer_key_are_401(sandbox):
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
        r = httpx.get(f"{sandbox.url}/assistant", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"] == "Unauthorized"
    assert sandbox.objects("assistant") == []


@pytest.mark.e2e
def test_a_fixed_api_key_rejects_others():
    with SandboxServer(api_key="the-key") as server:
        with client(server, "other-key") as c:
            assert c.get("/assistant").status_code == 401
        with client(server, "the-key") as c:
            assert c.get("/assistant").status_code == 200


@pytest.mark.e2e
def test_each_key_is_its_own_org(sandbox):
    with client(sandbox, "key-a") as a, client(sandbox, "key-b") as b:
        obj = a.post("/assistant", json=ASSISTANT).json()
        assert b.get("/assistant").json() == []
        assert b.get(f"/assistant/{obj['id']}").status_code == 404
        assert b.delete(f"/assistant/{obj['id']}").status_code == 404
        other = b.post("/assistant", json=ASSISTANT).json()
        assert other["orgId"] != obj["orgId"]
        assert [o["id"] for o in a.get("/assistant").json()] == [obj["id"]]
    assert [o["id"] for o in sandbox.objects("assistant", api_key="key-a")] == [obj["id"]]
    assert len(sandbox.objects("assistant")) == 2


# -- faults ---------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_injected_429_carries_retry_after_and_does_nothing(api, sandbox):
    sandbox.inject("POST", "/assistant", 429, times=2, retry_after=2)
    for _ in range(2):
        r = api.post("/assistant", json=ASSISTANT)
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        assert r.json()["statusCode"] == 429
    assert sandbox.objects("assistant") == []
    assert api.get("/assistant").status_code == 200  # other methods are not affected
    assert api.post("/assistant", json=ASSISTANT).status_code == 201


@pytest.mark.e2e
def test_injected_after_effect_502_still_creates(api, sandbox):
    sandbox.inject("POST", "/tool", 502, after_effect=True)
    r = api.post("/tool", json=FUNCTION_TOOL)
    assert r.status_code == 502 and "Retry-After" not in r.headers
    created = sandbox.objects("tool")
    assert len(created) == 1 and created[0]["function"]["name"] == "lookup_order"
    assert [o["id"] for o in api.get("/tool").json()] == [created[0]["id"]]


@pytest.mark.e2e
def test_injected_fault_matches_any_method_with_star(api, sandbox):
    sandbox.inject("*", "/squad", 503)
    assert api.get("/squad").status_code == 503
    assert api.get("/squad").status_code == 200


@pytest.mark.e2e
def test_random_faults_are_reproducible_with_a_seed():
    def statuses(seed: int) -> list[int]:
        with SandboxServer(fault_rate=0.5, seed=seed) as server, client(server) as c:
            return [c.get("/assistant").status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) - {200} and 200 in first
    assert set(first) <= {200, 429, 500, 503}
    with SandboxServer(fault_rate=1.0, seed=1) as server, client(server) as c:
        responses = [c.get("/assistant") for _ in range(20)]
    assert all(r.status_code in (429, 500, 503) for r in responses)
    assert all(r.headers["Retry-After"] == "0" for r in responses if r.status_code == 429)


@pytest.mark.e2e
def test_latency_is_added_to_every_request():
    with SandboxServer(latency_ms=60) as server, client(server) as c:
        started = time.monotonic()
        c.get("/assistant")
        c.get("/assistant")
        assert time.monotonic() - started >= 0.12


# -- persistence and the request log --------------------------------------------------------------


@pytest.mark.e2e
def test_data_file_persists_across_restarts(tmp_path: Path):
    data = tmp_path / "sandbox" / "data.json"
    with SandboxServer(data_file=data) as server, client(server) as c:
        obj = c.post("/assistant", json=ASSISTANT).json()
        tool = c.post("/tool", json=FUNCTION_TOOL).json()
        c.delete(f"/tool/{tool['id']}")
    assert KEY not in data.read_text()  # the key is never stored, only an org derived from it
    assert [p.name for p in data.parent.iterdir()] == ["data.json"]  # no temp files left
    with SandboxServer(data_file=data) as server, client(server) as c:
        assert c.get(f"/assistant/{obj['id']}").json() == obj
        assert c.get("/tool").json() == []
        later = c.post("/assistant", json=ASSISTANT).json()
        assert later["createdAt"] > obj["createdAt"] and later["orgId"] == obj["orgId"]
    assert json.loads(data.read_text())["version"] == 1


@pytest.mark.e2e
def test_a_corrupt_data_file_is_a_clear_error(tmp_path: Path):
    data = tmp_path / "data.json"
    data.write_text("{oops")
    with pytest.raises(VapiopsError, match="sandbox data file"):
        SandboxServer(data_file=data)


@pytest.mark.e2e
def test_request_log_records_every_request(api, sandbox):
    obj = api.post("/assistant", json=ASSISTANT).json()
    api.patch(f"/assistant/{obj['id']}", params={"x": "1"}, json={"name": "renamed"})
    httpx.get(f"{sandbox.url}/assistant")  # unauthenticated: logged too
    log = sandbox.requests
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/assistant", 201),
        ("PATCH", f"/assistant/{obj['id']}", 200),
        ("GET", "/assistant", 401),
    ]
    assert log[0]["body"] == ASSISTANT and log[0]["query"] == {}
    assert log[1]["body"] == {"name": "renamed"} and log[1]["query"] == {"x": "1"}
    assert log[2]["body"] is None
    assert KEY not in json.dumps(log)
    sandbox.clear_requests()
    assert sandbox.requests == []


@pytest.mark.e2e
def test_sandbox_fixtures_point_vapiops_at_the_sandbox(sandbox_env):
    import os

    assert os.environ["VAPI_BASE_URL"] == sandbox_env.url.rstrip("/")
    assert os.environ["VAPI_API_KEY"] == "test-key"
    assert (
        httpx.get(f"{sandbox_env.url}/assistant", headers={"Authorization": "Bearer test-key"}).json() == []
    )


def test_nothing_in_the_sandbox_names_a_kind():
    """Quirks come from the registry: no kind name or path appears as a literal in the sandbox."""
    names = {k.name for k in KINDS.values()} | {k.path for k in KINDS.values()}
    package = Path(vapiops.sandbox.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        literals = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        }
        assert not literals & names, (source.name, literals & names)


@pytest.mark.e2e
def test_serve_forever_logs_requests_and_stops(tmp_path: Path):
    import threading

    lines: list[str] = []
    server = SandboxServer(log=lines.append)
    thread = threading.Thread(target=server.serve_forever, args=(0,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.url and time.monotonic() < deadline:
        time.sleep(0.01)
    with client(server) as c:
        assert c.get("/assistant").status_code == 200
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert lines[0] == f"Vapi API sandbox listening on {server.url}"
    assert lines[1].startswith("GET /assistant 200 ")
    assert KEY not in "\n".join(lines)


@pytest.mark.e2e
def test_an_internal_error_is_a_500_not_a_dropped_connection(api, sandbox, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Api, "handle", broken)  # the class's public method: no private attribute
    r = api.get("/assistant")
    assert r.status_code == 500 and "boom" in r.json()["message"]
    assert sandbox.requests[-1]["status"] == 500


@pytest.mark.e2e
@pytest.mark.parametrize(("order", "newest_first"), [("desc", True), ("asc", False)])
def test_array_list_order_is_an_option(order: str, newest_first: bool):
    with SandboxServer(list_order=order) as server, client(server) as c:
        created = [c.post("/squad", json={"name": f"s{i}", "members": []}).json()["id"] for i in range(3)]
        listed = [o["id"] for o in c.get("/squad").json()]
        assert listed == (created[::-1] if newest_first else created)
        # Paginated kinds keep their own sortOrder parameter.
        assert c.get("/structured-output").json()["metadata"]["sortOrder"] == "DESC"


def test_an_unknown_list_order_is_refused():
    with pytest.raises(ValueError, match="list_order must be one of desc, asc"):
        SandboxServer(list_order="newest")


# -- ID fields take Vapi IDs only, as on the real API ----------------------------------------------

NOT_AN_ID = "lookup-order"
ID = "6f1c2c1e-9f5e-4a57-9d5a-0d1f0b1c2d3e"
MODEL = {"provider": "openai", "model": "gpt-4o"}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/assistant",
            {"model": {**MODEL, "toolIds": ["VALUE"]}},
            "model.each value in toolIds must be a UUID",
        ),
        (
            "/assistant",
            {"model": {**MODEL, "toolRefs": [{"toolId": "VALUE", "version": "1"}]}},
            "model.toolRefs[0].toolId must be a UUID",
        ),
        (
            "/assistant",
            {"artifactPlan": {"structuredOutputIds": ["VALUE"]}},
            "artifactPlan.each value in structuredOutputIds must be a UUID",
        ),
        ("/assistant", {"credentialIds": ["VALUE"]}, "each value in credentialIds must be a UUID"),
        (
            "/squad",
            {
                "members": [
                    {
                        "assistantId": ID,
                        "assistantOverrides": {"artifactPlan": {"structuredOutputIds": ["VALUE"]}},
                    }
                ]
            },
            "members[0].assistantOverrides.artifactPlan.each value in structuredOutputIds must be a UUID",
        ),
        (
            "/tool",
            {"type": "handoff", "destinations": [{"type": "assistant", "assistantId": "VALUE"}]},
            "destinations[0].assistantId must be a UUID",
        ),
        (
            "/structured-output",
            {"name": "o", "type": "ai", "schema": {"type": "string"}, "assistantIds": ["VALUE"]},
            "each value in assistantIds must be a UUID",
        ),
    ],
)
def test_a_name_in_an_id_field_is_a_400_and_a_uuid_is_stored(path: str, body: dict, message: str):
    import json

    api = Api(Store(None))

    def post(value: str) -> Response:
        return api.handle(
            "POST", path, {}, json.loads(json.dumps(body).replace('"VALUE"', json.dumps(value))), "org"
        )

    refused = post(NOT_AN_ID)
    assert refused.status == 400 and refused.body["message"] == [message]
    assert api.store.collection("org", api.route(path)[0].name) == []
    assert post(ID).status == 201


def test_a_patch_with_a_name_in_an_id_field_is_a_400():
    api = Api(Store(None))
    created = api.handle("POST", "/assistant", {}, {"firstMessage": "hi"}, "org").body
    r = api.handle(
        "PATCH", f"/assistant/{created['id']}", {}, {"model": {**MODEL, "toolIds": [NOT_AN_ID]}}, "org"
    )
    assert r.status == 400 and r.body["message"] == ["model.each value in toolIds must be a UUID"]


def test_a_listing_page_is_a_copy_of_only_its_own_objects_in_order():
    store = Store(None)
    for n in range(5):
        store.put("org", "tool", {"id": f"t{n}", "createdAt": f"2026-01-0{n + 1}T00:00:00.000Z", "n": n})
    total, page = store.select(
        "org", "tool", lambda o: o["n"] != 2, lambda o: o["createdAt"], reverse=True, start=1, limit=2
    )
    assert total == 4 and [o["id"] for o in page] == ["t3", "t1"]
    page[0]["n"] = 99  # the caller's copy: the store is untouched
    assert store.get("org", "tool", "t3")["n"] == 3


@pytest.mark.e2e
def test_seed_stores_a_dashboard_made_object_in_the_keys_org_unchecked():
    with SandboxServer() as server, client(server) as c:
        fixed = {"id": "f" * 8, "createdAt": "2026-01-01T00:00:00.000Z", "name": "faq.md", "bytes": 10}
        fixed["purpose"] = "assistant"
        seeded = server.seed("file", KEY, fixed)
        generated = server.seed("file", KEY, {"name": "other.md", "purpose": "assistant"})
        listed = {o["id"]: o for o in c.get("/file", params={"purpose": "assistant"}).json()}
        assert listed[fixed["id"]] == seeded and seeded["createdAt"] == fixed["createdAt"]
        assert seeded["orgId"] == generated["orgId"] and generated["id"] in listed
        assert server.objects("file", "another-key") == []
        with pytest.raises(KeyError):
            server.seed("not-a-kind", KEY, {})


@pytest.mark.e2e
def test_pronunciation_dictionaries_live_under_their_providers_path_and_page():
    with SandboxServer() as server, client(server) as c:
        base = "/provider/{}/pronunciation-dictionary"
        cartesia = [
            c.post(
                base.format("cartesia"),
                json={"name": f"d{i}", "items": [{"text": "Acme", "alias": "Ack-mee"}]},
            )
            for i in range(3)
        ]
        assert [r.status_code for r in cartesia] == [201] * 3
        made = cartesia[0].json()
        assert made["provider"] == "cartesia" and made["resourceId"] and made["resourceId"] != made["id"]
        eleven = c.post(base.format("11labs"), json={"name": "e", "rules": [{"type": "alias"}]})
        assert eleven.status_code == 400 and "rules[0] missing required property 'string_to_replace'" in str(
            eleven.json()["message"]
        )
        page = c.get(base.format("cartesia"), params={"limit": 2, "page": 2}).json()
        assert [o["name"] for o in page["results"]] == ["d0"] and page["metadata"]["totalItems"] == 3
        assert c.get(base.format("11labs")).json()["results"] == []
        assert c.get(f"{base.format('11labs')}/{made['id']}").status_code == 404  # another provider's
        assert c.get(f"{base.format('cartesia')}/{made['id']}").json() == made
        assert c.get(base.format("playht")).status_code == 404  # no such provider


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["assistant", "structured-output"])
def test_a_page_cap_answers_fewer_than_limit_asks(kind: str):
    """`--page-cap`: a server that caps pages lower than `limit` asks, without saying so."""
    body = {"name": "a"} if kind == "assistant" else STRUCTURED_OUTPUT
    with SandboxServer(page_cap=3) as server, client(server) as c:
        for i in range(5):
            c.post(KINDS[kind].path, json={**body, "name": f"x{i}"}).raise_for_status()
        listed = c.get(KINDS[kind].path, params={"limit": 1000}).json()
        assert len(listed if kind == "assistant" else listed["results"]) == 3
