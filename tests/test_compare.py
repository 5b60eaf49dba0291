"""`vapiops diff`: the pure comparison of two environments, and the command against two sandboxes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli, sandbox_client

from vapiops.kinds import KINDS
from vapiops.model import ABSENT, SENSITIVE
from vapiops.output.envdiff import render_json, render_text, summary_line
from vapiops.planning.envdiff import (
    ManagedObject,
    compare_envs,
    compare_objects,
    managed_objects,
)
from vapiops.planning.graph import to_names
from vapiops.sandbox import SandboxServer
from vapiops.state import ResourceState, State

ASSISTANT, TOOL, SQUAD = KINDS["assistant"], KINDS["tool"], KINDS["squad"]
T1, T2, A1 = (
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
)
UNMANAGED = "99999999-9999-4999-8999-999999999999"


def entry(kind: str, name: str, id_: str, secrets: dict | None = None) -> ResourceState:
    return ResourceState(kind=kind, name=name, id=id_, applied={}, secrets=secrets or {})


def state_of(*entries: ResourceState) -> State:
    return State("dev", resources={f"{e.kind}/{e.name}": e for e in entries})


def fields(kind, a, b, secrets=()):
    return [(f.path, f.a, f.b, f.sensitive) for f in compare_objects(kind, a, b, secrets)]


# -- name space -------------------------------------------------------------------------------


def test_to_names_names_known_ids_of_the_right_kind_only():
    owner = {T1: ("tool", "lookup"), A1: ("assistant", "billing")}
    obj = {"model": {"toolIds": [T1, UNMANAGED, A1]}, "hooks": [{"do": [{"toolId": T1}]}]}
    out, _ = to_names(ASSISTANT, obj, owner)
    # A1 is an assistant: an assistant ID in toolIds is not a tool reference and stays as it is.
    assert out == {"model": {"toolIds": ["lookup", UNMANAGED, A1]}, "hooks": [{"do": [{"toolId": "lookup"}]}]}
    assert obj["model"]["toolIds"][0] == T1  # the input is not changed


def test_managed_objects_drop_read_only_translate_and_report_missing():
    state = state_of(
        entry("tool", "lookup", T1),
        entry("assistant", "support", A1),
        entry("tool", "gone", T2, secrets={"server.url": "sha256:x"}),
    )
    live = {
        "tool": [
            {"id": T1, "orgId": "o", "createdAt": "t", "type": "function"},
            {"id": UNMANAGED, "type": "endCall"},
        ],
        "assistant": [{"id": A1, "updatedAt": "t", "model": {"toolIds": [T1]}}],
    }
    objects, missing = managed_objects(state, live)
    assert sorted(objects) == ["assistant/support", "tool/lookup"]  # the unmanaged tool is not compared
    assert objects["tool/lookup"].value == {"type": "function"}
    assert objects["assistant/support"].value == {"model": {"toolIds": ["lookup"]}}
    assert objects["assistant/support"].id == A1
    assert missing == ["tool/gone"]


# -- comparing two objects --------------------------------------------------------------------


def test_every_field_compares_both_ways_not_only_declared_ones():
    a = {"firstMessage": "Hi", "model": {"model": "gpt-4o", "temperature": 0.5}}
    b = {"firstMessage": "Hello", "model": {"model": "gpt-4o"}, "voicemailMessage": "Leave one"}
    assert fields(ASSISTANT, a, b) == [
        ("firstMessage", "Hi", "Hello", False),
        ("model.temperature", 0.5, ABSENT, False),
        ("voicemailMessage", ABSENT, "Leave one", False),
    ]
    mirrored = [(p, y, x, s) for p, x, y, s in fields(ASSISTANT, a, b)]
    assert fields(ASSISTANT, b, a) == mirrored


def test_null_empty_and_absent_are_equal_and_numbers_compare_by_value():
    a = {"x": None, "toolIds": [], "plan": {}, "n": 1, "flag": True}
    b = {"n": 1.0, "flag": True}
    assert fields(ASSISTANT, a, b) == []
    assert fields(ASSISTANT, {"flag": True}, {"flag": 1}) == [("flag", True, 1, False)]


def test_reference_arrays_are_sets_other_arrays_are_positional():
    a = {"model": {"toolIds": ["a", "b"], "messages": [{"role": "system", "content": "x"}, {"role": "user"}]}}
    b = {"model": {"toolIds": ["b", "a"], "messages": [{"role": "system", "content": "y"}, {"role": "user"}]}}
    assert fields(ASSISTANT, a, b) == [("model.messages[0].content", "x", "y", False)]
    c = {"model": {"toolIds": ["a"], "messages": a["model"]["messages"]}}
    assert fields(ASSISTANT, a, c) == [("model.toolIds", ["a", "b"], ["a"], False)]


def test_secrets_compare_by_presence_only_and_are_never_shown():
    a = {"server": {"url": "https://a.example.com", "headers": {"Authorization": "Bearer staging-secret"}}}
    b = {"server": {"url": "https://a.example.com", "headers": {"Authorization": "Bearer prod-secret"}}}
    assert fields(TOOL, a, b) == []  # per-environment secrets differ by design
    c = {"server": {"url": "https://a.example.com", "headers": {}}}
    assert fields(TOOL, a, c) == [("server.headers.Authorization", SENSITIVE, ABSENT, True)]
    # A secret inside a value shown whole is redacted too.
    d = {"server": "not an object"}
    shown = fields(TOOL, a, d)
    assert shown[0][0] == "server"
    assert "staging-secret" not in json.dumps(shown[0][1])
    assert shown[0][1]["headers"]["Authorization"] == SENSITIVE


def test_paths_state_recorded_as_secret_values_are_secrets_on_both_sides():
    a = {"server": {"url": "https://hooks.example.com/?token=aaa"}}
    b = {"server": {"url": "https://hooks.example.com/?token=bbb"}}
    assert fields(TOOL, a, b) == [("server.url", a["server"]["url"], b["server"]["url"], False)]
    assert fields(TOOL, a, b, secrets=[("server", "url")]) == []
    # The secret text is scrubbed wherever it shows up, e.g. inside a differing neighbour.
    a2 = {"server": {"url": "https://x/?token=aaa"}, "description": "calls https://x/?token=aaa"}
    b2 = {"server": {"url": "https://x/?token=aaa"}, "description": "other"}
    assert fields(TOOL, a2, b2, secrets=[("server", "url")]) == [("description", SENSITIVE, "other", True)]


# -- comparing two environments ---------------------------------------------------------------


def managed(addr: str, value: dict, id_: str = "id") -> ManagedObject:
    kind, name = addr.split("/")
    return ManagedObject(addr, kind, name, id_, value)


def test_compare_envs_classifies_addresses_and_counts_the_same():
    a = {
        "tool/x": managed("tool/x", {"type": "endCall"}, "a1"),
        "assistant/s": managed("assistant/s", {"firstMessage": "A"}, "a2"),
        "assistant/same": managed("assistant/same", {"firstMessage": "="}, "a3"),
    }
    b = {
        "squad/q": managed("squad/q", {"members": []}, "b1"),
        "assistant/s": managed("assistant/s", {"firstMessage": "B"}, "b2"),
        "assistant/same": managed("assistant/same", {"firstMessage": "="}, "b3"),
    }
    report = compare_envs("staging", a, "prod", b)
    doc = report.to_dict()
    assert doc["summary"] == {"only_in_a": 1, "only_in_b": 1, "differ": 1, "same": 1}
    assert [(r["address"], r["status"]) for r in doc["resources"]] == [
        ("assistant/s", "differ"),
        ("squad/q", "only_in_b"),
        ("tool/x", "only_in_a"),
    ]
    assert doc["resources"][0]["ids"] == {"staging": "a2", "prod": "b2"}
    assert doc["resources"][0]["fields"] == [{"path": "firstMessage", "a": "A", "b": "B"}]
    assert summary_line(doc) == "1 only in staging, 1 only in prod, 1 differ."
    assert json.loads(render_json(doc)) == doc
    text = render_text(doc)
    assert text.splitlines()[-1] == "1 only in staging, 1 only in prod, 1 differ."
    assert "- tool/x (only in staging, id a1)" in text
    assert "+ squad/q (only in prod, id b1)" in text
    assert '~ assistant/s\n    firstMessage: "A" -> "B"' in text
    assert "\x1b[" not in text and "\x1b[" in render_text(doc, color=True)


def test_no_differences_and_multiline_values_as_line_diffs():
    same = {"assistant/s": managed("assistant/s", {"firstMessage": "x"})}
    doc = compare_envs("a", same, "b", same).to_dict()
    assert render_text(doc) == "No differences.\n"
    a = {"assistant/s": managed("assistant/s", {"model": {"messages": [{"content": "one\ntwo\nthree\n"}]}})}
    b = {"assistant/s": managed("assistant/s", {"model": {"messages": [{"content": "one\nTWO\nthree\n"}]}})}
    text = render_text(compare_envs("a", a, "b", b).to_dict())
    assert "    model.messages[0].content:\n" in text
    assert "      -two\n      +TWO\n" in text


# -- the command, against two sandboxes (staging and prod) -------------------------------------

STAGING_KEY, PROD_KEY = "staging-key", "prod-key"

MANIFESTS = """
kind: tool
name: lookup-order
spec:
  type: function
  function:
    name: lookup_order
  server:
    url: https://hooks.example.com/orders
    headers:
      Authorization: "Bearer ${{ secret('HOOK_TOKEN_' ~ env) }}"
---
kind: assistant
name: support
spec:
  firstMessage: "Hi, this is ${{ vars.brand }} support."
  model:
    provider: openai
    model: gpt-4o
    messages:
      - role: system
        content: You are a support agent.
    toolIds: [lookup-order]
  artifactPlan:
    structuredOutputIds: [call-outcome]
overrides:
  prod:
    model: {model: gpt-4.1}
---
kind: structured-output
name: call-outcome
spec:
  type: ai
  schema:
    type: object
  assistantIds: [support]
---
kind: assistant
name: beta
environments: [staging]
spec:
  firstMessage: Beta only.
"""


@pytest.fixture
def orgs():
    with SandboxServer() as staging, SandboxServer() as prod:
        yield staging, prod


@pytest.fixture
def project(tmp_path: Path, orgs) -> Path:
    staging, prod = orgs
    root = tmp_path / "proj"
    (root / "resources").mkdir(parents=True)
    (root / "resources" / "all.yaml").write_text(textwrap.dedent(MANIFESTS).lstrip())
    (root / "vapiops.yaml").write_text(
        textwrap.dedent(f"""
        environments:
          staging:
            api_key_env: VAPI_KEY_STAGING
            base_url: {staging.url}
            vars: {{brand: Acme Staging}}
          prod:
            api_key_env: VAPI_KEY_PROD
            base_url: {prod.url}
            vars: {{brand: Acme}}
    """).lstrip()
    )
    return root


ENV = {
    "VAPI_KEY_STAGING": STAGING_KEY,
    "VAPI_KEY_PROD": PROD_KEY,
    "HOOK_TOKEN_staging": "tok-staging-123",
    "HOOK_TOKEN_prod": "tok-prod-456",
    "NO_COLOR": "1",
    "VAPI_BASE_URL": None,
}


def run(*args, code: int | None = 0, env: dict | None = None):
    return run_cli(*args, code=code, env={**ENV, **(env or {})})


@pytest.fixture
def applied(project, orgs):
    run("apply", project, "--env", "staging", "--auto-approve")
    run("apply", project, "--env", "prod", "--auto-approve")
    return project


@pytest.mark.e2e
def test_diff_shows_exactly_the_var_and_override_and_the_staging_only_resource(applied, orgs):
    for org in orgs:
        org.clear_requests()
    result = run("diff", "staging", "prod", applied, "--format", "json", "--detailed-exitcode", code=2)
    doc = json.loads(result.stdout)
    assert doc["env_a"] == "staging" and doc["env_b"] == "prod"
    assert doc["summary"] == {"only_in_a": 1, "only_in_b": 0, "differ": 1, "same": 2}
    by_address = {r["address"]: r for r in doc["resources"]}
    assert sorted(by_address) == ["assistant/beta", "assistant/support"]
    assert by_address["assistant/beta"]["status"] == "only_in_a"
    assert by_address["assistant/support"]["fields"] == [
        {"path": "firstMessage", "a": "Hi, this is Acme Staging support.", "b": "Hi, this is Acme support."},
        {"path": "model.model", "a": "gpt-4o", "b": "gpt-4.1"},
    ]
    # IDs always differ between orgs: the references compared as names, so they are no difference.
    staging_ids = {o["id"] for o in orgs[0].objects("tool", STAGING_KEY)}
    prod_ids = {o["id"] for o in orgs[1].objects("tool", PROD_KEY)}
    assert staging_ids.isdisjoint(prod_ids)
    for some_id in staging_ids | prod_ids:
        assert some_id not in json.dumps(by_address["assistant/support"])
    assert "tok-staging-123" not in result.stdout and "tok-prod-456" not in result.stdout
    # One list call per kind and environment: diff reads nothing else and writes nothing.
    for org in orgs:
        assert sorted(r["path"] for r in org.requests if r["method"] == "GET") == sorted(
            k.path for k in KINDS.values() for _ in k.list_queries or ({},)
        )
        assert all(r["method"] == "GET" for r in org.requests)
    text = run("diff", "staging", "prod", applied).stdout
    assert text.splitlines()[-1] == "1 only in staging, 0 only in prod, 1 differ."
    assert "- assistant/beta (only in staging" in text
    assert '    firstMessage: "Hi, this is Acme Staging support." -> "Hi, this is Acme support."' in text
    assert '    model.model: "gpt-4o" -> "gpt-4.1"' in text
    assert "tok-" not in text


@pytest.mark.e2e
def test_diff_reads_only_and_sees_undeclared_dashboard_edits(applied, orgs):
    staging, prod = orgs
    support = next(o for o in prod.objects("assistant", PROD_KEY) if o["name"] == "support")
    with sandbox_client(prod, PROD_KEY) as c:
        c.patch(
            f"/assistant/{support['id']}", json={"voicemailMessage": "Leave a message"}
        ).raise_for_status()
    for org in orgs:
        org.clear_requests()
    doc = json.loads(run("diff", "prod", "staging", applied, "--format", "json").stdout)
    support_fields = next(r for r in doc["resources"] if r["address"] == "assistant/support")["fields"]
    assert {"path": "voicemailMessage", "a": "Leave a message", "b": None} in support_fields
    assert [r["address"] for r in doc["resources"] if r["status"] == "only_in_b"] == ["assistant/beta"]
    for org in orgs:
        assert org.requests and all(r["method"] == "GET" for r in org.requests)


@pytest.mark.e2e
def test_identical_environments_show_no_differences(project, orgs):
    text = (project / "vapiops.yaml").read_text().replace("Acme Staging", "Acme")
    (project / "vapiops.yaml").write_text(text)
    manifests = (project / "resources" / "all.yaml").read_text()
    manifests = manifests.replace("overrides:\n  prod:\n    model: {model: gpt-4.1}\n", "")
    manifests = manifests.replace("environments: [staging]\n", "")
    (project / "resources" / "all.yaml").write_text(manifests)
    run("apply", project, "--env", "staging", "--auto-approve")
    run("apply", project, "--env", "prod", "--auto-approve")
    result = run("diff", "staging", "prod", project, "--detailed-exitcode", code=0)
    assert result.stdout == "No differences.\n"
    doc = json.loads(run("diff", "staging", "prod", project, "--format", "json").stdout)
    assert doc["summary"] == {"only_in_a": 0, "only_in_b": 0, "differ": 0, "same": 4}


@pytest.mark.e2e
def test_missing_key_is_a_clear_error_naming_the_variable_before_any_request(applied, orgs):
    for org in orgs:
        org.clear_requests()
    result = run("diff", "staging", "prod", applied, code=1, env={"VAPI_KEY_PROD": None})
    assert "VAPI_KEY_PROD" in result.stderr and "prod" in result.stderr
    assert "Traceback" not in result.stderr
    assert orgs[0].requests == [] and orgs[1].requests == []


@pytest.mark.e2e
def test_unknown_or_repeated_environment_is_an_error(applied):
    result = run("diff", "staging", "qa", applied, code=1)
    assert "unknown environment 'qa'" in result.stderr
    result = run("diff", "prod", "prod", applied, code=1)
    assert "given twice" in result.stderr


@pytest.mark.e2e
def test_environment_without_state_is_noted_and_everything_is_only_on_the_other_side(project, orgs):
    run("apply", project, "--env", "staging", "--auto-approve")
    result = run("diff", "staging", "prod", project, "--format", "json")
    assert "'prod' manages no resources" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"] == {"only_in_a": 4, "only_in_b": 0, "differ": 0, "same": 0}


@pytest.mark.e2e
def test_two_orgs_each_apply_with_their_own_ids_and_plan_clean(applied, orgs):
    staging, prod = orgs
    states = {
        env: json.loads((applied / ".vapiops/state" / f"{env}.json").read_text())
        for env in ("staging", "prod")
    }
    ids = {env: {a: r["id"] for a, r in s["resources"].items()} for env, s in states.items()}
    assert "assistant/beta" in ids["staging"] and "assistant/beta" not in ids["prod"]
    assert set(ids["staging"].values()).isdisjoint(ids["prod"].values())
    # Each org got references to its own IDs, and its own vars and overrides.
    for env, server, brand, model in (
        ("staging", staging, "Acme Staging", "gpt-4o"),
        ("prod", prod, "Acme", "gpt-4.1"),
    ):
        (support,) = [a for a in server.objects("assistant") if a.get("name") == "support"]
        assert support["model"]["toolIds"] == [ids[env]["tool/lookup-order"]]
        assert support["firstMessage"] == f"Hi, this is {brand} support."
        assert support["model"]["model"] == model
        result = run("plan", applied, "--env", env, "--detailed-exitcode", code=0)
        assert "No changes." in result.stdout
