"""Planner test support: an in-memory Vapi-like org (`Org`) and `run`, which carries out a plan's steps.

`Org` assigns IDs, fills server defaults, turns ints into floats, reorders ID arrays and replaces
top-level keys on PATCH, like the real API. `run` carries out a plan's steps in order the way apply
does (names resolved to IDs at call time, state recorded from plan.applied), so "plan after apply is
empty" can be tested end to end. Used by test_planner.py and test_planning_cases.py.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from vapiops import paths
from vapiops.kinds import KINDS
from vapiops.model import Desired, Lifecycle, Phase, Plan, address
from vapiops.planning.graph import is_uuid
from vapiops.planning.planner import make_plan
from vapiops.state import ResourceState, State


def fresh_state(**kw: Any) -> State:
    return State("dev", lineage="lin", **kw)


def D(
    kind: str,
    name: str,
    spec: dict,
    *,
    prevent: bool = False,
    ignore: tuple[str, ...] = (),
    sensitive: frozenset = frozenset(),
) -> Desired:
    return Desired(kind, name, copy.deepcopy(spec), Lifecycle(prevent, ignore), sensitive, where="f.yaml:1")


_ids = itertools.count(1)


def new_id() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def _floats(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def server_defaults(kind: str, obj: dict) -> dict:
    """What a Vapi-like server adds to what it was sent (realistic defaults, extra nested keys)."""
    obj = copy.deepcopy(obj)
    if kind == "assistant":
        obj.setdefault("firstMessageMode", "assistant-speaks-first")
        obj.setdefault("backgroundSound", "off")
        obj.setdefault("isServerUrlSecretSet", False)
        obj.setdefault("transcriber", {"provider": "deepgram", "model": "nova-2", "language": "en"})
        if "model" in obj:
            obj["model"] = _floats(obj["model"])
            obj["model"].setdefault("temperature", 0.7)
            obj["model"].setdefault("maxTokens", 250.0)
            for m in obj["model"].get("messages", []):
                m.setdefault("name", None)
            if "toolIds" in obj["model"]:
                obj["model"]["toolIds"] = sorted(obj["model"]["toolIds"])
        if "voice" in obj:
            obj["voice"].setdefault("provider", "vapi")
            obj["voice"].setdefault("chunkPlan", {"enabled": True, "minCharacters": 30})
        else:
            obj["voice"] = {"provider": "vapi", "voiceId": "Elliot"}
        if "silenceTimeoutSeconds" in obj:
            obj["silenceTimeoutSeconds"] = float(obj["silenceTimeoutSeconds"])
    elif kind == "tool":
        obj.setdefault("async", False)
        if "server" in obj:
            obj["server"].setdefault("timeoutSeconds", 20)
        for dest in obj.get("destinations", []):
            dest.setdefault("contextEngineeringPlan", {"type": "all"})
    elif kind == "squad":
        for member in obj.get("members", []):
            member.setdefault("assistantOverrides", {})
    elif kind == "structured-output":
        obj.setdefault("description", "")
        obj.setdefault("workflowIds", [])
        obj["assistantIds"] = sorted(obj.get("assistantIds", []))
        obj.setdefault("schema", {}).setdefault("additionalProperties", False)
    elif kind == "scorecard":
        obj.setdefault("description", None)
        for metric in obj.get("metrics", []):
            metric.setdefault("id", new_id())
            metric["conditions"] = _floats(metric.get("conditions", []))
    return obj


class Org:
    """A Vapi-like org in memory: create, PATCH (top-level replace), delete; list as raw objects."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        self.calls: list[tuple[str, str, str, dict]] = []
        self.clock = itertools.count()

    def live(self) -> dict[str, list[dict]]:
        return {k: copy.deepcopy(list(objs.values())) for k, objs in self.objects.items()}

    def create(self, kind: str, body: dict) -> str:
        obj_id = new_id()
        obj = server_defaults(kind, body)
        obj.update(
            id=obj_id,
            orgId="org-1",
            createdAt=f"2024-01-01T00:00:{next(self.clock):02d}.000Z",
            updatedAt="2024-01-01T00:00:00.000Z",
        )
        self.objects[kind][obj_id] = obj
        self.calls.append(("POST", kind, obj_id, body))
        return obj_id

    def patch(self, kind: str, obj_id: str, body: dict) -> None:
        obj = self.objects[kind][obj_id]
        assert not set(body) & KINDS[kind].read_only, body
        for k, v in body.items():
            if v is None:
                obj.pop(k, None)
            else:
                obj[k] = copy.deepcopy(v)
        self.objects[kind][obj_id] = server_defaults(kind, obj)
        self.calls.append(("PATCH", kind, obj_id, body))

    def delete(self, kind: str, obj_id: str) -> None:
        del self.objects[kind][obj_id]
        self.calls.append(("DELETE", kind, obj_id, {}))


def run(plan: Plan, state: State, org: Org) -> None:
    """Carry out the plan as apply does: in order, names -> IDs at call time, state per step."""
    ids = {a: r.id for a, r in state.resources.items()}
    done: set[str] = set()
    for addr in plan.forget:
        state.resources.pop(addr)
    for step in plan.steps:
        assert set(step.after) <= done, f"{step.key} runs before {set(step.after) - done}"
        body = copy.deepcopy(step.body)
        for ref in KINDS[step.kind].references:
            for path, value in list(paths.find(body, ref.pattern)):
                if isinstance(value, str) and not is_uuid(value):
                    paths.set_(body, path, ids[address(ref.target, value)])  # KeyError = ordering bug
        kind_name, name = step.address.split("/", 1)
        if step.phase is Phase.CREATE:
            obj_id = org.create(step.kind, body)
            ids[step.address] = obj_id
        elif step.phase.method == "PATCH":
            obj_id = step.id or ids[step.address]
            org.patch(step.kind, obj_id, body)
        else:
            org.delete(step.kind, step.id)
            if state.resources.get(step.address) and state.resources[step.address].id == step.id:
                del state.resources[step.address]
            done.add(step.key)
            continue
        if step.phase.records:
            state.resources[step.address] = ResourceState(
                kind_name,
                name,
                obj_id,
                copy.deepcopy(plan.applied[step.address]),
                dict(plan.secrets.get(step.address, {})),
            )
        done.add(step.key)


def plan_for(desired: list[Desired], state: State, org: Org, **kw) -> Plan:
    return make_plan("dev", desired, state, org.live(), **kw)


def converge(desired: list[Desired], state: State | None = None, org: Org | None = None) -> tuple[State, Org]:
    state = state or fresh_state()
    org = org or Org()
    run(plan_for(desired, state, org), state, org)
    return state, org


def step_keys(plan: Plan) -> list[str]:
    return [s.key for s in plan.steps]


def change(plan: Plan, addr: str):
    (found,) = [c for c in [*plan.changes, *plan.drift] if c.address == addr]
    return found


def step(plan: Plan, key: str):
    (found,) = [s for s in plan.steps if s.key == key]
    return found
