"""Apply (vapiops/flows): safety checks, replace and delete order, cycles, retries, failures, crashes, Ctrl-C.

Mostly end to end, marked e2e: the real CLI against the sandbox on 127.0.0.1, faults injected there
or in VapiClient. check_safety is also tested on plain values (unit tests). After every apply that
succeeds the plan must be clean and the writes sent exactly the ones needed.
"""

from __future__ import annotations

import _thread
import json

import jsonschema
import pytest
from conftest import (
    KEY,
    PLAN_SCHEMA,
    Project,
    apply,
    assistant_spec,
    calls,
    clean,
    doc,
    edit,
    error_lines,
    function_tool,
    live,
    live_ids,
    plan_json,
    sandbox_client,
    state_ids,
    state_of,
    write_file,
    write_files,
    writes,
)

from vapiops.client import VapiClient
from vapiops.errors import UnsafePlan
from vapiops.flows.planning import check_safety
from vapiops.kinds import KINDS
from vapiops.model import Action, Change, Plan
from vapiops.state import ResourceState, State

# ---------------------------------------------------------------------------------------------
# Safety: the bulk-delete limit and lifecycle.preventDestroy


def _assistants(count: int) -> str:
    return "---\n".join(
        f"kind: assistant\nname: a{i:02d}\nspec:\n  firstMessage: Hello {i}.\n" for i in range(count)
    )


@pytest.mark.e2e
def test_bulk_delete_needs_force(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write_file(root, "resources/keep.yaml", _assistants(8))
    for i in range(8, 12):
        write_file(
            root,
            f"resources/extra/a{i:02d}.yaml",
            f"kind: assistant\nname: a{i:02d}\nspec:\n  firstMessage: Hi {i}.\n",
        )
    run("apply", root, "--auto-approve")
    assert len(state_ids(root)) == 12
    for i in range(8, 12):  # 4 of 12: 33% > 30%
        (root / f"resources/extra/a{i:02d}.yaml").unlink()
    sandbox.clear_requests()
    result = run("apply", root, "--auto-approve", code=1)
    assert (
        "Error: the plan would delete or replace 4 of 12 managed resources (more than 30%)" in result.stderr
    )
    assert "--force" in result.stderr and "Traceback" not in result.stderr
    assert writes(sandbox) == []
    # A saved plan is held to the same rule: review does not replace --force.
    planfile = tmp_path / "bulk.plan"
    run("plan", root, "--out", planfile)
    assert "4 of 12" in run("apply", planfile, code=1).stderr
    assert writes(sandbox) == []
    run("apply", root, "--auto-approve", "--force")
    assert sorted(r["method"] for r in writes(sandbox)) == ["DELETE"] * 4
    assert len(state_ids(root)) == 8


@pytest.mark.e2e
def test_deleting_up_to_the_limit_needs_no_force(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write_file(root, "resources/keep.yaml", _assistants(7))
    write_file(root, "resources/gone.yaml", _assistants(10).split("---\n", 7)[7])  # a07..a09
    run("apply", root, "--auto-approve")
    (root / "resources/gone.yaml").unlink()  # 3 of 10: exactly 30%
    sandbox.clear_requests()
    run("apply", root, "--auto-approve")
    assert [r["method"] for r in writes(sandbox)] == ["DELETE"] * 3


def _state(count: int) -> State:
    return State(
        "default",
        resources={f"tool/t{i}": ResourceState("tool", f"t{i}", f"id-{i}", {}) for i in range(count)},
    )


def _deletes(count: int, action: Action = Action.DELETE) -> Plan:
    return Plan(
        "default", changes=[Change(f"tool/t{i}", "tool", f"t{i}", action, f"id-{i}") for i in range(count)]
    )


@pytest.mark.parametrize(
    ("managed", "destroyed", "refused"),
    [
        (10, 3, False),
        (10, 4, True),
        (9, 9, False),
        (20, 6, False),
        (20, 7, True),
        (100, 31, True),
    ],
)
@pytest.mark.parametrize("action", [Action.DELETE, Action.REPLACE])
def test_check_safety_threshold(managed, destroyed, refused, action):
    plan, state = _deletes(destroyed, action), _state(managed)
    if refused:
        with pytest.raises(UnsafePlan, match=f"{destroyed} of {managed} managed"):
            check_safety(plan, state, force=False)
    else:
        check_safety(plan, state, force=False)
    check_safety(plan, state, force=True)  # --force always passes the bulk limit


def test_check_safety_prevent_destroy_cannot_be_forced():
    plan = _deletes(1, Action.REPLACE)
    plan.protected = ["tool/t0"]
    for force in (False, True):
        with pytest.raises(UnsafePlan, match="tool/t0, which lifecycle.preventDestroy protects"):
            check_safety(plan, _state(1), force=force)


@pytest.mark.e2e
def test_prevent_destroy_refuses_a_replace_even_with_force(base_project, run, sandbox, tmp_path):
    base = base_project / "resources/base.yaml"
    edit(base, "name: hangup\nspec:\n", "name: hangup\nlifecycle:\n  preventDestroy: true\nspec:\n")
    run("apply", base_project, "--auto-approve")
    edit(base, "type: endCall", "type: dtmf")
    shown = run("plan", base_project, "--format", "json")
    actions = {c["address"]: c["action"] for c in json.loads(shown.stdout)["changes"]}
    assert actions["tool/hangup"] == "replace"
    sandbox.clear_requests()
    for extra in ((), ("--force",)):
        result = run("apply", base_project, "--auto-approve", *extra, code=1)
        (line,) = [ln for ln in error_lines(result) if ln.startswith("Error:")]
        assert "tool/hangup" in line and "preventDestroy" in line
        assert "Traceback" not in result.stderr
    planfile = tmp_path / "replace.plan"
    run("plan", base_project, "--out", planfile)
    assert "preventDestroy" in run("apply", planfile, "--force", code=1).stderr
    assert writes(sandbox) == []
    # Changing the manifest is the way through.
    edit(base, "  preventDestroy: true\n", "  preventDestroy: false\n")
    run("apply", base_project, "--auto-approve")
    assert [r["method"] for r in writes(sandbox)] == ["POST", "PATCH", "DELETE"]


@pytest.mark.e2e
def test_destroy_refuses_a_prevent_destroy_resource(base_project, run, sandbox):
    edit(
        base_project / "resources/base.yaml",
        "name: hangup\nspec:\n",
        "name: hangup\nlifecycle:\n  preventDestroy: true\nspec:\n",
    )
    run("apply", base_project, "--auto-approve")
    sandbox.clear_requests()
    result = run("destroy", base_project, "--auto-approve", code=None)
    assert writes(sandbox) == []
    assert result.exit_code == 1 and "tool/hangup" in result.stderr and "preventDestroy" in result.stderr


# ---------------------------------------------------------------------------------------------
# Replace: create, repoint every dependent, then delete


def _replace_project(proj: Project) -> None:
    proj.put(
        doc(
            "tool", "hangup", {"type": "endCall", "messages": [{"type": "request-start", "content": "Bye!"}]}
        ),
        doc("tool", "lookup", function_tool("lookup")),
        doc("assistant", "a", assistant_spec("A.", tools=["lookup", "hangup"])),
        doc(
            "assistant",
            "b",
            assistant_spec(
                "B.",
                tools=["hangup"],
                hooks=[{"on": "call.ending", "do": [{"type": "tool", "toolId": "hangup"}]}],
            ),
        ),
        doc("assistant", "c", assistant_spec("C.")),
        doc("squad", "desk", {"members": [{"assistantId": "b"}, {"assistantId": "c"}]}),
    )


@pytest.mark.e2e
@pytest.mark.parametrize("parallelism", ["1", "4"])
def test_replace_creates_repoints_every_dependent_then_deletes(proj, run, sandbox, parallelism):
    _replace_project(proj)
    apply(run, proj)
    old = proj.ids()
    spec = proj.spec("tool/hangup")
    spec["type"] = "dtmf"
    proj.save()
    doc_ = plan_json(run, proj)
    actions = {c["address"]: (c["action"], c["reason"]) for c in doc_["changes"]}
    assert actions == {
        "tool/hangup": ("replace", "type cannot change in place"),
        "assistant/a": ("update", "repoint to replaced tool/hangup"),
        "assistant/b": ("update", "repoint to replaced tool/hangup"),
    }
    sandbox.clear_requests()
    apply(run, proj, "--parallelism", parallelism)
    new = proj.ids()
    got = calls(sandbox)
    assert got[0] == ("POST", "/tool") and got[-1] == ("DELETE", f"/tool/{old['tool/hangup']}")
    assert sorted(got[1:-1]) == sorted(
        [("PATCH", f"/assistant/{old['assistant/a']}"), ("PATCH", f"/assistant/{old['assistant/b']}")]
    )
    bodies = {r["path"]: r["body"] for r in writes(sandbox, succeeded=True)}
    assert sorted(bodies[f"/assistant/{old['assistant/a']}"]) == ["model"]
    assert sorted(bodies[f"/assistant/{old['assistant/b']}"]) == ["hooks", "model"]
    assert new["tool/hangup"] != old["tool/hangup"]
    assert {k: v for k, v in new.items() if k != "tool/hangup"} == {
        k: v for k, v in old.items() if k != "tool/hangup"
    }
    a = live(sandbox, "assistant", old["assistant/a"])
    assert sorted(a["model"]["toolIds"]) == sorted([old["tool/lookup"], new["tool/hangup"]])
    b = live(sandbox, "assistant", old["assistant/b"])
    assert b["model"]["toolIds"] == [new["tool/hangup"]]
    assert b["hooks"][0]["do"][0]["toolId"] == new["tool/hangup"]
    assert b["model"]["temperature"] == 0.5  # the server-filled model settings were sent back
    assert sorted(t["type"] for t in sandbox.objects("tool", KEY)) == ["dtmf", "function"]
    clean(run, proj)


@pytest.mark.e2e
def test_a_squad_members_transient_assistant_is_repointed_on_replace(proj, run, sandbox):
    proj.put(
        doc("tool", "hangup", {"type": "endCall"}),
        doc(
            "squad",
            "desk",
            {
                "members": [
                    {
                        "assistant": {
                            "name": "inline",
                            "model": {"provider": "openai", "model": "gpt-4o", "toolIds": ["hangup"]},
                        }
                    }
                ]
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    assert live(sandbox, "squad", ids["squad/desk"])["members"][0]["assistant"]["model"]["toolIds"] == [
        ids["tool/hangup"]
    ]
    proj.spec("tool/hangup")["type"] = "dtmf"
    proj.save()
    apply(run, proj)
    new = proj.ids()["tool/hangup"]
    assert live(sandbox, "squad", ids["squad/desk"])["members"][0]["assistant"]["model"]["toolIds"] == [new]
    clean(run, proj)


# ---------------------------------------------------------------------------------------------
# Deletes and reference cycles


@pytest.mark.e2e
def test_deleting_a_referenced_assistant_patches_every_dependent_first(proj, run, sandbox):
    proj.put(
        doc("assistant", "front", assistant_spec("Front.", tools=["route"])),
        doc("assistant", "billing", assistant_spec("Billing.")),
        doc("assistant", "sales", assistant_spec("Sales.")),
        doc(
            "tool",
            "route",
            {
                "type": "handoff",
                "destinations": [
                    {"type": "assistant", "assistantId": "billing", "description": "Billing."},
                    {"type": "assistant", "assistantId": "sales", "description": "Sales."},
                ],
            },
        ),
        doc(
            "squad",
            "desk",
            {"members": [{"assistantId": "front"}, {"assistantId": "billing"}, {"assistantId": "sales"}]},
        ),
        doc(
            "structured-output",
            "outcome",
            {"schema": {"type": "boolean"}, "assistantIds": ["front", "billing", "sales"]},
        ),
        doc(
            "scorecard",
            "card",
            {
                "metrics": [
                    {
                        "structuredOutputId": "outcome",
                        "conditions": [
                            {"type": "comparator", "comparator": "=", "value": True, "points": 100}
                        ],
                    }
                ],
                "assistantIds": ["billing"],
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    proj.drop("assistant/billing")
    proj.spec("tool/route")["destinations"].pop(0)
    proj.spec("squad/desk")["members"].pop(1)
    proj.spec("structured-output/outcome")["assistantIds"].remove("billing")
    proj.spec("scorecard/card")["assistantIds"] = []
    proj.save()
    sandbox.clear_requests()
    apply(run, proj, "--parallelism", "4")
    got = calls(sandbox)
    assert got[-1] == ("DELETE", f"/assistant/{ids['assistant/billing']}")
    assert sorted(got[:-1]) == sorted(
        [
            ("PATCH", f"/observability/scorecard/{ids['scorecard/card']}"),
            ("PATCH", f"/squad/{ids['squad/desk']}"),
            ("PATCH", f"/structured-output/{ids['structured-output/outcome']}"),
            ("PATCH", f"/tool/{ids['tool/route']}"),
        ]
    )
    assert "assistant/billing" not in proj.ids()
    gone = ids["assistant/billing"]
    for kind in ("tool", "squad", "structured-output", "scorecard"):
        assert gone not in json.dumps(sandbox.objects(kind, KEY)), kind
    route = live(sandbox, "tool", ids["tool/route"])
    assert [d["assistantId"] for d in route["destinations"]] == [ids["assistant/sales"]]
    clean(run, proj)


@pytest.mark.e2e
def test_reference_cycles_apply_and_plan_clean(proj, run, sandbox):
    # a -> handoff tool t -> b -> structured output s -> a (four nodes), and
    # a -> scorecard sc -> s -> a (three nodes): one strongly connected component.
    proj.put(
        doc("assistant", "a", assistant_spec("A.", tools=["t"], artifactPlan={"scorecardIds": ["sc"]})),
        doc(
            "tool",
            "t",
            {
                "type": "handoff",
                "destinations": [{"type": "assistant", "assistantId": "b", "description": "To B."}],
            },
        ),
        doc("assistant", "b", assistant_spec("B.", artifactPlan={"structuredOutputIds": ["s"]})),
        doc("structured-output", "s", {"schema": {"type": "boolean"}, "assistantIds": ["a"]}),
        doc(
            "scorecard",
            "sc",
            {
                "metrics": [
                    {
                        "structuredOutputId": "s",
                        "conditions": [
                            {"type": "comparator", "comparator": "=", "value": True, "points": 100}
                        ],
                    }
                ]
            },
        ),
    )
    apply(run, proj)
    ids = proj.ids()
    assert sorted(p for m, p in calls(sandbox) if m == "POST") == sorted(
        ["/assistant", "/assistant", "/tool", "/structured-output", "/observability/scorecard"]
    )
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["model"]["toolIds"] == [ids["tool/t"]] and a["artifactPlan"]["scorecardIds"] == [
        ids["scorecard/sc"]
    ]
    assert live(sandbox, "tool", ids["tool/t"])["destinations"][0]["assistantId"] == ids["assistant/b"]
    b = live(sandbox, "assistant", ids["assistant/b"])
    assert b["artifactPlan"]["structuredOutputIds"] == [ids["structured-output/s"]]
    assert live(sandbox, "structured-output", ids["structured-output/s"])["assistantIds"] == [
        ids["assistant/a"]
    ]
    sc = live(sandbox, "scorecard", ids["scorecard/sc"])
    assert sc["metrics"][0]["structuredOutputId"] == ids["structured-output/s"]
    sandbox.clear_requests()
    clean(run, proj)
    # An edit inside the cycle is one plain PATCH.
    proj.spec("assistant/b")["firstMessage"] = "B here."
    proj.save()
    apply(run, proj)
    assert [(r["method"], sorted(r["body"])) for r in writes(sandbox, succeeded=True)] == [
        ("PATCH", ["firstMessage"])
    ]
    clean(run, proj)
    sandbox.clear_requests()
    run("destroy", proj.root, "--auto-approve")
    assert sorted(m for m, _ in calls(sandbox)) == ["DELETE"] * 5
    assert all(sandbox.objects(k, KEY) == [] for k in KINDS)


# ---------------------------------------------------------------------------------------------
# Retries never duplicate


def _desk(proj: Project) -> None:
    proj.put(
        doc("tool", "lookup", function_tool("lookup")),
        doc("tool", "hangup", {"type": "endCall"}),
        doc("assistant", "support", assistant_spec("Support.", tools=["lookup", "hangup", "route"])),
        doc("assistant", "billing", assistant_spec("Billing.")),
        doc(
            "tool",
            "route",
            {
                "type": "handoff",
                "destinations": [{"type": "assistant", "assistantId": "billing", "description": "Billing."}],
            },
        ),
        doc("squad", "desk", {"members": [{"assistantId": "support"}, {"assistantId": "billing"}]}),
        doc("structured-output", "outcome", {"schema": {"type": "boolean"}, "assistantIds": ["support"]}),
    )


def _live_ids(sandbox) -> set[str]:
    return {o["id"] for k in KINDS for o in sandbox.objects(k, KEY)}


@pytest.mark.e2e
@pytest.mark.parametrize("parallelism", ["1", "4"])
def test_retries_never_duplicate_and_plan_clean(proj, run, sandbox, parallelism):
    _desk(proj)
    # Listing: a 429 with Retry-After and a 503 without (backoff). Creates: a 502 after the object
    # was made (must be found, not posted again), a 503 and a 429 before anything happened.
    sandbox.inject("GET", "/assistant", 429, retry_after=0.05)
    sandbox.inject("GET", "/tool", 503)
    sandbox.inject("POST", "/tool", 502, after_effect=True)
    sandbox.inject("POST", "/assistant", 503, retry_after=0)
    sandbox.inject("POST", "/squad", 429, retry_after=0)
    sandbox.inject("POST", "/structured-output", 502, after_effect=True, retry_after=0)
    apply(run, proj, "--parallelism", parallelism)
    ids = proj.ids()
    assert len(ids) == 7 and set(ids.values()) == _live_ids(sandbox)  # one object per manifest
    posts: dict[str, list[int]] = {}
    for r in sandbox.requests:
        if r["method"] == "POST":
            posts.setdefault(r["path"], []).append(r["status"])
    # A POST that failed before acting was sent again; one that acted (502) was found by listing.
    assert {path: sorted(statuses) for path, statuses in posts.items()} == {
        "/tool": [201, 201, 502],
        "/assistant": [201, 201, 503],
        "/squad": [201, 429],
        "/structured-output": [502],
    }
    clean(run, proj)

    # Updates and deletes under 503s and 429s, and a DELETE whose answer is lost after it acted.
    proj.spec("assistant/support")["model"]["toolIds"] = ["lookup", "route"]
    proj.spec("assistant/support")["firstMessage"] = "Support here."
    proj.spec("assistant/billing")["firstMessage"] = "Billing here."
    proj.spec("squad/desk")["membersOverrides"] = {"firstMessage": "Desk."}
    proj.drop("tool/hangup")
    sandbox.clear_requests()
    sandbox.inject("GET", "/squad", 503, retry_after=0)
    sandbox.inject("PATCH", "/assistant", 503, times=2, retry_after=0)
    sandbox.inject("PATCH", "/assistant", 429, retry_after=0.05)
    sandbox.inject("PATCH", "/squad", 502, after_effect=True, retry_after=0)  # acted: repeating is safe
    sandbox.inject("DELETE", "/tool", 502, after_effect=True, retry_after=0)
    apply(run, proj, "--parallelism", parallelism)
    done = [(r["method"], r["path"]) for r in sandbox.requests if r["method"] != "GET" and r["status"] < 300]
    assert sorted(done) == sorted(
        [
            ("PATCH", f"/assistant/{ids['assistant/support']}"),
            ("PATCH", f"/assistant/{ids['assistant/billing']}"),
            ("PATCH", f"/squad/{ids['squad/desk']}"),
        ]
    )
    deletes = [r["status"] for r in sandbox.requests if r["method"] == "DELETE"]
    assert deletes == [502, 404]  # acted, answer lost; the retry finds it gone: success
    assert "tool/hangup" not in proj.ids() and len(_live_ids(sandbox)) == 6
    assert live(sandbox, "assistant", ids["assistant/billing"])["firstMessage"] == "Billing here."
    clean(run, proj)


# ---------------------------------------------------------------------------------------------
# Objects deleted in the dashboard are re-created and their dependents repointed


@pytest.mark.e2e
def test_object_deleted_in_dashboard_is_recreated_and_dependents_repointed(proj, run, sandbox):
    _desk(proj)
    proj.put(
        doc(
            "scorecard",
            "card",
            {
                "metrics": [
                    {
                        "structuredOutputId": "outcome",
                        "conditions": [
                            {"type": "comparator", "comparator": "=", "value": True, "points": 100}
                        ],
                    }
                ],
                "assistantIds": ["billing"],
            },
        )
    )
    apply(run, proj)
    old = proj.ids()
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/assistant/{old['assistant/billing']}").raise_for_status()
        c.delete(f"/tool/{old['tool/lookup']}").raise_for_status()
    doc_ = plan_json(run, proj)
    actions = {c["address"]: (c["action"], c["reason"]) for c in doc_["changes"]}
    assert actions == {
        "assistant/billing": ("create", "deleted outside vapiops"),
        "tool/lookup": ("create", "deleted outside vapiops"),
        "assistant/support": ("update", "repoint to re-created tool/lookup"),
        "tool/route": ("update", "repoint to re-created assistant/billing"),
        "squad/desk": ("update", "repoint to re-created assistant/billing"),
        "scorecard/card": ("update", "repoint to re-created assistant/billing"),
    }
    sandbox.clear_requests()
    apply(run, proj)
    new = proj.ids()
    assert sorted(calls(sandbox)) == sorted(
        [
            ("POST", "/assistant"),
            ("POST", "/tool"),
            ("PATCH", f"/assistant/{old['assistant/support']}"),
            ("PATCH", f"/tool/{old['tool/route']}"),
            ("PATCH", f"/squad/{old['squad/desk']}"),
            ("PATCH", f"/observability/scorecard/{old['scorecard/card']}"),
        ]
    )
    got = calls(sandbox)
    assert got.index(("POST", "/tool")) < got.index(("PATCH", f"/assistant/{old['assistant/support']}"))
    assert got.index(("POST", "/assistant")) < got.index(("PATCH", f"/squad/{old['squad/desk']}"))
    for addr in ("assistant/billing", "tool/lookup"):
        assert new[addr] != old[addr]
    text = json.dumps([sandbox.objects(k, KEY) for k in KINDS])
    assert old["assistant/billing"] not in text and old["tool/lookup"] not in text
    assert new["assistant/billing"] in json.dumps(live(sandbox, "squad", old["squad/desk"]))
    clean(run, proj)


@pytest.mark.e2e
def test_both_ends_of_a_cycle_deleted_in_dashboard_are_recreated_and_linked(proj, run, sandbox):
    proj.put(
        doc("assistant", "a", assistant_spec("A.", tools=["t"], artifactPlan={"structuredOutputIds": ["o"]})),
        doc("tool", "t", {"type": "handoff", "destinations": [{"type": "assistant", "assistantId": "a"}]}),
        doc("structured-output", "o", {"schema": {"type": "boolean"}, "assistantIds": ["a"]}),
        doc("squad", "s", {"members": [{"assistantId": "a"}]}),
    )
    apply(run, proj)
    old = proj.ids()
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/assistant/{old['assistant/a']}").raise_for_status()
        c.delete(f"/tool/{old['tool/t']}").raise_for_status()
    sandbox.clear_requests()
    apply(run, proj)
    new = proj.ids()
    got = calls(sandbox)
    assert sorted(got) == sorted(
        [
            ("POST", "/assistant"),
            ("POST", "/tool"),
            ("PATCH", f"/assistant/{new['assistant/a']}"),
            ("PATCH", f"/squad/{old['squad/s']}"),
            ("PATCH", f"/structured-output/{old['structured-output/o']}"),
        ]
    )
    assert got[0] == ("POST", "/assistant")  # the handoff destination needs the assistant first
    a = live(sandbox, "assistant", new["assistant/a"])
    assert a["model"]["toolIds"] == [new["tool/t"]]
    assert a["artifactPlan"]["structuredOutputIds"] == [old["structured-output/o"]]
    assert live(sandbox, "tool", new["tool/t"])["destinations"][0]["assistantId"] == new["assistant/a"]
    assert live(sandbox, "structured-output", old["structured-output/o"])["assistantIds"] == [
        new["assistant/a"]
    ]
    assert len(sandbox.objects("assistant", KEY)) == 1 and len(sandbox.objects("tool", KEY)) == 1
    clean(run, proj)


# ---------------------------------------------------------------------------------------------
# Failures: what succeeded is kept, nothing that failed is recorded, the next apply carries on


@pytest.mark.e2e
def test_a_400_on_apply_keeps_what_succeeded_and_records_nothing_that_failed(support_project, run, sandbox):
    # allow_fields admits a field offline that this API (the sandbox, without allow_fields) rejects.
    write_files(support_project, {"vapiops.yaml": "allow_fields:\n  assistant: [zzzFutureSetting]\n"})
    path = support_project / "resources/assistant.yaml"
    path.write_text(path.read_text().replace("spec:\n", "spec:\n  zzzFutureSetting: true\n"))
    run("validate", support_project)
    result = run("apply", support_project, "--auto-approve", code=1)
    assert result.stderr.count("Error:") == 1 and "Traceback" not in result.stderr
    failed = [
        line for line in result.stderr.splitlines() if "failed:" in line and "assistant/support" in line
    ]
    assert failed and all(
        "POST /assistant failed with 400: property zzzFutureSetting should not exist" in line
        for line in failed
    ), result.stderr
    assert "run apply again" in result.stderr
    json.loads(state_of(support_project).path.read_text())  # a valid snapshot, not only a journal
    state = state_of(support_project).load()
    assert sorted(state.resources) == ["tool/hangup", "tool/lookup"]
    assert {e.id for e in state.resources.values()} == live_ids(sandbox, "tool")
    assert live_ids(sandbox, "assistant") == set()


@pytest.mark.e2e
def test_a_field_validate_let_through_and_the_api_rejects_is_located(support_project, run, sandbox):
    # Not in the spec, the catalogue nor allow_fields, and no misspelling of a known field: validate
    # warns and sends it as written; the API (the sandbox) rejects it, and the error says where it is.
    path = support_project / "resources/assistant.yaml"
    path.write_text(path.read_text().replace("spec:\n", "spec:\n  zzzFutureSetting: true\n", 1))
    line = path.read_text().splitlines().index("  zzzFutureSetting: true") + 1
    assert "zzzFutureSetting" in run("validate", support_project).stderr
    result = run("apply", support_project, "--auto-approve", code=1)
    failed = [
        row
        for row in result.stderr.splitlines()
        if row.strip().startswith("failed: create:assistant/support")
    ]
    assert failed and all(
        "property zzzFutureSetting should not exist" in row
        and f"zzzFutureSetting is written at resources/assistant.yaml:{line}" in row
        for row in failed
    ), result.stderr


@pytest.mark.e2e
def test_a_refused_create_leaves_no_intent(support_project, run, sandbox):
    sandbox.inject("POST", "/tool", 400, times=1)
    run("apply", support_project, "--auto-approve", "--parallelism", "1", code=1)
    assert state_of(support_project).load().intents == {}


def _die_after_post(monkeypatch, path: str) -> None:
    """The process dies right after this POST reached Vapi: the object exists, nothing recorded it."""
    from vapiops.client import VapiClient

    real = VapiClient.create

    def create(self, kind, body, **kwargs):
        obj = real(self, kind, body, **kwargs)
        if kind.path == path:
            raise ConnectionAbortedError("killed right after the POST")
        return obj

    monkeypatch.setattr(VapiClient, "create", create)


def _tool_and_assistant(proj: Project, run) -> dict[str, str]:
    proj.put(doc("tool", "t", {"type": "endCall"}), doc("assistant", "a", assistant_spec("A.", tools=["t"])))
    apply(run, proj)
    return proj.ids()


def _tool_to_replace(proj: Project, run) -> dict[str, str]:
    """_tool_and_assistant, then tool/t changes type: the next apply replaces it. Returns the ids before."""
    old = _tool_and_assistant(proj, run)
    proj.spec("tool/t")["type"] = "dtmf"
    proj.save()
    return old


@pytest.mark.e2e
def test_crash_after_a_replacements_post_adopts_it_and_still_deletes_the_old_copy(
    proj, run, sandbox, monkeypatch
):
    old = _tool_to_replace(proj, run)
    with monkeypatch.context() as patched:
        _die_after_post(patched, "/tool")
        run("apply", proj.root, "--auto-approve", code=1)
    (new_tool,) = [t["id"] for t in sandbox.objects("tool", KEY) if t["type"] == "dtmf"]
    result = run("plan", proj.root, "--format", "json", code=0)
    assert "tool/t: adopted" in result.stderr
    jsonschema.validate(json.loads(result.stdout), PLAN_SCHEMA)
    changes = {c["address"]: (c["action"], c["id"]) for c in json.loads(result.stdout)["changes"]}
    assert changes == {
        "assistant/a": ("update", old["assistant/a"]),
        f"tool/t.replaced-{old['tool/t']}": ("delete", old["tool/t"]),
    }
    sandbox.clear_requests()
    apply(run, proj)
    assert calls(sandbox) == [
        ("PATCH", f"/assistant/{old['assistant/a']}"),
        ("DELETE", f"/tool/{old['tool/t']}"),
    ]
    assert [t["id"] for t in sandbox.objects("tool", KEY)] == [new_tool] == [proj.ids()["tool/t"]]
    assert live(sandbox, "assistant", old["assistant/a"])["model"]["toolIds"] == [new_tool]
    clean(run, proj)


@pytest.mark.e2e
def test_crash_after_a_recreates_post_adopts_it(proj, run, sandbox, monkeypatch):
    old = _tool_and_assistant(proj, run)
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/tool/{old['tool/t']}").raise_for_status()
    with monkeypatch.context() as patched:
        _die_after_post(patched, "/tool")
        run("apply", proj.root, "--auto-approve", code=1)
    sandbox.clear_requests()
    apply(run, proj)
    assert calls(sandbox) == [("PATCH", f"/assistant/{old['assistant/a']}")]  # no second POST
    (tool,) = sandbox.objects("tool", KEY)
    assert proj.ids()["tool/t"] == tool["id"]
    assert live(sandbox, "assistant", old["assistant/a"])["model"]["toolIds"] == [tool["id"]]
    clean(run, proj)


@pytest.mark.e2e
def test_a_replaced_copy_whose_delete_failed_is_deleted_by_the_next_apply(proj, run, sandbox):
    old = _tool_to_replace(proj, run)
    sandbox.inject("DELETE", "/tool", 400)
    run("apply", proj.root, "--auto-approve", code=1)
    assert len(sandbox.objects("tool", KEY)) == 2
    sandbox.clear_requests()
    apply(run, proj)  # carries on where it stopped
    assert calls(sandbox) == [("DELETE", f"/tool/{old['tool/t']}")]
    assert [t["type"] for t in sandbox.objects("tool", KEY)] == ["dtmf"]
    assert sorted(proj.ids()) == ["assistant/a", "tool/t"]
    clean(run, proj)


@pytest.mark.e2e
def test_a_replacement_the_api_refuses_leaves_the_old_object_in_place(proj, run, sandbox):
    old = _tool_to_replace(proj, run)
    sandbox.inject("POST", "/tool", 400)
    run("apply", proj.root, "--auto-approve", code=1)
    assert proj.ids() == old
    # Changing one's mind after the refusal is no change at all: no create, no delete.
    proj.spec("tool/t")["type"] = "endCall"
    proj.save()
    sandbox.clear_requests()
    clean(run, proj)
    apply(run, proj)
    assert writes(sandbox, succeeded=True) == []
    assert [t["id"] for t in sandbox.objects("tool", KEY)] == [old["tool/t"]]


# ---------------------------------------------------------------------------------------------
# Interrupted apply: a clear message, state valid and holding what was done


@pytest.mark.e2e
def test_ctrl_c_during_apply_keeps_what_was_done(support_project, run, sandbox, monkeypatch):
    real_create = VapiClient.create
    calls: list[str] = []

    def create_then_ctrl_c(self, kind, body, **kwargs):
        obj = real_create(self, kind, body, **kwargs)
        calls.append(obj["id"])
        if len(calls) == 1:
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
        return obj

    monkeypatch.setattr(VapiClient, "create", create_then_ctrl_c)
    result = run("apply", support_project, "--auto-approve", "--parallelism", "1", code=130)
    assert "interrupted" in result.stderr and "recorded in state" in result.stderr
    assert "Traceback" not in result.stderr
    store = state_of(support_project)
    json.loads(store.path.read_text())
    state = store.load()
    assert [e.id for e in state.resources.values()] == calls == sorted(live_ids(sandbox, "tool"))
    assert not store.file_lock.holder_path.exists()
    monkeypatch.setattr(VapiClient, "create", real_create)
    sandbox.clear_requests()
    run("apply", support_project, "--auto-approve")  # carries on: nothing created twice
    assert len([r for r in sandbox.requests if r["method"] == "POST"]) == 2
    assert len(live_ids(sandbox, "tool")) == 2 and len(live_ids(sandbox, "assistant")) == 1


def raise_keyboard_interrupt_after_first_create(monkeypatch) -> list[str]:
    real_create = VapiClient.create
    calls: list[str] = []

    def create(self, kind, body, **kwargs):
        if calls:
            raise KeyboardInterrupt
        obj = real_create(self, kind, body, **kwargs)
        calls.append(obj["id"])
        return obj

    monkeypatch.setattr(VapiClient, "create", create)
    return calls


@pytest.mark.e2e
def test_keyboard_interrupt_in_a_create_says_interrupted_and_keeps_state_valid(
    support_project, run, sandbox, monkeypatch
):
    calls = raise_keyboard_interrupt_after_first_create(monkeypatch)
    result = run("apply", support_project, "--auto-approve", "--parallelism", "1", code=None)
    assert result.exit_code in (1, 130) and "Traceback" not in result.stderr
    assert "interrupted" in result.stderr.lower()
    store = state_of(support_project)
    json.loads(store.path.read_text())
    state = store.load()
    assert [e.id for e in state.resources.values()] == calls == sorted(live_ids(sandbox, "tool"))
    assert "assistant/support" not in state.resources and not store.file_lock.holder_path.exists()
