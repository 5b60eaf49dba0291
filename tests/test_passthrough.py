"""Pass-through on writes (docs/plan.md): a PATCH sends back what the live API returned, minus the
read-only fields, and the plan names what goes out that Vapi's published spec does not know."""

from __future__ import annotations

import pytest
from planning_support import D, step

from vapiops import vapispec
from vapiops.planning.drift import drift_report
from vapiops.planning.planner import make_plan
from vapiops.planning.readback import kept_as_sent, read_back
from vapiops.planning.secrets import is_mask
from vapiops.state import ResourceState, State

LIVE_ID = "3f1c7d2e-0000-4000-8000-000000000001"


def planned(live_obj: dict, desired_spec: dict):
    state = State("dev")
    state.resources["assistant/a"] = ResourceState(
        kind="assistant", name="a", id=LIVE_ID, applied={k: desired_spec[k] for k in ("name",)}
    )
    live = {k: [] for k in ("assistant", "tool", "squad", "structured-output", "scorecard")}
    live["assistant"] = [{"id": LIVE_ID, "orgId": "o", "createdAt": "2026-01-01T00:00:00Z", **live_obj}]
    return make_plan(
        "dev",
        [D("assistant", "a", desired_spec)],
        state,
        live,
        update_filter=vapispec.filter_to_update,
        unknown_fields=vapispec.unknown_paths,
    )


def test_a_nested_dashboard_setting_the_spec_does_not_know_is_sent_back_and_named():
    live = {
        "name": "a",
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "temperature": 0.5,
            "serviceTier": "priority",  # in the catalogue: kept, no warning
            "zzzDashboardOnly": "x",  # known nowhere: kept, and named
        },
        "silenceTimeoutSeconds": 30,
        "firstMessage": "Hi",
    }
    plan = planned(
        live, {"name": "a", "model": {"provider": "openai", "model": "gpt-4o", "temperature": 0.2}}
    )
    body = step(plan, "update:assistant/a").body
    assert body == {
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "temperature": 0.2,
            "serviceTier": "priority",
            "zzzDashboardOnly": "x",
        }
    }
    assert plan.warnings == [
        "assistant/a: model.zzzDashboardOnly sent back as the API returned it: not in Vapi's published spec"
    ]


def test_a_declared_unknown_field_is_the_manifests_own_and_not_warned_about():
    live = {"name": "a", "silenceTimeoutSeconds": 30, "messagePlan": {"idleMessages": ["hello?"], "x": 1}}
    desired = {"name": "a", "silenceTimeoutSeconds": 20, "messagePlan": {"idleMessages": ["still there?"]}}
    plan = planned(live, desired)
    assert step(plan, "update:assistant/a").body == {
        "messagePlan": {"idleMessages": ["still there?"], "x": 1},
        "silenceTimeoutSeconds": 20,
    }
    # The outermost unknown key is the manifest's (declared), so what lies inside it is too.
    assert plan.warnings == []


def test_nothing_unknown_sent_means_no_warning():
    live = {"name": "a", "firstMessage": "Hi", "silenceTimeoutSeconds": 30}
    plan = planned(live, {"name": "a", "firstMessage": "Hello"})
    assert step(plan, "update:assistant/a").body == {"firstMessage": "Hello"}
    assert plan.warnings == []


# -- masks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, mask",
    [
        ("****", True),
        ("*", True),
        ("********", True),
        ("sk-1****", True),
        ("Bearer abc****", True),
        ("", False),
        ("secret", False),
        ("a*b", False),
        ("****abc", False),
        (None, False),
        (4, False),
        (["****"], False),
    ],
)
def test_is_mask(value, mask):
    assert is_mask(value) is mask


def test_a_masked_live_header_is_never_sent_back_and_the_update_is_blocked():
    live = {"name": "a", "server": {"url": "https://old.example.com", "headers": {"X-Dash": "****"}}}
    plan = planned(live, {"name": "a", "server": {"url": "https://new.example.com"}})
    assert step(plan, "update:assistant/a").body == {
        "server": {"url": "https://new.example.com", "headers": {}}
    }
    (blocked,) = plan.unpreservable
    assert blocked.startswith("assistant/a: server.headers.X-Dash is a secret the API returns masked")
    assert blocked in plan.warnings


def test_a_declared_secret_over_a_masked_live_value_sends_the_declared_value():
    live = {"name": "a", "server": {"url": "https://old.example.com", "headers": {"Authorization": "****"}}}
    desired = {
        "name": "a",
        "server": {"url": "https://new.example.com", "headers": {"Authorization": "Bearer t"}},
    }
    plan = planned(live, desired)
    assert step(plan, "update:assistant/a").body == {"server": desired["server"]}
    assert plan.unpreservable == []


def test_a_masked_live_value_is_not_a_change_nor_drift():
    live = {"name": "a", "credentialKey": "sk-1****"}
    plan = planned(live, {"name": "a", "credentialKey": "sk-1234"})
    assert plan.changes == []
    state = State("dev")
    state.resources["assistant/a"] = ResourceState(
        kind="assistant", name="a", id=LIVE_ID, applied={"name": "a", "credentialKey": "sk-1234"}
    )
    live_all = {k: [] for k in ("assistant", "tool", "squad", "structured-output", "scorecard")}
    live_all["assistant"] = [{"id": LIVE_ID, **live}]
    assert drift_report("dev", state, live_all).drift == []


# -- schemaOverride: only when the schema's top-level type changes -------------------------------


@pytest.mark.parametrize(
    "new_schema, query",
    [
        ({"type": "object", "properties": {"ok": {"type": "boolean"}, "why": {"type": "string"}}}, {}),
        ({"type": "string"}, {"schemaOverride": "true"}),
    ],
)
def test_schema_override_is_sent_only_when_the_schema_type_changes(new_schema, query):
    so_id = "3f1c7d2e-0000-4000-8000-000000000002"
    old = {"name": "o", "type": "ai", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}
    state = State("dev")
    state.resources["structured-output/o"] = ResourceState(
        kind="structured-output", name="o", id=so_id, applied={"name": "o"}
    )
    live = {k: [] for k in ("assistant", "tool", "squad", "structured-output", "scorecard")}
    live["structured-output"] = [{"id": so_id, **old}]
    desired = [D("structured-output", "o", {**old, "schema": new_schema})]
    plan = make_plan("dev", desired, state, live, update_filter=vapispec.filter_to_update)
    assert step(plan, "update:structured-output/o").query == query


# -- read-back -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent, returned, declared, expected",
    [
        ({"a": 1}, {"a": 1.0, "filled": True}, None, []),  # numbers by value; server defaults ignored
        ({"a": 1}, {"a": 2}, None, ["x/y: a: sent 1, but the API returned 2"]),
        ({"a": True}, {"a": 1}, None, ["x/y: a: sent true, but the API returned 1"]),  # true != 1
        ({"a": [1, {"b": None}]}, {"a": [1, {}]}, None, []),  # null sent, absent returned: the same
        ({"m": {"b": "x"}}, {"m": {}}, None, ['x/y: m.b: sent "x", but the API dropped it']),
        ({"ids": ["p", "q"]}, {"ids": ["q", "p"]}, None, []),  # ID arrays as sets
        ({"m": {"b": 1, "live": 2}}, {"m": {"b": 1}}, {"m": {"b": 1}}, []),  # undeclared pass-through
        ({"h": {"apiKey": "sk-9"}}, {"h": {"apiKey": "sk-9****"}}, None, []),  # a mask is kept
        (
            {"h": {"apiKey": "sk-9"}},
            {"h": {"apiKey": "other"}},
            None,
            ["x/y: h.apiKey: sent (sensitive), but the API returned (sensitive)"],
        ),
    ],
)
def test_read_back_reports_declared_values_the_api_changed_or_dropped(sent, returned, declared, expected):
    found = read_back("x/y", sent, returned, declared=declared, set_paths=["ids"], sensitive=[])
    assert [str(r) for r in found] == expected


@pytest.mark.parametrize(
    "sent, returned, kept",
    [
        ({"a": "x", "l": [1, {"b": None}]}, {"a": "x", "l": [1, {"b": None}], "extra": 1}, True),
        ({"a": 1}, {"a": 1.0}, False),  # equal by value, yet left to the ownership rules
        ({"a": True}, {"a": 1}, False),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, False),
        ({"l": [1, 2]}, {"l": [2, 1]}, False),
        ({"m": {"b": 1}}, {"m": {}}, False),
        ({"m": {"b": 1}}, {"m": None}, False),
    ],
)
def test_kept_as_sent_is_exact_and_never_hides_a_difference(sent, returned, kept):
    assert kept_as_sent(sent, returned) is kept
    if kept:
        assert read_back("x/y", sent, returned, declared=None) == []
