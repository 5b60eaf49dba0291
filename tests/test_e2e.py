"""End to end: plan and apply with the real CLI against the sandbox served over HTTP on 127.0.0.1.

Whole flows (all kinds, drift, state commands, locks), and the sync guarantees: no perpetual diffs
against a server that fills defaults, no wiped settings, secrets never shown, --refresh-only and
--target. After each apply, `plan --detailed-exitcode` must exit 0 and the writes sent must be exactly
the ones needed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import Result
from conftest import (
    HOOK_TOKEN,
    HOOK_TOKEN_2,
    KEY,
    OPENAI_KEY,
    PIN,
    PLAN_SCHEMA,
    SECRETS,
    apply,
    assistant_spec,
    calls,
    clean,
    dashboard_patch,
    doc,
    edit,
    function_tool,
    live,
    plan_json,
    sandbox_client,
    state_ids,
    write_file,
    write_files,
    writes,
)

from vapiops import paths, vapispec
from vapiops.kinds import KINDS

pytestmark = pytest.mark.e2e

TOOLS = """
kind: tool
name: lookup-order
spec:
  type: function
  function:
    name: lookup_order
    description: Look up an order by its number.
    parameters:
      type: object
      properties:
        orderNumber: {type: string}
      required: [orderNumber]
  server:
    url: https://hooks.example.com/orders
---
kind: tool
name: handoff-to-billing
spec:
  type: handoff
  destinations:
    - type: assistant
      assistantId: billing
      description: The caller has a billing question.
---
kind: tool
name: end-call
spec:
  type: endCall
"""

ASSISTANTS = """
kind: assistant
name: support
spec:
  firstMessage: "Hi, this is Acme support."
  model:
    provider: openai
    model: gpt-4o
    messages:
      - role: system
        content: |
          You are Acme's support agent. The caller is {{ customer.number }}.
          Be brief.
    toolIds: [lookup-order, handoff-to-billing, end-call]
  artifactPlan:
    structuredOutputIds: [call-outcome]
---
kind: assistant
name: billing
spec:
  firstMessage: "Billing here."
  model:
    provider: openai
    model: gpt-4o
    messages:
      - role: system
        content: You handle billing questions.
"""

OTHERS = """
kind: squad
name: desk
spec:
  members:
    - assistantId: support
    - assistantId: billing
---
kind: structured-output
name: call-outcome
spec:
  type: ai
  schema:
    type: object
    properties:
      resolved: {type: boolean}
  assistantIds: [support, billing]
---
kind: scorecard
name: quality
spec:
  metrics:
    - structuredOutputId: call-outcome
      conditions:
        - type: comparator
          comparator: "="
          value: true
          points: 100
  assistantIds: [support]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write_files(
        root,
        {
            "resources/tools.yaml": TOOLS,
            "resources/assistants.yaml": ASSISTANTS,
            "resources/others.yaml": OTHERS,
        },
    )
    return root


def test_apply_all_kinds_with_cycles_then_plan_is_clean(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = state_ids(project)
    assert sorted(ids) == sorted(
        [
            "assistant/billing",
            "assistant/support",
            "scorecard/quality",
            "squad/desk",
            "structured-output/call-outcome",
            "tool/end-call",
            "tool/handoff-to-billing",
            "tool/lookup-order",
        ]
    )
    # References were sent as IDs, both cycles closed.
    support = sandbox_client(sandbox).get(f"/assistant/{ids['assistant/support']}").json()
    assert sorted(support["model"]["toolIds"]) == sorted(
        [ids["tool/lookup-order"], ids["tool/handoff-to-billing"], ids["tool/end-call"]]
    )
    assert support["artifactPlan"]["structuredOutputIds"] == [ids["structured-output/call-outcome"]]
    handoff = sandbox_client(sandbox).get(f"/tool/{ids['tool/handoff-to-billing']}").json()
    assert handoff["destinations"][0]["assistantId"] == ids["assistant/billing"]
    outcome = (
        sandbox_client(sandbox).get(f"/structured-output/{ids['structured-output/call-outcome']}").json()
    )
    assert sorted(outcome["assistantIds"]) == sorted([ids["assistant/support"], ids["assistant/billing"]])
    # The Liquid placeholder reached Vapi untouched.
    assert "{{ customer.number }}" in support["model"]["messages"][0]["content"]
    # Each resource created exactly once.
    posts = [r for r in sandbox.requests if r["method"] == "POST"]
    assert len(posts) == 8
    sandbox.clear_requests()
    result = cli("plan", project, "--detailed-exitcode", code=0)
    assert "No changes." in result.stdout
    assert writes(sandbox) == []
    # A no-op plan reads with list calls, never one GET per resource.
    gets = [r for r in sandbox.requests if r["method"] == "GET"]
    assert all(r["path"] in {p for k in KINDS.values() for p in k.collections} for r in gets), gets
    assert len(gets) <= 2 * len(KINDS)


def test_one_changed_field_sends_one_patch_with_that_key(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(
        text.replace("Billing here.", "Billing, how can I help?")
    )
    sandbox.clear_requests()
    plan = cli("plan", project, "--format", "json", "--detailed-exitcode", code=2)
    doc = json.loads(plan.stdout)
    assert doc["summary"] == {"add": 0, "change": 1, "destroy": 0, "replace": 0}
    assert doc["changes"][0]["fields"] == [
        {"path": "firstMessage", "before": "Billing here.", "after": "Billing, how can I help?"}
    ]
    sandbox.clear_requests()
    cli("apply", project, "--auto-approve")
    assert [(r["method"], sorted(r["body"])) for r in writes(sandbox)] == [("PATCH", ["firstMessage"])]
    cli("plan", project, "--detailed-exitcode", code=0)


def test_dashboard_edit_of_declared_field_is_drift_and_undeclared_is_not(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = state_ids(project)
    with sandbox_client(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/support']}").json()
        # Undeclared field: the dashboard sets a voicemail message and tweaks an undeclared nested one.
        model = dict(live["model"], temperature=1.3)
        c.patch(
            f"/assistant/{ids['assistant/support']}",
            json={"voicemailMessage": "Leave a message", "model": model},
        ).raise_for_status()
    cli("plan", project, "--detailed-exitcode", code=0)
    with sandbox_client(sandbox) as c:
        c.patch(
            f"/assistant/{ids['assistant/support']}", json={"firstMessage": "Edited in the dashboard"}
        ).raise_for_status()
    result = cli("plan", project, "--format", "json", "--detailed-exitcode", code=2)
    fields = json.loads(result.stdout)["changes"][0]["fields"]
    assert fields == [
        {"path": "firstMessage", "before": "Edited in the dashboard", "after": "Hi, this is Acme support."}
    ]
    sandbox.clear_requests()
    cli("apply", project, "--auto-approve")
    patch = writes(sandbox)
    assert [(r["method"], sorted(r["body"])) for r in patch] == [("PATCH", ["firstMessage"])]
    with sandbox_client(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/support']}").json()
    # Settings nobody declared survived.
    assert live["voicemailMessage"] == "Leave a message"
    assert live["model"]["temperature"] == 1.3


def test_nested_write_keeps_undeclared_nested_settings(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = state_ids(project)
    with sandbox_client(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/billing']}").json()
        c.patch(
            f"/assistant/{ids['assistant/billing']}", json={"model": dict(live["model"], maxTokens=400)}
        ).raise_for_status()
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(
        text.replace("content: You handle billing questions.", "content: You handle billing and refunds.")
    )
    sandbox.clear_requests()
    cli("apply", project, "--auto-approve")
    (patch,) = writes(sandbox)
    assert sorted(patch["body"]) == ["model"]
    assert patch["body"]["model"]["maxTokens"] == 400  # sent back whole, undeclared value kept
    with sandbox_client(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/billing']}").json()
    assert live["model"]["maxTokens"] == 400
    assert live["model"]["messages"][0]["content"] == "You handle billing and refunds."
    cli("plan", project, "--detailed-exitcode", code=0)


def test_removed_field_is_removed(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace('  firstMessage: "Billing here."\n', ""))
    sandbox.clear_requests()
    cli("apply", project, "--auto-approve")
    (patch,) = writes(sandbox)
    assert patch["method"] == "PATCH" and patch["body"] == {"firstMessage": None}
    cli("plan", project, "--detailed-exitcode", code=0)


def test_removing_a_tool_patches_the_assistant_before_deleting_it(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = state_ids(project)
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(tools.split("---\nkind: tool\nname: end-call")[0])
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace(", end-call]", "]"))
    sandbox.clear_requests()
    cli("apply", project, "--auto-approve")
    calls = [(r["method"], r["path"]) for r in writes(sandbox)]
    assert calls == [
        ("PATCH", f"/assistant/{ids['assistant/support']}"),
        ("DELETE", f"/tool/{ids['tool/end-call']}"),
    ]
    assert "tool/end-call" not in state_ids(project)
    cli("plan", project, "--detailed-exitcode", code=0)


def test_tool_type_change_is_create_repoint_delete(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    old = state_ids(project)
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(
        tools.replace("name: end-call\nspec:\n  type: endCall\n", "name: end-call\nspec:\n  type: dtmf\n")
    )
    plan = cli("plan", project, "--format", "json", code=0)
    doc = json.loads(plan.stdout)
    actions = {c["address"]: c["action"] for c in doc["changes"]}
    assert actions["tool/end-call"] == "replace"
    assert actions["assistant/support"] == "update"
    sandbox.clear_requests()
    cli("apply", project, "--auto-approve")
    new = state_ids(project)
    calls = [(r["method"], r["path"]) for r in writes(sandbox)]
    assert calls == [
        ("POST", "/tool"),
        ("PATCH", f"/assistant/{old['assistant/support']}"),
        ("DELETE", f"/tool/{old['tool/end-call']}"),
    ]
    assert new["tool/end-call"] != old["tool/end-call"]
    with sandbox_client(sandbox) as c:
        live = c.get(f"/assistant/{old['assistant/support']}").json()
    assert new["tool/end-call"] in live["model"]["toolIds"]
    assert old["tool/end-call"] not in live["model"]["toolIds"]
    cli("plan", project, "--detailed-exitcode", code=0)


def test_validation_error_is_located_and_sends_nothing(project, cli, sandbox):
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(
        text.replace("toolIds: [lookup-order,", "toolIds: [lookup-ordr,")
    )
    sandbox.clear_requests()
    result = cli("apply", project, "--auto-approve", code=1)
    assert "resources/assistants.yaml:" in result.stderr
    assert "lookup-ordr" in result.stderr and "did you mean 'lookup-order'" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.requests == []


def test_crash_after_post_is_adopted_not_duplicated(project, cli, sandbox):
    # The server creates the object but the answer is lost (a 502 after the effect), every time:
    # the client must look for it instead of posting twice.
    sandbox.inject("POST", "/tool", 502, times=1, after_effect=True)
    cli("apply", project, "--auto-approve")
    tools = sandbox_client(sandbox).get("/tool").json()
    assert len(tools) == 3
    cli("plan", project, "--detailed-exitcode", code=0)


def test_destroy_deletes_dependents_first(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = {v: k for k, v in state_ids(project).items()}
    sandbox.clear_requests()
    cli("destroy", project, "--auto-approve")
    order = [ids[r["path"].rsplit("/", 1)[1]] for r in writes(sandbox) if r["method"] == "DELETE"]
    assert len(order) == 8
    assert order.index("squad/desk") < order.index("assistant/support")
    assert order.index("scorecard/quality") < order.index("structured-output/call-outcome")
    assert sandbox_client(sandbox).get("/assistant").json() == []
    assert state_ids(project) == {}


def test_crash_between_post_and_record_is_adopted_on_the_next_run(project, cli, sandbox):
    from vapiops.state import Intent, LocalBackend
    from vapiops.timestamps import now_iso

    cli("apply", project, "--auto-approve")
    extra = {"type": "function", "function": {"name": "extra_fn", "description": "Added later."}}
    with open(project / "resources/tools.yaml", "a") as fh:
        fh.write(
            "---\nkind: tool\nname: extra\nspec:\n  type: function\n  function:\n"
            "    name: extra_fn\n    description: Added later.\n"
        )
    # What a run killed right after its POST leaves behind: the intent in state, the object live.
    store = LocalBackend(project / ".vapiops/state/default.json", "default")
    state = store.load()
    state.intents["tool/extra"] = Intent(address="tool/extra", kind="tool", started_at=now_iso(), body=extra)
    store.record(state, "tool/extra")
    created = sandbox_client(sandbox).post("/tool", json=extra).json()
    sandbox.clear_requests()
    result = cli("plan", project, "--detailed-exitcode", code=0)
    assert "tool/extra: adopted" in result.stderr
    assert state_ids(project)["tool/extra"] == created["id"]
    cli("apply", project, "--auto-approve")
    assert [r for r in writes(sandbox)] == []
    assert len(sandbox_client(sandbox).get("/tool").json()) == 4


def test_failed_call_stops_new_work_keeps_what_was_done_and_a_rerun_finishes(project, cli, sandbox):
    # The first tool POST fails for good (a 400 is not retried): nothing that depends on it may start.
    sandbox.inject("POST", "/tool", 400, times=1)
    result = cli("apply", project, "--auto-approve", "--parallelism", "1", code=1)
    assert "Apply failed" in result.stderr and "not started" in result.stderr
    assert "Traceback" not in result.stderr
    done = state_ids(project)
    live_ids = {
        o["id"]
        for kind in ("assistant", "tool", "squad")
        for o in sandbox_client(sandbox).get(f"/{kind}").json()
    }
    assert set(done.values()) == live_ids  # state holds exactly what was created, nothing more
    assert "squad/desk" not in done
    sandbox.clear_requests()
    result = cli("apply", project, "--auto-approve")
    assert "Apply complete!" in result.stderr
    # Progress: one line per call as it completes, with the time it took.
    assert any(line.endswith("s]") and "created (id " in line for line in result.stderr.splitlines())
    posts = [r for r in sandbox.requests if r["method"] == "POST"]
    assert len(posts) == 8 - len(done)  # nothing created twice
    cli("plan", project, "--detailed-exitcode", code=0)


def test_state_mv_renames_without_recreating_and_rm_forgets(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = state_ids(project)
    listing = cli("state", "list", project).stdout.splitlines()
    assert f"tool/end-call\t{ids['tool/end-call']}" in listing and len(listing) == 8
    # Rename the manifest and move its state: no delete, no create.
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(tools.replace("name: end-call", "name: hang-up"))
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace(", end-call]", ", hang-up]"))
    cli("state", "mv", "tool/end-call", "tool/hang-up", project)
    sandbox.clear_requests()
    cli("plan", project, "--detailed-exitcode", code=0)
    assert state_ids(project)["tool/hang-up"] == ids["tool/end-call"]
    shown = json.loads(cli("state", "show", "tool/hang-up", project).stdout)
    assert shown["id"] == ids["tool/end-call"] and shown["applied"]["type"] == "endCall"
    # Forget the billing assistant: the live object stays; the next plan would create a second one.
    cli("state", "rm", "assistant/billing", project)
    assert "assistant/billing" not in state_ids(project)
    assert any(a["id"] == ids["assistant/billing"] for a in sandbox_client(sandbox).get("/assistant").json())
    result = cli("plan", project, "--format", "json", code=0)
    doc = json.loads(result.stdout)
    assert {c["address"]: c["action"] for c in doc["changes"]}["assistant/billing"] == "create"
    assert any(f"vapiops import assistant/billing {ids['assistant/billing']}" in w for w in doc["warnings"])
    assert writes(sandbox) == []
    # Errors are one line naming the address.
    missing = cli("state", "rm", "assistant/nope", project, code=1)
    assert missing.stderr.startswith("Error: assistant/nope is not in state")


def test_plan_during_an_apply_leaves_its_in_flight_intents_alone(project, cli, sandbox):
    from vapiops.state import Intent, LocalBackend
    from vapiops.timestamps import now_iso

    cli("apply", project, "--auto-approve")
    extra = {"type": "function", "function": {"name": "extra_fn"}}
    store = LocalBackend(project / ".vapiops/state/default.json", "default")
    with store.lock(who="apply"):  # another run is applying, and has just sent this POST
        state = store.load()
        state.intents["tool/extra"] = Intent(
            address="tool/extra", kind="tool", started_at=now_iso(), body=extra
        )
        store.record(state, "tool/extra")
        created = sandbox_client(sandbox).post("/tool", json=extra).json()
        cli("plan", project, code=0)
        assert "tool/extra" in store.load().intents  # still that run's, untouched
    # Once nobody holds the lock, a plan adopts what the intent describes.
    with open(project / "resources/tools.yaml", "a") as fh:
        fh.write("---\nkind: tool\nname: extra\nspec:\n  type: function\n  function: {name: extra_fn}\n")
    result = cli("plan", project, "--detailed-exitcode", code=0)
    assert "tool/extra: adopted" in result.stderr
    assert store.load().resources["tool/extra"].id == created["id"]


def test_a_second_apply_waits_for_the_lock_or_names_its_holder(project, cli, sandbox):
    import threading

    from vapiops.state import LocalBackend

    store = LocalBackend(project / ".vapiops/state/default.json", "default")
    with store.lock(who="apply"):
        refused = cli("apply", project, "--auto-approve", code=1)
        assert "locked by" in refused.stderr and "apply" in refused.stderr
        assert writes(sandbox) == []
    holder = store.lock(who="apply")
    holder.__enter__()
    threading.Timer(0.5, holder.__exit__, (None, None, None)).start()
    result = cli("apply", project, "--auto-approve", "--lock-timeout", "10")  # waits, then applies
    assert "Apply complete!" in result.stderr


# ---------------------------------------------------------------------------------------------
# Every tool type: edits deep in lists and removals send only what changed


MESSAGES = [
    {"type": "request-start", "content": "One moment, {{ customer.name }}…", "blocking": True},
    {"type": "request-failed", "content": "Sorry, that did not work."},
    {"type": "request-response-delayed", "content": "Still on it.", "timingMilliseconds": 2000},
]


REJECTION = {"conditions": [{"type": "regex", "regex": "(?i)\\b(bye|goodbye)\\b", "negate": True}]}


SERVER = {"url": "https://hooks.example.com/tools", "timeoutSeconds": 15}


FUNCTION = {
    "name": "lookup_order",
    "description": "Look up an order.",
    "parameters": {
        "type": "object",
        "properties": {"orderNumber": {"type": "string"}},
        "required": ["orderNumber"],
    },
}


# File IDs are Vapi IDs (UUIDs): the sandbox, like Vapi, refuses anything else there.
FILE_1, FILE_2, FILE_3 = (f"0f11e000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))


# Per tool type: the fields its DTO has beyond messages/rejectionPlan, and a (path, new value) edit
# whose top-level key is then removed. Types without their own fields edit rejectionPlan.
TOOL_FIELDS: dict[str, dict[str, Any]] = {
    "apiRequest": {
        "method": "POST",
        "url": "https://api.example.com/orders",
        "name": "create_order",
        "description": "Create an order.",
        "timeoutSeconds": 30,
        "body": {"type": "object", "properties": {"sku": {"type": "string"}}},
        "backoffPlan": {"type": "exponential", "maxRetries": 3, "baseDelaySeconds": 1},
    },
    "bash": {"subType": "bash_20241022", "name": "bash", "server": SERVER},
    "code": {
        "code": "return { ok: true };",
        "timeoutSeconds": 5,
        "function": FUNCTION,
        "environmentVariables": [{"name": "REGION", "value": "eu"}],
    },
    "computer": {
        "subType": "computer_20241022",
        "name": "computer",
        "displayWidthPx": 1024,
        "displayHeightPx": 768,
        "server": SERVER,
    },
    "dtmf": {"sipInfoDtmfEnabled": True},
    "function": {"function": FUNCTION, "server": SERVER, "async": False},
    "handoff": {"destinations": [{"type": "assistant", "assistantId": "target", "description": "Billing."}]},
    "mcp": {"server": SERVER, "metadata": {"protocol": "shttp"}},
    "query": {
        "knowledgeBases": [
            {"name": "faq", "provider": "google", "description": "FAQ", "fileIds": [FILE_1, FILE_2]}
        ]
    },
    "sipRequest": {"verb": "INFO", "body": "hello"},
    "textEditor": {"subType": "text_editor_20241022", "name": "str_replace_editor", "server": SERVER},
    "transferCall": {
        "destinations": [{"type": "number", "number": "+14155550100", "description": "Front desk."}]
    },
    "voicemail": {"beepDetectionEnabled": True},
}


TOOL_EDITS: dict[str, tuple[str, Any]] = {
    "apiRequest": ("backoffPlan.maxRetries", 5),
    "bash": ("server.timeoutSeconds", 25),
    "code": ("environmentVariables[0].value", "us"),
    "computer": ("server.url", "https://hooks.example.com/computer"),
    "dtmf": ("sipInfoDtmfEnabled", False),
    "function": ("server.timeoutSeconds", 40),
    "handoff": ("destinations[0].description", "Billing and refunds."),
    "mcp": ("metadata.protocol", "sse"),
    "query": ("knowledgeBases[0].fileIds", [FILE_1, FILE_2, FILE_3]),
    "sipRequest": ("body", "goodbye"),
    "textEditor": ("server.timeoutSeconds", 5),
    "transferCall": ("destinations[0].number", "+14155550199"),
    "voicemail": ("beepDetectionEnabled", False),
}


TOOL_TYPES = vapispec.discriminator_values(KINDS["tool"])


def test_every_tool_type_is_covered():
    # A new tool type in Vapi's spec must get a realistic body here, not just `type`.
    assert len(TOOL_TYPES) >= 20
    assert set(TOOL_FIELDS) <= set(TOOL_TYPES) and set(TOOL_EDITS) <= set(TOOL_TYPES)
    for tool_type in TOOL_TYPES:
        body = {
            "type": tool_type,
            "messages": MESSAGES,
            "rejectionPlan": REJECTION,
            **TOOL_FIELDS.get(tool_type, {}),
        }
        body = json.loads(json.dumps(body).replace('"target"', '"00000000-0000-4000-8000-000000000000"'))
        assert vapispec.check(KINDS["tool"], body) == [], tool_type


def _tool_spec(tool_type: str) -> dict[str, Any]:
    return {
        "type": tool_type,
        "messages": copy.deepcopy(MESSAGES),
        "rejectionPlan": copy.deepcopy(REJECTION),
        **copy.deepcopy(TOOL_FIELDS.get(tool_type, {})),
    }


def _patches_by_tool(sandbox, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """tool type -> the body of the one PATCH it got (asserting every write is a tool PATCH)."""
    by_id = {ids[f"tool/{t}"]: t for t in TOOL_TYPES}
    out: dict[str, dict[str, Any]] = {}
    for r in writes(sandbox, succeeded=True):
        assert r["method"] == "PATCH" and r["path"].startswith("/tool/"), r
        tool_type = by_id[r["path"].rsplit("/", 1)[1]]
        assert tool_type not in out, f"{tool_type} patched twice"
        out[tool_type] = r["body"]
    return out


def test_every_tool_type_applies_edits_and_removes_cleanly(proj, run, sandbox):
    # One tool of each type in one project (one apply for all 23 keeps the file fast); every
    # assertion below is made per type.
    proj.put(doc("assistant", "target", {"firstMessage": "Billing here."}))
    for tool_type in TOOL_TYPES:
        proj.put(doc("tool", tool_type, _tool_spec(tool_type)))
    apply(run, proj)
    ids = proj.ids()
    assert sorted(p for m, p in calls(sandbox) if m == "POST") == ["/assistant"] + ["/tool"] * len(TOOL_TYPES)
    assert all(m == "POST" for m, _ in calls(sandbox))
    for tool_type in TOOL_TYPES:
        stored = live(sandbox, "tool", ids[f"tool/{tool_type}"])
        # The server filled defaults the manifest never declared (else this test would prove little).
        assert stored["messages"][1]["endCallAfterSpokenEnabled"] is False, tool_type
    clean(run, proj)

    # A one-field edit deep in a list of objects: one PATCH each, that key only, server-filled keys kept.
    sandbox.clear_requests()
    for tool_type in TOOL_TYPES:
        proj.spec(f"tool/{tool_type}")["messages"][0]["content"] = f"Hang on — checking {tool_type} ✓"
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        assert sorted(body) == ["messages"], tool_type
        assert body["messages"][0]["content"] == f"Hang on — checking {tool_type} ✓"
        assert body["messages"][1]["endCallAfterSpokenEnabled"] is False
    clean(run, proj)

    # Removing nested fields: the key is sent whole without them; the server re-defaults `blocking`.
    sandbox.clear_requests()
    for tool_type in TOOL_TYPES:
        del proj.spec(f"tool/{tool_type}")["messages"][0]["content"]
        del proj.spec(f"tool/{tool_type}")["messages"][0]["blocking"]
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        assert sorted(body) == ["messages"], tool_type
        assert "content" not in body["messages"][0] and "blocking" not in body["messages"][0]
        assert body["messages"][2]["timingMilliseconds"] == 2000
        stored = live(sandbox, "tool", ids[f"tool/{tool_type}"])
        assert "content" not in stored["messages"][0] and stored["messages"][0]["blocking"] is False
    clean(run, proj)

    # A type-specific edit: one PATCH carrying only its top-level key.
    edits = {t: TOOL_EDITS.get(t, ("rejectionPlan.conditions[0].regex", "(?i)ciao")) for t in TOOL_TYPES}
    tops = {t: dotted.split(".")[0].split("[")[0] for t, (dotted, _) in edits.items()}
    sandbox.clear_requests()
    for tool_type, (dotted, new) in edits.items():
        paths.set_(proj.spec(f"tool/{tool_type}"), paths.parse_path(dotted), new)
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        assert sorted(body) == [tops[tool_type]], tool_type
        dotted, new = edits[tool_type]
        assert paths.get(body, paths.parse_path(dotted)) == new, tool_type
    clean(run, proj)

    # Removing that top-level field sends it as null, and nothing else.
    sandbox.clear_requests()
    for tool_type in TOOL_TYPES:
        del proj.spec(f"tool/{tool_type}")[tops[tool_type]]
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        top = tops[tool_type]
        assert body == {top: None}, tool_type
        stored = live(sandbox, "tool", ids[f"tool/{tool_type}"])
        # Gone, or back as the server's own default (voicemail's beepDetectionEnabled: false).
        assert stored.get(top) == vapispec.apply_defaults(KINDS["tool"], {"type": tool_type}).get(top), (
            tool_type
        )
    clean(run, proj)
    assert len(sandbox.objects("tool", KEY)) == len(TOOL_TYPES)


def test_changing_a_list_elements_type_in_place_sends_only_what_the_new_type_accepts(proj, run, sandbox):
    # The live element carries a server default of the old type (`blocking` of a request-start
    # message). Sent back under the new type it is an unknown property: every apply would fail.
    proj.put(doc("tool", "t", function_tool("t")))
    apply(run, proj)
    assert live(sandbox, "tool", proj.ids()["tool/t"])["messages"][0]["blocking"] is False
    proj.spec("tool/t")["messages"] = [{"type": "request-failed", "content": "Sorry."}]
    proj.save()
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert patch["body"] == {"messages": [{"type": "request-failed", "content": "Sorry."}]}
    clean(run, proj)


# ---------------------------------------------------------------------------------------------
# No perpetual diffs: server defaults, numbers, reordered IDs, empty values, unicode


def test_server_defaults_in_every_kind_never_show_as_changes(proj, run, sandbox):
    proj.put(
        doc("tool", "lookup", function_tool("lookup")),
        doc(
            "assistant",
            "a",
            assistant_spec(
                tools=["lookup"],
                artifactPlan={"structuredOutputIds": ["outcome"]},
                hooks=[{"on": "call.ending", "do": [{"type": "tool", "toolId": "lookup"}]}],
            ),
        ),
        doc("assistant", "b", assistant_spec("Billing.")),
        doc(
            "squad",
            "desk",
            {
                "members": [
                    {
                        "assistantId": "a",
                        "assistantDestinations": [
                            {"type": "assistant", "assistantName": "b", "message": "Transferring you."}
                        ],
                    },
                    {"assistantId": "b"},
                ],
                "membersOverrides": {"firstMessage": "Hello from the desk."},
            },
        ),
        doc(
            "structured-output",
            "outcome",
            {
                "schema": {"type": "object", "properties": {"resolved": {"type": "boolean"}}},
                "assistantIds": ["a"],
            },
        ),
        doc(
            "scorecard",
            "quality",
            {
                "metrics": [
                    {
                        "structuredOutputId": "outcome",
                        "conditions": [
                            {"type": "comparator", "comparator": "=", "value": True, "points": 100}
                        ],
                    }
                ],
                "assistantIds": ["a"],
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    # What the server filled in, nowhere declared: nested objects, and keys added to array elements.
    assert a["model"]["temperature"] == 0.5 and a["voice"]["cachingEnabled"] is True
    assert a["server"]["timeoutSeconds"] == 20 and a["stopSpeakingPlan"]["backoffSeconds"] == 1
    assert a["transcriber"]["confidenceThreshold"] == 0.4 and a["artifactPlan"]["recordingEnabled"] is True
    squad = live(sandbox, "squad", ids["squad/desk"])
    assert squad["members"][0]["assistantDestinations"][0]["transferMode"] == "rolling-history"
    assert squad["membersOverrides"]["maxDurationSeconds"] == 600
    outcome = live(sandbox, "structured-output", ids["structured-output/outcome"])
    assert outcome["type"] == "ai"
    tool = live(sandbox, "tool", ids["tool/lookup"])
    assert tool["messages"][0]["blocking"] is False and tool["function"]["strict"] is False
    sandbox.clear_requests()
    clean(run, proj)
    run("plan", proj.root, "--refresh-only", "--detailed-exitcode", code=0)  # and no drift reported
    apply(run, proj)
    assert writes(sandbox, succeeded=True) == []


def test_numbers_by_value_booleans_apart(proj, run, sandbox):
    spec = assistant_spec(stopSpeakingPlan={"numWords": 2, "backoffSeconds": 1.0})
    spec["model"]["temperature"] = 1
    proj.put(
        doc("assistant", "a", spec),
        doc("structured-output", "score", {"schema": {"type": "number"}}),
        doc("structured-output", "flag", {"schema": {"type": "boolean"}}),
        doc(
            "scorecard",
            "quality",
            {
                "metrics": [
                    {
                        "structuredOutputId": "score",
                        "conditions": [{"type": "comparator", "comparator": ">=", "value": 4, "points": 50}],
                    },
                    {
                        "structuredOutputId": "flag",
                        "conditions": [
                            {"type": "comparator", "comparator": "=", "value": True, "points": 50}
                        ],
                    },
                ]
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    # The dashboard (or a JavaScript server) writes the same numbers the other way round.
    a = live(sandbox, "assistant", ids["assistant/a"])
    dashboard_patch(
        sandbox,
        "assistant",
        ids["assistant/a"],
        {
            "model": {**a["model"], "temperature": 1.0},
            "stopSpeakingPlan": {**a["stopSpeakingPlan"], "backoffSeconds": 1},
        },
    )
    card = live(sandbox, "scorecard", ids["scorecard/quality"])
    card["metrics"][0]["conditions"][0]["value"] = 4.0
    dashboard_patch(sandbox, "scorecard", ids["scorecard/quality"], {"metrics": card["metrics"]})
    assert isinstance(live(sandbox, "assistant", ids["assistant/a"])["model"]["temperature"], float)
    sandbox.clear_requests()
    clean(run, proj)
    # A boolean is not a number: `= true` turned into `= 1` in the dashboard is a change.
    card["metrics"][1]["conditions"][0]["value"] = 1
    dashboard_patch(sandbox, "scorecard", ids["scorecard/quality"], {"metrics": card["metrics"]})
    changes = plan_json(run, proj)["changes"]
    assert [(c["address"], [f["path"] for f in c["fields"]]) for c in changes] == [
        ("scorecard/quality", ["metrics[1].conditions[0].value"])
    ]
    before, after = changes[0]["fields"][0]["before"], changes[0]["fields"][0]["after"]
    assert (type(before), before, after) == (int, 1, True) and after is True
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert sorted(patch["body"]) == ["metrics"]
    assert patch["body"]["metrics"][1]["conditions"][0]["value"] is True
    assert patch["body"]["metrics"][0]["conditions"][0]["value"] == 4  # the live value, sent back
    clean(run, proj)


def test_reordered_id_arrays_are_no_change(proj, run, sandbox):
    proj.put(
        doc("tool", "t1", function_tool("t1")),
        doc("tool", "t2", function_tool("t2")),
        doc("tool", "t3", function_tool("t3")),
        doc("assistant", "a", assistant_spec(tools=["t1", "t2", "t3"])),
        doc("assistant", "b", assistant_spec("B.")),
        doc("assistant", "c", assistant_spec("C.")),
        doc("structured-output", "out", {"schema": {"type": "string"}, "assistantIds": ["a", "b", "c"]}),
        doc(
            "scorecard",
            "card",
            {
                "metrics": [
                    {
                        "structuredOutputId": "out",
                        "conditions": [{"type": "comparator", "comparator": "=", "value": 1, "points": 100}],
                    }
                ],
                "assistantIds": ["c", "a"],
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    dashboard_patch(
        sandbox,
        "assistant",
        ids["assistant/a"],
        {"model": {**a["model"], "toolIds": list(reversed(a["model"]["toolIds"]))}},
    )
    out = live(sandbox, "structured-output", ids["structured-output/out"])
    dashboard_patch(
        sandbox,
        "structured-output",
        ids["structured-output/out"],
        {"assistantIds": out["assistantIds"][1:] + out["assistantIds"][:1], "schema": out["schema"]},
    )
    card = live(sandbox, "scorecard", ids["scorecard/card"])
    dashboard_patch(sandbox, "scorecard", ids["scorecard/card"], {"assistantIds": card["assistantIds"][::-1]})
    sandbox.clear_requests()
    clean(run, proj)
    # A real change to a reordered ID array: one PATCH, the desired set in full.
    proj.spec("assistant/a")["model"]["toolIds"] = ["t3", "t1"]
    proj.save()
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert sorted(patch["body"]) == ["model"]
    assert sorted(patch["body"]["model"]["toolIds"]) == sorted([ids["tool/t3"], ids["tool/t1"]])
    assert patch["body"]["model"]["temperature"] == 0.5  # the server-filled value went back whole
    clean(run, proj)


def test_declared_empty_list_and_dict(proj, run, sandbox):
    proj.put(
        doc(
            "assistant",
            "a",
            assistant_spec(tools=[], metadata={}, hooks=[], analysisPlan={}, endCallPhrases=[]),
        ),
        doc("structured-output", "out", {"schema": {"type": "string"}, "assistantIds": []}),
    )
    apply(run, proj)
    ids = proj.ids()
    clean(run, proj)
    # A server that drops empty values: still no change.
    dashboard_patch(
        sandbox, "assistant", ids["assistant/a"], {"metadata": None, "hooks": None, "endCallPhrases": None}
    )
    out = live(sandbox, "structured-output", ids["structured-output/out"])
    dashboard_patch(
        sandbox,
        "structured-output",
        ids["structured-output/out"],
        {"assistantIds": None, "schema": out["schema"]},
    )
    sandbox.clear_requests()
    clean(run, proj)
    # A declared empty list is owned: an element the dashboard adds is taken out again.
    dashboard_patch(sandbox, "assistant", ids["assistant/a"], {"endCallPhrases": ["bye now"]})
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert patch["body"] == {"endCallPhrases": []}
    clean(run, proj)


PROMPT = (
    """\
# Rôle
Tu es l'agent de support d'Acme — réponds en {{ customer.language | default: "français" }}.
{% if customer.name %}Appelle le client « {{ customer.name }} ».{% else %}Demande son nom.{% endif %}

日本語のお客様には丁寧語で。 مرحبا 👋🏽  (tab:\t) trailing spaces"""
    + "   "
    + """
{% for item in order.items %}- {{ item.sku }} × {{ item.qty }}
{% endfor %}
"""
)


def test_unicode_multiline_prompt_with_liquid_round_trips(proj, run, sandbox):
    (proj.root / "prompts").mkdir(parents=True)
    (proj.root / "prompts" / "support.md").write_text(PROMPT, encoding="utf-8")
    spec = assistant_spec("¡Hola {{ customer.name }}! ✨")
    spec["model"]["messages"] = [
        {"role": "system", "content": "${{ include('prompts/support.md') }}"},
        {"role": "assistant", "content": PROMPT},  # the same text written inline in the YAML
    ]
    proj.put(doc("assistant", "a", spec))
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["model"]["messages"][0]["content"] == PROMPT  # byte for byte: Liquid untouched
    assert a["model"]["messages"][1]["content"] == PROMPT
    assert a["firstMessage"] == "¡Hola {{ customer.name }}! ✨"
    sandbox.clear_requests()
    clean(run, proj)
    # One changed line of the included prompt: one PATCH of `model`, the rest of the text intact.
    (proj.root / "prompts" / "support.md").write_text(PROMPT.replace("丁寧語", "敬語"), encoding="utf-8")
    result = run("plan", proj.root, code=0)
    assert "敬語" in result.stdout
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert sorted(patch["body"]) == ["model"]
    assert patch["body"]["model"]["messages"][0]["content"] == PROMPT.replace("丁寧語", "敬語")
    assert patch["body"]["model"]["messages"][1]["content"] == PROMPT
    clean(run, proj)


# ---------------------------------------------------------------------------------------------
# No wiped settings: nested removal and ignoreChanges keep what the dashboard set


def test_removal_at_depth_three_keeps_undeclared_siblings(proj, run, sandbox):
    spec = assistant_spec(
        startSpeakingPlan={
            "waitSeconds": 0.6,
            "transcriptionEndpointingPlan": {"onPunctuationSeconds": 0.2, "onNoPunctuationSeconds": 1.2},
        }
    )
    proj.put(
        doc("assistant", "a", spec),
        doc("assistant", "b", assistant_spec("B.")),
        doc(
            "squad",
            "desk",
            {
                "members": [
                    {"assistantId": "a"},
                    {
                        "assistantId": "b",
                        "assistantOverrides": {
                            "firstMessage": "Billing desk.",
                            "variableValues": {"team": "billing", "tier": "gold"},
                        },
                    },
                ]
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    # The dashboard sets undeclared siblings at each depth.
    a = live(sandbox, "assistant", ids["assistant/a"])
    ssp = a["startSpeakingPlan"]
    dashboard_patch(
        sandbox,
        "assistant",
        ids["assistant/a"],
        {
            "startSpeakingPlan": {
                **ssp,
                "smartEndpointingEnabled": False,
                "transcriptionEndpointingPlan": {
                    **ssp["transcriptionEndpointingPlan"],
                    "onNumberSeconds": 0.8,
                },
            }
        },
    )
    squad = live(sandbox, "squad", ids["squad/desk"])
    squad["members"][1]["assistantOverrides"]["voicemailMessage"] = "Call back later."
    squad["members"][1]["assistantOverrides"]["variableValues"]["region"] = "eu"
    dashboard_patch(sandbox, "squad", ids["squad/desk"], {"members": squad["members"]})
    clean(run, proj)

    del proj.spec("assistant/a")["startSpeakingPlan"]["transcriptionEndpointingPlan"]["onPunctuationSeconds"]
    del proj.spec("squad/desk")["members"][1]["assistantOverrides"]["variableValues"]["tier"]
    proj.save()
    changes = {
        c["address"]: [(f["path"], f["after"]) for f in c["fields"]] for c in plan_json(run, proj)["changes"]
    }
    assert changes == {
        "assistant/a": [("startSpeakingPlan.transcriptionEndpointingPlan.onPunctuationSeconds", None)],
        "squad/desk": [("members[1].assistantOverrides.variableValues.tier", None)],
    }
    sandbox.clear_requests()
    apply(run, proj)
    bodies = {r["path"]: r["body"] for r in writes(sandbox, succeeded=True)}
    assert sorted(bodies) == sorted([f"/assistant/{ids['assistant/a']}", f"/squad/{ids['squad/desk']}"])
    assert sorted(bodies[f"/assistant/{ids['assistant/a']}"]) == ["startSpeakingPlan"]
    assert sorted(bodies[f"/squad/{ids['squad/desk']}"]) == ["members"]
    sent = bodies[f"/assistant/{ids['assistant/a']}"]["startSpeakingPlan"]["transcriptionEndpointingPlan"]
    assert "onPunctuationSeconds" not in sent and sent["onNumberSeconds"] == 0.8
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["startSpeakingPlan"]["smartEndpointingEnabled"] is False
    assert a["startSpeakingPlan"]["waitSeconds"] == 0.6
    # The removed value is gone: the server put back its own default (0.1), not the 0.2 we had.
    assert a["startSpeakingPlan"]["transcriptionEndpointingPlan"] == {
        "onPunctuationSeconds": 0.1,
        "onNoPunctuationSeconds": 1.2,
        "onNumberSeconds": 0.8,
    }
    overrides = live(sandbox, "squad", ids["squad/desk"])["members"][1]["assistantOverrides"]
    assert overrides["variableValues"] == {"team": "billing", "region": "eu"}
    assert (
        overrides["voicemailMessage"] == "Call back later." and overrides["firstMessage"] == "Billing desk."
    )
    clean(run, proj)


def test_ignored_dashboard_edit_survives_a_sibling_write(proj, run, sandbox):
    proj.put(
        doc("tool", "t1", function_tool("t1")),
        doc("tool", "t2", function_tool("t2")),
        doc(
            "assistant",
            "a",
            assistant_spec(tools=["t1"]),
            lifecycle={"ignoreChanges": ["voice.voiceId", "model.toolIds[]"]},
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["voice"]["voiceId"] == "burt" and a["model"]["toolIds"] == [ids["tool/t1"]]  # created with them
    dashboard_patch(
        sandbox,
        "assistant",
        ids["assistant/a"],
        {
            "voice": {**a["voice"], "voiceId": "dashboard-voice"},
            "model": {**a["model"], "toolIds": [ids["tool/t1"], ids["tool/t2"]]},
        },
    )
    sandbox.clear_requests()
    clean(run, proj)
    # The manifest changes a sibling in each object (and the ignored value too: still ignored).
    spec = proj.spec("assistant/a")
    spec["voice"]["stability"] = 0.9
    spec["voice"]["voiceId"] = "manifest-voice"
    spec["model"]["model"] = "gpt-4.1"
    proj.save()
    changes = plan_json(run, proj)["changes"]
    assert [f["path"] for c in changes for f in c["fields"]] == ["model.model", "voice.stability"]
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert sorted(patch["body"]) == ["model", "voice"]
    assert patch["body"]["voice"]["voiceId"] == "dashboard-voice"
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["voice"]["voiceId"] == "dashboard-voice" and a["voice"]["stability"] == 0.9
    assert a["model"]["toolIds"] == [ids["tool/t1"], ids["tool/t2"]] and a["model"]["model"] == "gpt-4.1"
    clean(run, proj)


# ---------------------------------------------------------------------------------------------
# Secrets


def test_secrets_never_reach_an_output_or_a_file(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write_file(root, "resources/secrets.yaml", SECRETS)
    secrets = {"HOOK_TOKEN": HOOK_TOKEN, "OPENAI_KEY": OPENAI_KEY, "PIN": PIN}
    outputs: list[Result] = []

    def step(*args: Any, code: int = 0, env: dict[str, str] | None = None) -> Result:
        result = run(*args, code=code, env={**secrets, **(env or {})})
        outputs.append(result)
        return result

    planfile = root / "plans" / "first.plan"  # inside the project: it is scanned with the rest
    step("validate", root)
    step("plan", root)
    step("plan", root, "--format", "markdown")
    created = json.loads(step("plan", root, "--format", "json").stdout)
    sensitive = {
        (c["address"], f["path"]) for c in created["changes"] for f in c["fields"] if f.get("sensitive")
    }
    assert sensitive == {
        ("tool/hook", "server.headers.Authorization"),
        ("assistant/agent", "credentials[0].apiKey"),
        ("assistant/agent", "voicemailMessage"),
    }
    step("plan", root, "--out", planfile, "--debug")
    step("apply", planfile)
    # The secrets did reach Vapi: the scan below is meaningful.
    sent = json.dumps([r["body"] for r in writes(sandbox)])
    assert HOOK_TOKEN in sent and OPENAI_KEY in sent and PIN in sent
    assert "No changes." in step("plan", root, "--detailed-exitcode").stdout
    step("state", "show", "tool/hook", root)
    step("state", "show", "assistant/agent", root)
    step("plan", root, "--refresh-only", "--format", "json")

    # Only the environment variable changes: the hash in state tells the plan.
    rotated = {"HOOK_TOKEN": HOOK_TOKEN_2}
    text = step("plan", root, "--detailed-exitcode", code=2, env=rotated).stdout
    assert "~ tool/hook" in text and "server.headers.Authorization: (sensitive) -> (sensitive)" in text
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in text
    doc = json.loads(step("plan", root, "--format", "json", env=rotated).stdout)
    assert [(c["address"], c["action"], c["fields"]) for c in doc["changes"]] == [
        (
            "tool/hook",
            "update",
            [
                {
                    "path": "server.headers.Authorization",
                    "before": "(sensitive)",
                    "after": "(sensitive)",
                    "sensitive": True,
                }
            ],
        )
    ]
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(doc)
    assert "-(sensitive)\n+(sensitive)" in step("plan", root, "--format", "markdown", env=rotated).stdout
    # A saved plan made with the old secret is stale once the secret changes.
    sandbox.clear_requests()
    stale = step("apply", planfile, code=1, env=rotated)
    assert "manifest changed: tool/hook" in stale.stderr and writes(sandbox) == []
    step("plan", root, "--out", root / "plans" / "rotate.plan", env=rotated)
    step("apply", root / "plans" / "rotate.plan", env=rotated)
    (patch,) = writes(sandbox)
    assert patch["method"] == "PATCH" and patch["body"]["server"]["headers"] == {
        "Authorization": f"Bearer {HOOK_TOKEN_2}"
    }
    step("plan", root, "--detailed-exitcode", env=rotated)
    step("apply", root, "--auto-approve", "--debug", env=rotated)

    forbidden = [HOOK_TOKEN, HOOK_TOKEN_2, OPENAI_KEY, PIN, KEY]
    for result in outputs:
        for value in forbidden:
            assert value not in result.stdout and value not in result.stderr, (
                value,
                result.stdout,
                result.stderr,
            )
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(".vapiops" in p.parts for p in files) and planfile in files
    for path in files:
        data = path.read_bytes()
        for value in forbidden:
            assert value.encode() not in data, (value, path)
    assert "(sensitive)" in planfile.read_text()


SECRET_1 = "tok-3f9a1c-first-value"


SECRET_2 = "tok-77b2e0-second-value"


def test_secret_rotation_is_one_patch_and_never_shown(proj, run, sandbox, monkeypatch):
    monkeypatch.setenv("HOOKS_TOKEN", SECRET_1)
    spec = assistant_spec("Hi.")
    spec["server"] = {
        "url": "https://hooks.example.com/vapi",
        "headers": {"Authorization": "Bearer ${{ secret('HOOKS_TOKEN') }}", "X-Env": "dev"},
    }
    tool = function_tool("lookup")
    tool["server"] = {
        "url": "https://hooks.example.com/tools",
        "headers": {"X-Api-Key": "${{ secret('HOOKS_TOKEN') }}"},
    }
    proj.put(doc("assistant", "a", spec), doc("tool", "lookup", tool))
    outputs = [apply(run, proj)]
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["server"]["headers"]["Authorization"] == f"Bearer {SECRET_1}"  # the sandbox returns it as is
    # The dashboard adds a header of its own: undeclared, so it must survive the rotation.
    dashboard_patch(
        sandbox,
        "assistant",
        ids["assistant/a"],
        {"server": {**a["server"], "headers": {**a["server"]["headers"], "X-Trace": "on"}}},
    )
    sandbox.clear_requests()
    clean(run, proj)  # unchanged secret: no diff

    monkeypatch.setenv("HOOKS_TOKEN", SECRET_2)
    for fmt in ("text", "json", "markdown"):
        outputs.append(run("plan", proj.root, "--format", fmt, "--detailed-exitcode", code=2))
    changes = json.loads(outputs[-2].stdout)["changes"]
    assert {c["address"]: c["fields"] for c in changes} == {
        "assistant/a": [
            {
                "path": "server.headers.Authorization",
                "before": "(sensitive)",
                "after": "(sensitive)",
                "sensitive": True,
            }
        ],
        "tool/lookup": [
            {
                "path": "server.headers.X-Api-Key",
                "before": "(sensitive)",
                "after": "(sensitive)",
                "sensitive": True,
            }
        ],
    }
    outputs.append(apply(run, proj))
    bodies = {r["path"]: r["body"] for r in writes(sandbox, succeeded=True)}
    assert sorted(bodies) == sorted([f"/assistant/{ids['assistant/a']}", f"/tool/{ids['tool/lookup']}"])
    assert bodies[f"/assistant/{ids['assistant/a']}"] == {
        "server": {
            "url": "https://hooks.example.com/vapi",
            "timeoutSeconds": 20,
            "staticIpAddressesEnabled": False,
            "headers": {"Authorization": f"Bearer {SECRET_2}", "X-Env": "dev", "X-Trace": "on"},
        }
    }
    assert sorted(bodies[f"/tool/{ids['tool/lookup']}"]) == ["server"]
    clean(run, proj)

    # Removing a secret header sends the object without it; the value is still never shown.
    del proj.spec("tool/lookup")["server"]["headers"]
    proj.save()
    outputs.append(run("plan", proj.root, "--detailed-exitcode", code=2))
    sandbox.clear_requests()
    outputs.append(apply(run, proj))
    (patch,) = writes(sandbox, succeeded=True)
    assert "headers" not in patch["body"]["server"]
    assert "headers" not in live(sandbox, "tool", ids["tool/lookup"])["server"]
    clean(run, proj)
    state_text = "".join(p.read_text() for p in (proj.root / ".vapiops/state").iterdir() if p.is_file())
    for text in [state_text] + [o.stdout + o.stderr for o in outputs]:
        assert SECRET_1 not in text and SECRET_2 not in text
    assert "(sensitive)" in outputs[1].stdout


# ---------------------------------------------------------------------------------------------
# --refresh-only and --target


def test_refresh_only_reports_drift_and_writes_nothing(base_project, run, sandbox):
    run("apply", base_project, "--auto-approve")
    run("plan", base_project, "--refresh-only", "--detailed-exitcode", code=0)
    ids = state_ids(base_project)
    with sandbox_client(sandbox, KEY) as c:
        c.patch(
            f"/assistant/{ids['assistant/support']}", json={"firstMessage": "Edited live"}
        ).raise_for_status()
        c.patch(
            f"/assistant/{ids['assistant/sales']}", json={"voicemailMessage": "undeclared"}
        ).raise_for_status()
    # A manifest edit is not drift: --refresh-only does not show it.
    edit(base_project / "resources/base.yaml", "Look up an order.", "Look up an order by number.")
    sandbox.clear_requests()
    text = run("plan", base_project, "--refresh-only", "--detailed-exitcode", code=2).stdout
    assert 'firstMessage: "Hi, support here." -> "Edited live"' in text
    assert "tool/lookup" not in text and "assistant/sales" not in text
    doc = json.loads(run("plan", base_project, "--refresh-only", "--format", "json").stdout)
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(doc)
    assert doc["refresh_only"] is True and doc["changes"] == []  # drift is never a change to make
    assert [(c["address"], c["action"], c["fields"]) for c in doc["drift"]] == [
        (
            "assistant/support",
            "update",
            [{"path": "firstMessage", "before": "Hi, support here.", "after": "Edited live"}],
        )
    ]
    assert writes(sandbox) == []
    # A deleted object is drift too.
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/tool/{ids['tool/hangup']}").raise_for_status()
    sandbox.clear_requests()
    doc = json.loads(
        run("plan", base_project, "--refresh-only", "--format", "json", "--detailed-exitcode", code=2).stdout
    )
    assert {c["address"]: c["action"] for c in doc["drift"]} == {
        "assistant/support": "update",
        "tool/hangup": "delete",
    }
    markdown = run("plan", base_project, "--refresh-only", "--format", "markdown").stdout
    assert "**Drift:** 1 changed, 1 deleted outside vapiops." in markdown and "to change" not in markdown
    assert writes(sandbox) == []


def test_target_plans_and_applies_only_the_resource_and_its_dependencies(base_project, run, sandbox):
    doc = json.loads(run("plan", base_project, "--target", "assistant/support", "--format", "json").stdout)
    assert sorted(c["address"] for c in doc["changes"]) == ["assistant/support", "tool/lookup"]
    run("apply", base_project, "--target", "assistant/support", "--auto-approve")
    assert sorted((r["method"], r["path"]) for r in writes(sandbox)) == [
        ("POST", "/assistant"),
        ("POST", "/tool"),
    ]
    assert sorted(state_ids(base_project)) == ["assistant/support", "tool/lookup"]
    ids = state_ids(base_project)
    with sandbox_client(sandbox, KEY) as c:
        live = c.get(f"/assistant/{ids['assistant/support']}").json()
    assert live["model"]["toolIds"] == [ids["tool/lookup"]]
    rest = json.loads(run("plan", base_project, "--format", "json").stdout)
    assert sorted(c["address"] for c in rest["changes"]) == ["assistant/sales", "tool/hangup"]

    run("apply", base_project, "--auto-approve")
    base = base_project / "resources/base.yaml"
    edit(base, "Hi, support here.", "Support, hi.")
    edit(base, "Hi, sales here.", "Sales, hi.")
    edit(base, "Look up an order.", "Look up an order by number.")
    ids = state_ids(base_project)
    sandbox.clear_requests()
    doc = json.loads(run("plan", base_project, "--target", "assistant/sales", "--format", "json").stdout)
    assert [c["address"] for c in doc["changes"]] == ["assistant/sales"]  # its tool is unchanged
    planfile = base_project.parent / "sales.plan"
    run("plan", base_project, "--target", "assistant/sales", "--target", "tool/lookup", "--out", planfile)
    run("apply", planfile)  # the targets travel with the plan file
    assert sorted(r["path"] for r in writes(sandbox)) == sorted(
        [f"/assistant/{ids['assistant/sales']}", f"/tool/{ids['tool/lookup']}"]
    )
    left = json.loads(run("plan", base_project, "--format", "json").stdout)
    assert [c["address"] for c in left["changes"]] == ["assistant/support"]


# ---------------------------------------------------------------------------------------------
# Listing


def test_more_objects_than_one_page_are_all_seen(proj, run, sandbox):
    # A listing that stopped at the first page would read as "deleted outside vapiops": duplicates.
    for i in range(120):
        proj.docs[f"tool/t{i:03d}"] = doc(
            "tool",
            f"t{i:03d}",
            {"type": "endCall", "messages": [{"type": "request-start", "content": f"Bye {i}."}]},
        )
    for i in range(105):
        proj.docs[f"structured-output/o{i:03d}"] = doc(
            "structured-output", f"o{i:03d}", {"schema": {"type": "number"}}
        )
    proj.save()
    apply(run, proj, "--parallelism", "8")
    sandbox.clear_requests()
    clean(run, proj)
    apply(run, proj)
    assert writes(sandbox, succeeded=True) == []
    assert len(sandbox.objects("tool", KEY)) == 120 and len(sandbox.objects("structured-output", KEY)) == 105
