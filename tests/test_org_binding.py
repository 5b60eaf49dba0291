"""State bound to one org (a key of another org is refused before any write), the re-create share, and --sandbox's own state."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_error, live_ids, sandbox_cli, sandbox_client, state_ids, state_of, writes

from vapiops.errors import UnsafePlan
from vapiops.flows.planning import check_safety
from vapiops.model import Action, Change, Plan, Reason
from vapiops.state import ResourceState, State


def _state(count: int) -> State:
    return State(
        "default",
        resources={f"tool/t{i}": ResourceState("tool", f"t{i}", f"id-{i}", {}) for i in range(count)},
    )


def _recreates(count: int, reason: Reason | None = Reason.DELETED_OUTSIDE) -> Plan:
    return Plan(
        "default",
        changes=[
            Change(f"tool/t{i}", "tool", f"t{i}", Action.CREATE, None, reason=reason) for i in range(count)
        ],
    )


@pytest.mark.parametrize(
    ("managed", "recreated", "reason", "refused"),
    [
        (10, 3, Reason.DELETED_OUTSIDE, False),
        (10, 4, Reason.DELETED_OUTSIDE, True),
        (9, 9, Reason.DELETED_OUTSIDE, False),  # fewer than 10 managed: no share rule
        (22, 22, Reason.DELETED_OUTSIDE, True),  # a key of an empty org: everything looks deleted
        (20, 7, Reason.DELETED_OUTSIDE, True),
        (20, 20, None, False),  # plain creates of new manifests are not re-creates
    ],
)
def test_re_creating_a_large_share_as_deleted_outside_needs_force(managed, recreated, reason, refused):
    plan, state = _recreates(recreated, reason), _state(managed)
    if refused:
        with pytest.raises(UnsafePlan, match=f"re-create {recreated} of {managed} managed resources"):
            check_safety(plan, state, force=False)
    else:
        check_safety(plan, state, force=False)
    check_safety(plan, state, force=True)


@pytest.mark.e2e
def test_a_key_of_another_org_is_refused_before_any_write(support_project, run, sandbox):
    run("apply", support_project, "--auto-approve")
    ours = state_of(support_project).load()
    assert ours.org_id is not None  # learned from the orgId of the objects it created
    with sandbox_client(sandbox, "key-of-another-org") as other_org:  # an org with objects of its own
        other_org.post("/tool", json={"type": "endCall"}).raise_for_status()
    before = state_of(support_project).path.read_bytes()
    sandbox.clear_requests()
    result = sandbox_cli(sandbox, "key-of-another-org")("apply", support_project, "--auto-approve", code=1)
    err = assert_one_error(result, str(state_of(support_project).path), f"was made in org {ours.org_id}")
    assert "nothing was sent" in err
    assert writes(sandbox) == [] and state_of(support_project).path.read_bytes() == before


@pytest.mark.e2e
def test_a_key_of_an_empty_other_org_stops_at_the_first_create(support_project, run, sandbox):
    run("apply", support_project, "--auto-approve")
    state_file = state_of(support_project).path
    data = json.loads(state_file.read_text())
    data["resources"] = {}  # a state that would create everything (fewer than 10: no share rule)
    state_file.write_text(json.dumps(data))
    sandbox.clear_requests()
    result = sandbox_cli(sandbox, "key-of-an-empty-org")(
        "apply", support_project, "--auto-approve", "--parallelism", "1", code=1
    )
    assert f"this environment's state was made in org {data['org_id']}; stopped" in result.stderr
    assert len(writes(sandbox)) == 1  # the POST that revealed the org, and nothing after it


@pytest.mark.e2e
def test_sandbox_apply_keeps_its_own_state_and_leaves_the_real_one_untouched(support_project, run, sandbox):
    run("apply", support_project, "--auto-approve")  # "real": the sandbox server stands in for Vapi
    real = state_of(support_project).path
    before, real_ids = real.read_bytes(), state_ids(support_project)
    run("apply", support_project, "--auto-approve", "--sandbox")
    assert real.read_bytes() == before
    sandboxed = support_project / ".vapiops" / "sandbox" / "state" / "default.json"
    sandbox_ids = {a: e["id"] for a, e in json.loads(sandboxed.read_text())["resources"].items()}
    assert sorted(sandbox_ids) == sorted(real_ids) and not set(sandbox_ids.values()) & set(real_ids.values())
    assert "No changes" in run("plan", support_project).stdout  # the real org still matches its state
    assert set(real_ids.values()) >= live_ids(sandbox, "tool")
