"""The planner's rules as data: each tests/planning_cases/*.json is one input and the plan it must give.

For every case: make_plan (with the real Update DTO filter) must give exactly the expected changes
(address, action, reason, fields where given), the ordered step keys, the given step bodies and
warnings; then the steps are carried out on an in-memory org built from the case's live objects, and
a second plan against the resulting org and state must be empty (no perpetual diff). The format is
described in tests/planning_cases/README.md; the rules in docs/plan.md.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from planning_support import Org, run

from vapiops import paths, vapispec
from vapiops.kinds import KINDS, Kind
from vapiops.model import Action, Desired, Lifecycle, Phase, Plan
from vapiops.planning.planner import make_plan
from vapiops.state import ResourceState, State

CASES = sorted((Path(__file__).parent / "planning_cases").glob("*.json"))
CASE_KEYS = {"doc", "desired", "state", "live", "targets", "expect"}
EXPECT_KEYS = {"changes", "steps", "bodies", "after", "applied", "warnings", "forget", "hidden"}


def update_filter(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    return vapispec.filter_to_update(kind, body)


def desired_of(case: dict[str, Any]) -> list[Desired]:
    out = []
    for d in case["desired"]:
        lifecycle = d.get("lifecycle", {})
        out.append(
            Desired(
                d["kind"],
                d["name"],
                copy.deepcopy(d["spec"]),
                Lifecycle(lifecycle.get("preventDestroy", False), tuple(lifecycle.get("ignoreChanges", ()))),
                frozenset(paths.parse_path(p) for p in d.get("sensitive", ())),
                where=f"{d['kind']}/{d['name']}.yaml:1",
            )
        )
    return out


def state_of(case: dict[str, Any]) -> State:
    return State(
        "dev",
        lineage="lin",
        resources={
            addr: ResourceState(
                e["kind"], e["name"], e["id"], copy.deepcopy(e["applied"]), dict(e.get("secrets", {}))
            )
            for addr, e in case["state"].items()
        },
    )


def org_of(case: dict[str, Any]) -> Org:
    org = Org()
    for kind, objs in case["live"].items():
        for obj in objs:
            org.objects[kind][obj["id"]] = copy.deepcopy(obj)
    return org


def plan(case: dict[str, Any], state: State, live: dict[str, list[dict]]) -> Plan:
    return make_plan(
        "dev", desired_of(case), state, live, targets=case.get("targets", ()), update_filter=update_filter
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert set(case) <= CASE_KEYS and {"doc", "desired", "state", "live", "expect"} <= set(case), set(case)
    expect = case["expect"]
    assert set(expect) <= EXPECT_KEYS and {"changes", "steps"} <= set(expect), set(expect)
    assert set(case["live"]) <= set(KINDS)
    live = copy.deepcopy(case["live"])
    state = state_of(case)
    got = plan(case, state, live)

    assert [(c.address, c.action.value) for c in got.changes] == [
        (c["address"], c["action"]) for c in expect["changes"]
    ]
    for c, want in zip(got.changes, expect["changes"], strict=True):
        assert c.reason_text == want.get("reason"), c.address
        # A create has no ID yet; anything else acts on the ID state has for the address.
        assert c.id == (None if c.action is Action.CREATE else case["state"][c.address]["id"]), c.address
        if "fields" in want:
            assert [f.to_dict() for f in c.fields] == want["fields"], c.address
    assert got.drift == []
    assert [s.key for s in got.steps] == expect["steps"]
    by_key = {s.key: s for s in got.steps}
    for key, body in expect.get("bodies", {}).items():
        assert by_key[key].body == body, key
    for key, after in expect.get("after", {}).items():
        assert by_key[key].after == after, key
    for s in got.steps:  # a POST or a link has no ID to name; every other call names the state's ID
        assert s.id == (None if s.phase in (Phase.CREATE, Phase.LINK) else case["state"][s.address]["id"]), (
            s.key
        )
    for addr, applied in expect.get("applied", {}).items():
        assert got.applied[addr] == applied, addr
    assert len(got.warnings) == len(expect.get("warnings", [])), got.warnings
    for text, warning in zip(expect.get("warnings", []), got.warnings, strict=True):
        assert text in warning
    assert got.forget == expect.get("forget", [])
    shown = json.dumps([got.to_dict(), got.applied, got.secrets], default=str)
    for secret in expect.get("hidden", []):
        assert secret not in shown, secret
    assert live == case["live"], "make_plan changed its input"

    org = org_of(case)
    run(got, state, org)
    again = plan(case, state, org.live())
    assert again.changes == [] and again.steps == [] and again.warnings == [] and again.forget == []


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_references_found_by_validation_give_the_same_plan(path: Path) -> None:
    """Validation hands the planner the references it found (Desired.references), sparing a walk:
    every case must plan exactly as when the planner finds them itself."""
    case = json.loads(path.read_text(encoding="utf-8"))
    found = desired_of(case)
    for d in found:
        d.references = KINDS[d.kind].find_references(d.spec)
    given = make_plan(
        "dev",
        found,
        state_of(case),
        copy.deepcopy(case["live"]),
        targets=case.get("targets", ()),
        update_filter=update_filter,
    )
    assert repr(given) == repr(plan(case, state_of(case), copy.deepcopy(case["live"])))
