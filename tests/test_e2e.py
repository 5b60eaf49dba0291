"""End-to-end: the real CLI against the sandbox served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import jsonschema
import pytest
from click.testing import CliRunner

from vapiops.cli import cli

KEY = "test-key"
PLAN_SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())

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


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, {"resources/tools.yaml": TOOLS, "resources/assistants.yaml": ASSISTANTS,
                 "resources/others.yaml": OTHERS})
    return root


@pytest.fixture
def run(sandbox):
    runner = CliRunner()

    def invoke(*args: str, code: int | None = 0):
        env = {"VAPI_BASE_URL": sandbox.url, "VAPI_API_KEY": KEY, "NO_COLOR": "1"}
        result = runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        if "json" in args and result.exit_code in (0, 2):
            # Every JSON plan these tests produce is a valid document of the shipped schema.
            jsonschema.validate(json.loads(result.stdout), PLAN_SCHEMA)
        return result

    return invoke


def api(sandbox) -> httpx.Client:
    return httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {KEY}"})


def writes(sandbox) -> list[dict]:
    return [r for r in sandbox.requests if r["method"] in ("POST", "PATCH", "DELETE")]


def state_ids(root: Path) -> dict[str, str]:
    data = json.loads((root / ".vapiops/state/default.json").read_text())
    return {addr: entry["id"] for addr, entry in data["resources"].items()}


def test_apply_all_kinds_with_cycles_then_plan_is_clean(project, run, sandbox):
    run("apply", project, "--auto-approve")
    ids = state_ids(project)
    assert sorted(ids) == sorted([
        "assistant/billing", "assistant/support", "scorecard/quality", "squad/desk",
        "structured-output/call-outcome", "tool/end-call", "tool/handoff-to-billing", "tool/lookup-order",
    ])
    # References were sent as IDs, both cycles closed.
    support = api(sandbox).get(f"/assistant/{ids['assistant/support']}").json()
    assert sorted(support["model"]["toolIds"]) == sorted(
        [ids["tool/lookup-order"], ids["tool/handoff-to-billing"], ids["tool/end-call"]])
    assert support["artifactPlan"]["structuredOutputIds"] == [ids["structured-output/call-outcome"]]
    handoff = api(sandbox).get(f"/tool/{ids['tool/handoff-to-billing']}").json()
    assert handoff["destinations"][0]["assistantId"] == ids["assistant/billing"]
    outcome = api(sandbox).get(f"/structured-output/{ids['structured-output/call-outcome']}").json()
    assert sorted(outcome["assistantIds"]) == sorted([ids["assistant/support"], ids["assistant/billing"]])
    # The Liquid placeholder reached Vapi untouched.
    assert "{{ customer.number }}" in support["model"]["messages"][0]["content"]
    # Each resource created exactly once.
    posts = [r for r in sandbox.requests if r["method"] == "POST"]
    assert len(posts) == 8
    sandbox.clear_requests()
    result = run("plan", project, "--detailed-exitcode", code=0)
    assert "No changes." in result.stdout
    assert writes(sandbox) == []
    # A no-op plan reads with list calls, never one GET per resource.
    gets = [r for r in sandbox.requests if r["method"] == "GET"]
    assert all(r["path"].count("/") == 1 or r["path"] == "/observability/scorecard" for r in gets), gets
    assert len(gets) <= 10


def test_one_changed_field_sends_one_patch_with_that_key(project, run, sandbox):
    run("apply", project, "--auto-approve")
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace("Billing here.", "Billing, how can I help?"))
    sandbox.clear_requests()
    plan = run("plan", project, "--format", "json", "--detailed-exitcode", code=2)
    doc = json.loads(plan.stdout)
    assert doc["summary"] == {"add": 0, "change": 1, "destroy": 0, "replace": 0}
    assert doc["changes"][0]["fields"] == [
        {"path": "firstMessage", "before": "Billing here.", "after": "Billing, how can I help?"}]
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")
    assert [(r["method"], sorted(r["body"])) for r in writes(sandbox)] == [("PATCH", ["firstMessage"])]
    run("plan", project, "--detailed-exitcode", code=0)


def test_dashboard_edit_of_declared_field_is_drift_and_undeclared_is_not(project, run, sandbox):
    run("apply", project, "--auto-approve")
    ids = state_ids(project)
    with api(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/support']}").json()
        # Undeclared field: the dashboard sets a voicemail message and tweaks an undeclared nested one.
        model = dict(live["model"], temperature=1.3)
        c.patch(f"/assistant/{ids['assistant/support']}",
                json={"voicemailMessage": "Leave a message", "model": model}).raise_for_status()
    run("plan", project, "--detailed-exitcode", code=0)
    with api(sandbox) as c:
        c.patch(f"/assistant/{ids['assistant/support']}",
                json={"firstMessage": "Edited in the dashboard"}).raise_for_status()
    result = run("plan", project, "--format", "json", "--detailed-exitcode", code=2)
    fields = json.loads(result.stdout)["changes"][0]["fields"]
    assert fields == [{"path": "firstMessage", "before": "Edited in the dashboard",
                       "after": "Hi, this is Acme support."}]
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")
    patch = writes(sandbox)
    assert [(r["method"], sorted(r["body"])) for r in patch] == [("PATCH", ["firstMessage"])]
    with api(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/support']}").json()
    # Settings nobody declared survived.
    assert live["voicemailMessage"] == "Leave a message"
    assert live["model"]["temperature"] == 1.3


def test_nested_write_keeps_undeclared_nested_settings(project, run, sandbox):
    run("apply", project, "--auto-approve")
    ids = state_ids(project)
    with api(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/billing']}").json()
        c.patch(f"/assistant/{ids['assistant/billing']}",
                json={"model": dict(live["model"], maxTokens=400)}).raise_for_status()
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(
        text.replace("content: You handle billing questions.", "content: You handle billing and refunds."))
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")
    (patch,) = writes(sandbox)
    assert sorted(patch["body"]) == ["model"]
    assert patch["body"]["model"]["maxTokens"] == 400  # sent back whole, undeclared value kept
    with api(sandbox) as c:
        live = c.get(f"/assistant/{ids['assistant/billing']}").json()
    assert live["model"]["maxTokens"] == 400
    assert live["model"]["messages"][0]["content"] == "You handle billing and refunds."
    run("plan", project, "--detailed-exitcode", code=0)


def test_removed_field_is_removed(project, run, sandbox):
    run("apply", project, "--auto-approve")
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace('  firstMessage: "Billing here."\n', ""))
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")
    (patch,) = writes(sandbox)
    assert patch["method"] == "PATCH" and patch["body"] == {"firstMessage": None}
    run("plan", project, "--detailed-exitcode", code=0)


def test_removing_a_tool_patches_the_assistant_before_deleting_it(project, run, sandbox):
    run("apply", project, "--auto-approve")
    ids = state_ids(project)
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(tools.split("---\nkind: tool\nname: end-call")[0])
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace(", end-call]", "]"))
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")
    calls = [(r["method"], r["path"]) for r in writes(sandbox)]
    assert calls == [("PATCH", f"/assistant/{ids['assistant/support']}"), ("DELETE", f"/tool/{ids['tool/end-call']}")]
    assert "tool/end-call" not in state_ids(project)
    run("plan", project, "--detailed-exitcode", code=0)


def test_tool_type_change_is_create_repoint_delete(project, run, sandbox):
    run("apply", project, "--auto-approve")
    old = state_ids(project)
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(tools.replace(
        "name: end-call\nspec:\n  type: endCall\n",
        "name: end-call\nspec:\n  type: dtmf\n"))
    plan = run("plan", project, "--format", "json", code=0)
    doc = json.loads(plan.stdout)
    actions = {c["address"]: c["action"] for c in doc["changes"]}
    assert actions["tool/end-call"] == "replace"
    assert actions["assistant/support"] == "update"
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")
    new = state_ids(project)
    calls = [(r["method"], r["path"]) for r in writes(sandbox)]
    assert calls == [
        ("POST", "/tool"),
        ("PATCH", f"/assistant/{old['assistant/support']}"),
        ("DELETE", f"/tool/{old['tool/end-call']}"),
    ]
    assert new["tool/end-call"] != old["tool/end-call"]
    with api(sandbox) as c:
        live = c.get(f"/assistant/{old['assistant/support']}").json()
    assert new["tool/end-call"] in live["model"]["toolIds"]
    assert old["tool/end-call"] not in live["model"]["toolIds"]
    run("plan", project, "--detailed-exitcode", code=0)


def test_validation_error_is_located_and_sends_nothing(project, run, sandbox):
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace("toolIds: [lookup-order,", "toolIds: [lookup-ordr,"))
    sandbox.clear_requests()
    result = run("apply", project, "--auto-approve", code=1)
    assert "resources/assistants.yaml:" in result.stderr
    assert "lookup-ordr" in result.stderr and "did you mean 'lookup-order'" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.requests == []


def test_crash_after_post_is_adopted_not_duplicated(project, run, sandbox):
    # The server creates the object but the answer is lost (a 502 after the effect), every time:
    # the client must look for it instead of posting twice.
    sandbox.inject("POST", "/tool", 502, times=1, after_effect=True)
    run("apply", project, "--auto-approve")
    tools = api(sandbox).get("/tool").json()
    assert len(tools) == 3
    run("plan", project, "--detailed-exitcode", code=0)


def test_destroy_deletes_dependents_first(project, run, sandbox):
    run("apply", project, "--auto-approve")
    ids = {v: k for k, v in state_ids(project).items()}
    sandbox.clear_requests()
    run("destroy", project, "--auto-approve")
    order = [ids[r["path"].rsplit("/", 1)[1]] for r in writes(sandbox) if r["method"] == "DELETE"]
    assert len(order) == 8
    assert order.index("squad/desk") < order.index("assistant/support")
    assert order.index("scorecard/quality") < order.index("structured-output/call-outcome")
    assert api(sandbox).get("/assistant").json() == []
    assert state_ids(project) == {}


def test_crash_between_post_and_record_is_adopted_on_the_next_run(project, run, sandbox):
    from vapiops.state import Intent, StateStore, utc_now_iso

    run("apply", project, "--auto-approve")
    extra = {"type": "function", "function": {"name": "extra_fn", "description": "Added later."}}
    with open(project / "resources/tools.yaml", "a") as fh:
        fh.write("---\nkind: tool\nname: extra\nspec:\n  type: function\n  function:\n"
                 "    name: extra_fn\n    description: Added later.\n")
    # What a run killed right after its POST leaves behind: the intent in state, the object live.
    store = StateStore(project / ".vapiops/state/default.json", "default")
    state = store.load()
    state.intents["tool/extra"] = Intent(address="tool/extra", kind="tool", started_at=utc_now_iso(), body=extra)
    store.record(state, "tool/extra")
    created = api(sandbox).post("/tool", json=extra).json()
    sandbox.clear_requests()
    result = run("plan", project, "--detailed-exitcode", code=0)
    assert "tool/extra: adopted" in result.stderr
    assert state_ids(project)["tool/extra"] == created["id"]
    run("apply", project, "--auto-approve")
    assert [r for r in writes(sandbox)] == []
    assert len(api(sandbox).get("/tool").json()) == 4


def test_failed_call_stops_new_work_keeps_what_was_done_and_a_rerun_finishes(project, run, sandbox):
    # The first tool POST fails for good (a 400 is not retried): nothing that depends on it may start.
    sandbox.inject("POST", "/tool", 400, times=1)
    result = run("apply", project, "--auto-approve", "--parallelism", "1", code=1)
    assert "Apply failed" in result.stderr and "not started" in result.stderr
    assert "Traceback" not in result.stderr
    done = state_ids(project)
    live_ids = {o["id"] for kind in ("assistant", "tool", "squad") for o in api(sandbox).get(f"/{kind}").json()}
    assert set(done.values()) == live_ids  # state holds exactly what was created, nothing more
    assert "squad/desk" not in done
    sandbox.clear_requests()
    result = run("apply", project, "--auto-approve")
    assert "Apply complete!" in result.stderr
    # Progress: one line per call as it completes, with the time it took.
    assert any(line.endswith("s]") and "created (id " in line for line in result.stderr.splitlines())
    posts = [r for r in sandbox.requests if r["method"] == "POST"]
    assert len(posts) == 8 - len(done)  # nothing created twice
    run("plan", project, "--detailed-exitcode", code=0)


def test_state_mv_renames_without_recreating_and_rm_forgets(project, run, sandbox):
    run("apply", project, "--auto-approve")
    ids = state_ids(project)
    listing = run("state", "list", project).stdout.splitlines()
    assert f"tool/end-call\t{ids['tool/end-call']}" in listing and len(listing) == 8
    # Rename the manifest and move its state: no delete, no create.
    tools = (project / "resources/tools.yaml").read_text()
    (project / "resources/tools.yaml").write_text(tools.replace("name: end-call", "name: hang-up"))
    text = (project / "resources/assistants.yaml").read_text()
    (project / "resources/assistants.yaml").write_text(text.replace(", end-call]", ", hang-up]"))
    run("state", "mv", "tool/end-call", "tool/hang-up", project)
    sandbox.clear_requests()
    run("plan", project, "--detailed-exitcode", code=0)
    assert state_ids(project)["tool/hang-up"] == ids["tool/end-call"]
    shown = json.loads(run("state", "show", "tool/hang-up", project).stdout)
    assert shown["id"] == ids["tool/end-call"] and shown["applied"]["type"] == "endCall"
    # Forget the billing assistant: the live object stays; the next plan would create a second one.
    run("state", "rm", "assistant/billing", project)
    assert "assistant/billing" not in state_ids(project)
    assert any(a["id"] == ids["assistant/billing"] for a in api(sandbox).get("/assistant").json())
    result = run("plan", project, "--format", "json", code=0)
    doc = json.loads(result.stdout)
    assert {c["address"]: c["action"] for c in doc["changes"]}["assistant/billing"] == "create"
    assert any(f"vapiops import assistant/billing {ids['assistant/billing']}" in w for w in doc["warnings"])
    assert writes(sandbox) == []
    # Errors are one line naming the address.
    missing = run("state", "rm", "assistant/nope", project, code=1)
    assert missing.stderr.startswith("Error: assistant/nope is not in state")


def test_plan_during_an_apply_leaves_its_in_flight_intents_alone(project, run, sandbox):
    from vapiops.state import Intent, StateStore, utc_now_iso

    run("apply", project, "--auto-approve")
    extra = {"type": "function", "function": {"name": "extra_fn"}}
    store = StateStore(project / ".vapiops/state/default.json", "default")
    with store.lock(who="apply"):  # another run is applying, and has just sent this POST
        state = store.load()
        state.intents["tool/extra"] = Intent(address="tool/extra", kind="tool", started_at=utc_now_iso(),
                                             body=extra)
        store.record(state, "tool/extra")
        created = api(sandbox).post("/tool", json=extra).json()
        run("plan", project, code=0)
        assert "tool/extra" in store.load().intents  # still that run's, untouched
    # Once nobody holds the lock, a plan adopts what the intent describes.
    with open(project / "resources/tools.yaml", "a") as fh:
        fh.write("---\nkind: tool\nname: extra\nspec:\n  type: function\n  function: {name: extra_fn}\n")
    result = run("plan", project, "--detailed-exitcode", code=0)
    assert "tool/extra: adopted" in result.stderr
    assert store.load().resources["tool/extra"].id == created["id"]


def test_a_second_apply_waits_for_the_lock_or_names_its_holder(project, run, sandbox):
    import threading

    from vapiops.state import StateStore

    store = StateStore(project / ".vapiops/state/default.json", "default")
    with store.lock(who="apply"):
        refused = run("apply", project, "--auto-approve", code=1)
        assert "locked by" in refused.stderr and "apply" in refused.stderr
        assert writes(sandbox) == []
    holder = store.lock(who="apply")
    holder.__enter__()
    threading.Timer(0.5, holder.__exit__, (None, None, None)).start()
    result = run("apply", project, "--auto-approve", "--lock-timeout", "10")  # waits, then applies
    assert "Apply complete!" in result.stderr
