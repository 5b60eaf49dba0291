"""End-to-end: the real CLI against the sandbox served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import sandbox_client, state_ids, write_files, writes

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
    write_files(root, {"resources/tools.yaml": TOOLS, "resources/assistants.yaml": ASSISTANTS,
                       "resources/others.yaml": OTHERS})
    return root


def test_apply_all_kinds_with_cycles_then_plan_is_clean(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    ids = state_ids(project)
    assert sorted(ids) == sorted([
        "assistant/billing", "assistant/support", "scorecard/quality", "squad/desk",
        "structured-output/call-outcome", "tool/end-call", "tool/handoff-to-billing", "tool/lookup-order",
    ])
    # References were sent as IDs, both cycles closed.
    support = sandbox_client(sandbox).get(f"/assistant/{ids['assistant/support']}").json()
    assert sorted(support["model"]["toolIds"]) == sorted(
        [ids["tool/lookup-order"], ids["tool/handoff-to-billing"], ids["tool/end-call"]])
    assert support["artifactPlan"]["structuredOutputIds"] == [ids["structured-output/call-outcome"]]
    handoff = sandbox_client(sandbox).get(f"/tool/{ids['tool/handoff-to-billing']}").json()
    assert handoff["destinations"][0]["assistantId"] == ids["assistant/billing"]
    outcome = sandbox_client(sandbox).get(f"/structured-output/{ids['structured-output/call-outcome']}").json()
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
    assert all(r["path"].count("/") == 1 or r["path"] == "/observability/scorecard" for r in gets), gets
    assert len(gets) <= 10


def test_one_changed_field_sends_one_patch_with_that_key(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace("Billing here.", "Billing, how can I help?"))
    sandbox.clear_requests()
    plan = cli("plan", project, "--format", "json", "--detailed-exitcode", code=2)
    doc = json.loads(plan.stdout)
    assert doc["summary"] == {"add": 0, "change": 1, "destroy": 0, "replace": 0}
    assert doc["changes"][0]["fields"] == [
        {"path": "firstMessage", "before": "Billing here.", "after": "Billing, how can I help?"}]
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
        c.patch(f"/assistant/{ids['assistant/support']}",
                json={"voicemailMessage": "Leave a message", "model": model}).raise_for_status()
    cli("plan", project, "--detailed-exitcode", code=0)
    with sandbox_client(sandbox) as c:
        c.patch(f"/assistant/{ids['assistant/support']}",
                json={"firstMessage": "Edited in the dashboard"}).raise_for_status()
    result = cli("plan", project, "--format", "json", "--detailed-exitcode", code=2)
    fields = json.loads(result.stdout)["changes"][0]["fields"]
    assert fields == [{"path": "firstMessage", "before": "Edited in the dashboard",
                       "after": "Hi, this is Acme support."}]
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
        c.patch(f"/assistant/{ids['assistant/billing']}",
                json={"model": dict(live["model"], maxTokens=400)}).raise_for_status()
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(
        text.replace("content: You handle billing questions.", "content: You handle billing and refunds."))
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
    assert calls == [("PATCH", f"/assistant/{ids['assistant/support']}"), ("DELETE", f"/tool/{ids['tool/end-call']}")]
    assert "tool/end-call" not in state_ids(project)
    cli("plan", project, "--detailed-exitcode", code=0)


def test_tool_type_change_is_create_repoint_delete(project, cli, sandbox):
    cli("apply", project, "--auto-approve")
    old = state_ids(project)
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(tools.replace(
        "name: end-call\nspec:\n  type: endCall\n",
        "name: end-call\nspec:\n  type: dtmf\n"))
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
    (project / "resources/assistants.yaml").write_text(text.replace("toolIds: [lookup-order,", "toolIds: [lookup-ordr,"))
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
        fh.write("---\nkind: tool\nname: extra\nspec:\n  type: function\n  function:\n"
                 "    name: extra_fn\n    description: Added later.\n")
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
    live_ids = {o["id"] for kind in ("assistant", "tool", "squad")
                for o in sandbox_client(sandbox).get(f"/{kind}").json()}
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
        state.intents["tool/extra"] = Intent(address="tool/extra", kind="tool", started_at=now_iso(),
                                             body=extra)
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
