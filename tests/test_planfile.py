"""Saved plans (vapiops/flows/planfile.py): `plan --out` then `apply PLANFILE` applies exactly that plan.

A plan file is refused when it is stale (the manifests or the live objects changed since), made for
another environment, of an unknown version, or not a plan file at all; a refused plan sends nothing.
End to end: the real CLI against the sandbox on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    BASE,
    KEY,
    assert_one_error,
    edit,
    error_lines,
    sandbox_client,
    state_ids,
    write_file,
    writes,
)

pytestmark = pytest.mark.e2e


def test_saved_plan_applies_exactly_that_plan_without_asking(base_project, run, sandbox, tmp_path):
    planfile = tmp_path / "out" / "create.plan"
    shown = run("plan", base_project, "--out", planfile, "--format", "json")
    assert "Saved the plan" in shown.stderr
    assert json.loads(shown.stdout) == json.loads(planfile.read_text())["plan"]
    assert writes(sandbox) == []
    # CliRunner's stdin is no terminal: had apply asked for confirmation, it would have failed.
    run("apply", planfile)
    posts = sorted(r["path"] for r in writes(sandbox))
    assert posts == ["/assistant", "/assistant", "/tool", "/tool"]
    assert sorted(state_ids(base_project)) == [
        "assistant/sales",
        "assistant/support",
        "tool/hangup",
        "tool/lookup",
    ]

    edit(base_project / "resources/base.yaml", "Hi, sales here.", "Sales, hello!")
    planfile = tmp_path / "out" / "update.plan"
    run("plan", base_project, "--out", planfile)
    sandbox.clear_requests()
    applied = run("apply", planfile)
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied.stderr
    ids = state_ids(base_project)
    assert [(r["method"], r["path"], r["body"]) for r in writes(sandbox)] == [
        ("PATCH", f"/assistant/{ids['assistant/sales']}", {"firstMessage": "Sales, hello!"})
    ]
    run("plan", base_project, "--detailed-exitcode", code=0)
    # A plan file is good for one apply: what it was made from has changed since.
    sandbox.clear_requests()
    again = run("apply", planfile, code=1)
    assert "stale" in again.stderr and "assistant/sales" in again.stderr
    assert writes(sandbox) == []


def _dashboard_edit(base_project: Path, sandbox) -> str:
    ids = state_ids(base_project)
    with sandbox_client(sandbox, KEY) as c:
        c.patch(
            f"/assistant/{ids['assistant/support']}", json={"firstMessage": "Edited live"}
        ).raise_for_status()
    return "assistant/support"


def _manifest_edit(base_project: Path, sandbox) -> str:
    edit(base_project / "resources/base.yaml", "Look up an order.", "Look up an order by number.")
    return "tool/lookup"


def _new_manifest(base_project: Path, sandbox) -> str:
    write_file(base_project, "resources/late.yaml", "kind: tool\nname: late\nspec:\n  type: endCall\n")
    return "tool/late"


def _dashboard_delete(base_project: Path, sandbox) -> str:
    ids = state_ids(base_project)
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/tool/{ids['tool/hangup']}").raise_for_status()
    return "tool/hangup"


@pytest.mark.parametrize("change", [_dashboard_edit, _manifest_edit, _new_manifest, _dashboard_delete])
def test_stale_saved_plan_is_refused_and_sends_nothing(base_project, run, sandbox, tmp_path, change):
    run("apply", base_project, "--auto-approve")
    edit(base_project / "resources/base.yaml", "Hi, sales here.", "Sales, hello!")
    planfile = tmp_path / "reviewed.plan"
    run("plan", base_project, "--out", planfile)
    changed = change(base_project, sandbox)
    sandbox.clear_requests()
    result = run("apply", planfile, code=1)
    (line,) = error_lines(result)
    assert line.startswith("Error: ") and "the saved plan is stale; nothing was sent" in line
    assert changed in line
    assert "assistant/sales" not in line  # only what changed is named
    assert "Traceback" not in result.stderr
    assert writes(sandbox) == []
    assert result.stdout == ""  # nothing was shown as if it were going to run


def test_saved_plan_is_refused_for_another_environment(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write_file(
        root,
        "vapiops.yaml",
        """
        environments:
          dev: {api_key_env: VAPI_API_KEY}
          prod: {api_key_env: VAPI_API_KEY}
    """,
    )
    write_file(root, "resources/base.yaml", BASE)
    planfile = tmp_path / "dev.plan"
    run("plan", root, "--env", "dev", "--out", planfile)
    result = run("apply", planfile, "--env", "prod", code=1)
    assert "made for environment 'dev'" in result.stderr
    assert writes(sandbox) == []


def test_plan_file_of_unknown_version_is_refused(base_project, run, sandbox, tmp_path):
    bogus = tmp_path / "bogus.plan"
    bogus.write_text('{"kind": "vapiops-plan", "version": 99}')
    result = run("apply", bogus, code=1)
    assert "plan file version 99 is not supported" in result.stderr
    assert writes(sandbox) == []


def test_a_file_that_is_not_a_plan_file_is_refused(support_project, run, sandbox, tmp_path):
    for name, text in (("plan.json", '{"kind": "something-else"}'), ("garbage.plan", "not json at all")):
        path = tmp_path / name
        path.write_text(text)
        assert_one_error(
            run("apply", path, code=1), str(path), "not a vapiops plan file", "vapiops plan --out"
        )
    damaged = tmp_path / "damaged.plan"
    damaged.write_text('{"kind": "vapiops-plan", "version": 1, "project_root": 5, "plan": []}')
    assert_one_error(run("apply", damaged, code=1), str(damaged), "damaged", "vapiops plan --out")
    assert sandbox.requests == []
