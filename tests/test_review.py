"""Plans reviewers and CI can trust: saved plans, safety, exit codes, secrets, colour, drift, targets, outputs.

End to end: the real CLI (click's CliRunner) against the sandbox served over HTTP on 127.0.0.1; a
few unit tests pin the pieces a CliRunner cannot reach (a terminal, a 2,000-row markdown table).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import Result
from conftest import (
    PLAN_SCHEMA,
    assert_markdown_balanced,
    free_port,
    sandbox_cli,
    sandbox_client,
    state_ids,
    write_files,
    writes,
)

from vapiops.cli import options as cli_module
from vapiops.cli.options import use_color
from vapiops.client import VapiClient
from vapiops.errors import UnsafePlan
from vapiops.flows import context
from vapiops.flows.planning import check_safety
from vapiops.model import ABSENT, Action, Change, FieldChange, Plan
from vapiops.output import render_markdown, render_text
from vapiops.output.markdown import TABLE_SHARE
from vapiops.sandbox import SandboxServer
from vapiops.state import ResourceState, State

# Distinctive values, so a scan for them cannot match anything by accident.
KEY = "vapi-key-3b9d41f0c7e2"
HOOK_TOKEN = "hook-tok-91c2e7a4d05b"
HOOK_TOKEN_2 = "hook-tok-5fe0a8b3c617"
OPENAI_KEY = "sk-openai-6d2f8b0e4a19"
PIN = "pin-7731a0c4e9"

ANSI = "\x1b["

BASE = """
kind: tool
name: lookup
spec:
  type: function
  function:
    name: lookup
    description: Look up an order.
  server:
    url: https://hooks.example.com/lookup
---
kind: tool
name: hangup
spec:
  type: endCall
---
kind: assistant
name: support
spec:
  firstMessage: Hi, support here.
  model:
    provider: openai
    model: gpt-4o
    toolIds: [lookup]
---
kind: assistant
name: sales
spec:
  firstMessage: Hi, sales here.
  model:
    provider: openai
    model: gpt-4o
    toolIds: [hangup]
"""

SECRETS = """
kind: tool
name: hook
spec:
  type: function
  function:
    name: hook
  server:
    url: https://hooks.example.com/hook
    headers:
      Authorization: "Bearer ${{ secret('HOOK_TOKEN') }}"
---
kind: assistant
name: agent
spec:
  firstMessage: Hello.
  voicemailMessage: "Call back and quote ${{ secret('PIN') }} please."
  credentials:
    - provider: openai
      apiKey: "${{ secret('OPENAI_KEY') }}"
  model:
    provider: openai
    model: gpt-4o
    toolIds: [hook]
"""


# ---------------------------------------------------------------------------------------------
# Helpers


def write(root: Path, rel: str, text: str) -> None:
    write_files(root, {rel: text})


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, "resources/base.yaml", BASE)
    return root


@pytest.fixture
def run(sandbox) -> Callable[..., Result]:
    """Invoke the real CLI against the sandbox; asserts the exit code unless code=None."""
    # NO_COLOR unset: the colour tests decide it per call.
    return sandbox_cli(sandbox, KEY, env={"NO_COLOR": None, "VAPIOPS_DEBUG": None})


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# 1. Saved plans


def test_saved_plan_applies_exactly_that_plan_without_asking(project, run, sandbox, tmp_path):
    planfile = tmp_path / "out" / "create.plan"
    shown = run("plan", project, "--out", planfile, "--format", "json")
    assert "Saved the plan" in shown.stderr
    assert json.loads(shown.stdout) == json.loads(planfile.read_text())["plan"]
    assert writes(sandbox) == []
    # CliRunner's stdin is no terminal: had apply asked for confirmation, it would have failed.
    run("apply", planfile)
    posts = sorted(r["path"] for r in writes(sandbox))
    assert posts == ["/assistant", "/assistant", "/tool", "/tool"]
    assert sorted(state_ids(project)) == ["assistant/sales", "assistant/support", "tool/hangup", "tool/lookup"]

    edit(project / "resources/base.yaml", "Hi, sales here.", "Sales, hello!")
    planfile = tmp_path / "out" / "update.plan"
    run("plan", project, "--out", planfile)
    sandbox.clear_requests()
    applied = run("apply", planfile)
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied.stderr
    ids = state_ids(project)
    assert [(r["method"], r["path"], r["body"]) for r in writes(sandbox)] == [
        ("PATCH", f"/assistant/{ids['assistant/sales']}", {"firstMessage": "Sales, hello!"})]
    run("plan", project, "--detailed-exitcode", code=0)
    # A plan file is good for one apply: what it was made from has changed since.
    sandbox.clear_requests()
    again = run("apply", planfile, code=1)
    assert "stale" in again.stderr and "assistant/sales" in again.stderr
    assert writes(sandbox) == []


def _dashboard_edit(project: Path, sandbox) -> str:
    ids = state_ids(project)
    with sandbox_client(sandbox, KEY) as c:
        c.patch(f"/assistant/{ids['assistant/support']}", json={"firstMessage": "Edited live"}).raise_for_status()
    return "assistant/support"


def _manifest_edit(project: Path, sandbox) -> str:
    edit(project / "resources/base.yaml", "Look up an order.", "Look up an order by number.")
    return "tool/lookup"


def _new_manifest(project: Path, sandbox) -> str:
    write(project, "resources/late.yaml", "kind: tool\nname: late\nspec:\n  type: endCall\n")
    return "tool/late"


def _dashboard_delete(project: Path, sandbox) -> str:
    ids = state_ids(project)
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/tool/{ids['tool/hangup']}").raise_for_status()
    return "tool/hangup"


@pytest.mark.parametrize("change", [_dashboard_edit, _manifest_edit, _new_manifest, _dashboard_delete])
def test_stale_saved_plan_is_refused_and_sends_nothing(project, run, sandbox, tmp_path, change):
    run("apply", project, "--auto-approve")
    edit(project / "resources/base.yaml", "Hi, sales here.", "Sales, hello!")
    planfile = tmp_path / "reviewed.plan"
    run("plan", project, "--out", planfile)
    changed = change(project, sandbox)
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
    write(root, "vapiops.yaml", """
        environments:
          dev: {api_key_env: VAPI_API_KEY}
          prod: {api_key_env: VAPI_API_KEY}
    """)
    write(root, "resources/base.yaml", BASE)
    planfile = tmp_path / "dev.plan"
    run("plan", root, "--env", "dev", "--out", planfile)
    result = run("apply", planfile, "--env", "prod", code=1)
    assert "made for environment 'dev'" in result.stderr
    assert writes(sandbox) == []


def test_plan_file_of_unknown_version_is_refused(project, run, sandbox, tmp_path):
    bogus = tmp_path / "bogus.plan"
    bogus.write_text('{"kind": "vapiops-plan", "version": 99}')
    result = run("apply", bogus, code=1)
    assert "plan file version 99 is not supported" in result.stderr
    assert writes(sandbox) == []


# ---------------------------------------------------------------------------------------------
# 2. Safety


def _assistants(count: int) -> str:
    return "---\n".join(f"kind: assistant\nname: a{i:02d}\nspec:\n  firstMessage: Hello {i}.\n" for i in range(count))


def test_bulk_delete_needs_force(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write(root, "resources/keep.yaml", _assistants(8))
    for i in range(8, 12):
        write(root, f"resources/extra/a{i:02d}.yaml", f"kind: assistant\nname: a{i:02d}\nspec:\n  firstMessage: Hi {i}.\n")
    run("apply", root, "--auto-approve")
    assert len(state_ids(root)) == 12
    for i in range(8, 12):  # 4 of 12: 33% > 30%
        (root / f"resources/extra/a{i:02d}.yaml").unlink()
    sandbox.clear_requests()
    result = run("apply", root, "--auto-approve", code=1)
    assert "Error: the plan would delete or replace 4 of 12 managed resources (more than 30%)" in result.stderr
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


def test_deleting_up_to_the_limit_needs_no_force(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write(root, "resources/keep.yaml", _assistants(7))
    write(root, "resources/gone.yaml", _assistants(10).split("---\n", 7)[7])  # a07..a09
    run("apply", root, "--auto-approve")
    (root / "resources/gone.yaml").unlink()  # 3 of 10: exactly 30%
    sandbox.clear_requests()
    run("apply", root, "--auto-approve")
    assert [r["method"] for r in writes(sandbox)] == ["DELETE"] * 3


def _state(count: int) -> State:
    return State("default", resources={f"tool/t{i}": ResourceState("tool", f"t{i}", f"id-{i}", {})
                                       for i in range(count)})


def _deletes(count: int, action: Action = Action.DELETE) -> Plan:
    return Plan("default", changes=[Change(f"tool/t{i}", "tool", f"t{i}", action, f"id-{i}") for i in range(count)])


@pytest.mark.parametrize(("managed", "destroyed", "refused"), [
    (10, 3, False), (10, 4, True), (9, 9, False), (20, 6, False), (20, 7, True), (100, 31, True),
])
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


def test_prevent_destroy_refuses_a_replace_even_with_force(project, run, sandbox, tmp_path):
    base = project / "resources/base.yaml"
    edit(base, "name: hangup\nspec:\n", "name: hangup\nlifecycle:\n  preventDestroy: true\nspec:\n")
    run("apply", project, "--auto-approve")
    edit(base, "type: endCall", "type: dtmf")
    shown = run("plan", project, "--format", "json")
    actions = {c["address"]: c["action"] for c in json.loads(shown.stdout)["changes"]}
    assert actions["tool/hangup"] == "replace"
    sandbox.clear_requests()
    for extra in ((), ("--force",)):
        result = run("apply", project, "--auto-approve", *extra, code=1)
        (line,) = [ln for ln in error_lines(result) if ln.startswith("Error:")]
        assert "tool/hangup" in line and "preventDestroy" in line
        assert "Traceback" not in result.stderr
    planfile = tmp_path / "replace.plan"
    run("plan", project, "--out", planfile)
    assert "preventDestroy" in run("apply", planfile, "--force", code=1).stderr
    assert writes(sandbox) == []
    # Changing the manifest is the way through.
    edit(base, "  preventDestroy: true\n", "  preventDestroy: false\n")
    run("apply", project, "--auto-approve")
    assert [r["method"] for r in writes(sandbox)] == ["POST", "PATCH", "DELETE"]


def test_destroy_refuses_a_prevent_destroy_resource(project, run, sandbox):
    edit(project / "resources/base.yaml", "name: hangup\nspec:\n", "name: hangup\nlifecycle:\n  preventDestroy: true\nspec:\n")
    run("apply", project, "--auto-approve")
    sandbox.clear_requests()
    result = run("destroy", project, "--auto-approve", code=None)
    assert writes(sandbox) == []
    assert result.exit_code == 1 and "tool/hangup" in result.stderr and "preventDestroy" in result.stderr


# ---------------------------------------------------------------------------------------------
# 3. Exit codes and errors


def test_exit_codes_of_plan(project, run, sandbox):
    assert run("plan", project, "--detailed-exitcode", code=2).stdout.rstrip().endswith(
        "Plan: 4 to add, 0 to change, 0 to destroy.")
    run("plan", project, code=0)  # changes, but no --detailed-exitcode
    run("apply", project, "--auto-approve")
    sandbox.clear_requests()
    for fmt in ("text", "markdown", "json"):
        run("plan", project, "--format", fmt, code=0)
        run("plan", project, "--format", fmt, "--detailed-exitcode", code=0)
    edit(project / "resources/base.yaml", "Hi, support here.", "Support, hi.")
    for fmt in ("text", "markdown", "json"):
        run("plan", project, "--format", fmt, "--detailed-exitcode", code=2)
    assert writes(sandbox) == []


BAD_MANIFESTS = {
    "yaml": ("kind: tool\nname: broken\nspec:\n  type: endCall\n   async: true\n", "resources/bad.yaml:5"),
    "kind": ("kind: tool\nname: ok\nspec:\n  type: endCall\n---\nkind: robot\nname: r2\nspec: {}\n",
             "resources/bad.yaml:6"),
    "schema": ("kind: assistant\nname: typo\nspec:\n  firstMesage: hi\n", "resources/bad.yaml:4"),
    "template": ("kind: assistant\nname: tpl\nspec:\n  firstMessage: \"${{ nope }}\"\n", "resources/bad.yaml:4"),
    "missing secret": ("kind: assistant\nname: s\nspec:\n  firstMessage: \"${{ secret('NOT_SET_9') }}\"\n",
                       "resources/bad.yaml:4"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
@pytest.mark.parametrize("command", [("validate",), ("plan",), ("apply", "--auto-approve")])
def test_bad_manifest_is_one_located_line_and_exit_1(project, run, sandbox, case, command):
    text, where = BAD_MANIFESTS[case]
    (project / "resources/bad.yaml").write_text(text)
    result = run(*command, project, code=1)
    # One problem, one located line; validation errors come under a "1 problem found:" heading.
    lines = error_lines(result)
    assert lines[0].startswith("Error: ") and len(lines) <= 2, result.stderr
    assert lines[-1].lstrip().startswith(where) or lines[-1].startswith(f"Error: {where}"), result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.requests == []  # refused before any request
    debug = run(*command, project, "--debug", code=1)
    assert "Traceback (most recent call last)" in debug.stderr
    assert where in debug.stderr


def test_unreachable_base_url_is_one_line_and_exit_1(project, run, monkeypatch):
    # Keep the client's real retry logic, without its real backoff waits.
    monkeypatch.setattr(context, "VapiClient", functools.partial(VapiClient, sleep=lambda _s: None))
    url = f"http://127.0.0.1:{free_port()}"
    for command in (("plan",), ("apply", "--auto-approve")):
        result = run(*command, project, code=1, env={"VAPI_BASE_URL": url})
        (line,) = error_lines(result)
        assert line.startswith("Error: GET /") and f"could not reach {url}" in line, line
        assert "Traceback" not in result.stderr and KEY not in result.stderr
    debug = run("plan", project, "--debug", code=1, env={"VAPI_BASE_URL": url})
    assert "Traceback (most recent call last)" in debug.stderr


def test_rejected_api_key_is_one_line_and_exit_1(project, run):
    with SandboxServer(api_key="the-only-good-key") as guarded:
        result = run("plan", project, code=1, env={"VAPI_BASE_URL": guarded.url})
        assert [r["status"] for r in guarded.requests] and all(r["status"] == 401 for r in guarded.requests)
        assert not writes(guarded)
    (line,) = error_lines(result)
    assert line.startswith("Error: GET /") and "401" in line and "VAPI_API_KEY" in line, line
    assert KEY not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_api_failure_during_apply_names_the_address(project, run, sandbox):
    run("apply", project, "--auto-approve")
    edit(project / "resources/base.yaml", "Hi, support here.", "Support, hi.")
    sandbox.inject("PATCH", "/assistant", 401)
    result = run("apply", project, "--auto-approve", code=1)
    failed = [ln for ln in error_lines(result) if "failed:" in ln and "assistant/support" in ln]
    assert failed and "401" in failed[0], result.stderr
    assert "Traceback" not in result.stderr and KEY not in result.stderr


# ---------------------------------------------------------------------------------------------
# 4. Secrets


def test_secrets_never_reach_an_output_or_a_file(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write(root, "resources/secrets.yaml", SECRETS)
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
    sensitive = {(c["address"], f["path"]) for c in created["changes"] for f in c["fields"] if f.get("sensitive")}
    assert sensitive == {("tool/hook", "server.headers.Authorization"),
                         ("assistant/agent", "credentials[0].apiKey"), ("assistant/agent", "voicemailMessage")}
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
        ("tool/hook", "update", [{"path": "server.headers.Authorization", "before": "(sensitive)",
                                  "after": "(sensitive)", "sensitive": True}])]
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(doc)
    assert "-(sensitive)\n+(sensitive)" in step("plan", root, "--format", "markdown", env=rotated).stdout
    # A saved plan made with the old secret is stale once the secret changes.
    sandbox.clear_requests()
    stale = step("apply", planfile, code=1, env=rotated)
    assert "manifest changed: tool/hook" in stale.stderr and writes(sandbox) == []
    step("plan", root, "--out", root / "plans" / "rotate.plan", env=rotated)
    step("apply", root / "plans" / "rotate.plan", env=rotated)
    (patch,) = writes(sandbox)
    assert patch["method"] == "PATCH" and patch["body"]["server"]["headers"] == {"Authorization": f"Bearer {HOOK_TOKEN_2}"}
    step("plan", root, "--detailed-exitcode", env=rotated)
    step("apply", root, "--auto-approve", "--debug", env=rotated)

    forbidden = [HOOK_TOKEN, HOOK_TOKEN_2, OPENAI_KEY, PIN, KEY]
    for result in outputs:
        for value in forbidden:
            assert value not in result.stdout and value not in result.stderr, (value, result.stdout, result.stderr)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(".vapiops" in p.parts for p in files) and planfile in files
    for path in files:
        data = path.read_bytes()
        for value in forbidden:
            assert value.encode() not in data, (value, path)
    assert "(sensitive)" in planfile.read_text()


# ---------------------------------------------------------------------------------------------
# 5. Colour


class _Terminal:
    """A stream that says it is a terminal, writing through to the real one."""

    def __init__(self, stream: Any):
        self._stream = stream

    def isatty(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _TerminalSys:
    """`sys` as vapiops.cli sees it, with stdout on a terminal (CliRunner's never is)."""

    @property
    def stdout(self) -> Any:
        return _Terminal(sys.stdout)

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


@pytest.mark.parametrize("terminal", [False, True])
def test_ansi_only_on_a_terminal_without_no_color(project, run, monkeypatch, terminal):
    if terminal:
        monkeypatch.setattr(cli_module, "sys", _TerminalSys())
    # color=True: click keeps whatever escapes vapiops writes, so only vapiops' own choice is tested.
    cases = [({}, (), terminal), ({"NO_COLOR": "1"}, (), False), ({}, ("--no-color",), False)]
    for env, extra, expected in cases:
        result = run("plan", project, *extra, env=env, color=True)
        assert "assistant/support" in result.stdout
        assert (f"{ANSI}32m+{ANSI}0m assistant/support" in result.stdout) is expected, (env, extra)
        assert (ANSI in result.stdout) is expected
        assert ANSI not in result.stderr
        # The last line is never coloured, so scripts can match it either way.
        assert result.stdout.rstrip().splitlines()[-1] == "Plan: 4 to add, 0 to change, 0 to destroy."
    # Machine formats never carry colour, terminal or not.
    for fmt in ("json", "markdown"):
        assert ANSI not in run("plan", project, "--format", fmt, color=True).stdout


def test_ansi_is_stripped_by_click_when_output_is_piped(project, run, monkeypatch):
    # Even if vapiops chose colour, click drops escapes on a stream that is not a terminal.
    monkeypatch.setattr(cli_module, "sys", _TerminalSys())
    assert ANSI not in run("plan", project).stdout


def test_use_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", _Terminal(sys.stdout))
    assert use_color(False) is True
    assert use_color(True) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(False) is False
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: an empty NO_COLOR does not count
    assert use_color(False) is True
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr(sys, "stdout", open(__file__))  # a file is no terminal
    try:
        assert use_color(False) is False
    finally:
        sys.stdout.close()


def test_render_text_colour_is_only_colour():
    plan = Plan("dev", changes=[
        Change("tool/a", "tool", "a", Action.CREATE, None, [FieldChange("type", ABSENT, "endCall")]),
        Change("assistant/b", "assistant", "b", Action.UPDATE, "id-b", [FieldChange("firstMessage", "x", "y")]),
    ]).to_dict()
    coloured, plain = render_text(plan, color=True), render_text(plan)
    assert ANSI in coloured and ANSI not in plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


# ---------------------------------------------------------------------------------------------
# 6. --refresh-only


def test_refresh_only_reports_drift_and_writes_nothing(project, run, sandbox):
    run("apply", project, "--auto-approve")
    run("plan", project, "--refresh-only", "--detailed-exitcode", code=0)
    ids = state_ids(project)
    with sandbox_client(sandbox, KEY) as c:
        c.patch(f"/assistant/{ids['assistant/support']}", json={"firstMessage": "Edited live"}).raise_for_status()
        c.patch(f"/assistant/{ids['assistant/sales']}", json={"voicemailMessage": "undeclared"}).raise_for_status()
    # A manifest edit is not drift: --refresh-only does not show it.
    edit(project / "resources/base.yaml", "Look up an order.", "Look up an order by number.")
    sandbox.clear_requests()
    text = run("plan", project, "--refresh-only", "--detailed-exitcode", code=2).stdout
    assert 'firstMessage: "Hi, support here." -> "Edited live"' in text
    assert "tool/lookup" not in text and "assistant/sales" not in text
    doc = json.loads(run("plan", project, "--refresh-only", "--format", "json").stdout)
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(doc)
    assert doc["refresh_only"] is True and doc["changes"] == []  # drift is never a change to make
    assert [(c["address"], c["action"], c["fields"]) for c in doc["drift"]] == [
        ("assistant/support", "update", [{"path": "firstMessage", "before": "Hi, support here.",
                                          "after": "Edited live"}])]
    assert writes(sandbox) == []
    # A deleted object is drift too.
    with sandbox_client(sandbox, KEY) as c:
        c.delete(f"/tool/{ids['tool/hangup']}").raise_for_status()
    sandbox.clear_requests()
    doc = json.loads(run("plan", project, "--refresh-only", "--format", "json", "--detailed-exitcode", code=2).stdout)
    assert {c["address"]: c["action"] for c in doc["drift"]} == {"assistant/support": "update", "tool/hangup": "delete"}
    markdown = run("plan", project, "--refresh-only", "--format", "markdown").stdout
    assert "**Drift:** 1 changed, 1 deleted outside vapiops." in markdown and "to change" not in markdown
    assert writes(sandbox) == []


# ---------------------------------------------------------------------------------------------
# 7. --target


def test_target_plans_and_applies_only_the_resource_and_its_dependencies(project, run, sandbox):
    doc = json.loads(run("plan", project, "--target", "assistant/support", "--format", "json").stdout)
    assert sorted(c["address"] for c in doc["changes"]) == ["assistant/support", "tool/lookup"]
    run("apply", project, "--target", "assistant/support", "--auto-approve")
    assert sorted((r["method"], r["path"]) for r in writes(sandbox)) == [("POST", "/assistant"), ("POST", "/tool")]
    assert sorted(state_ids(project)) == ["assistant/support", "tool/lookup"]
    ids = state_ids(project)
    with sandbox_client(sandbox, KEY) as c:
        live = c.get(f"/assistant/{ids['assistant/support']}").json()
    assert live["model"]["toolIds"] == [ids["tool/lookup"]]
    rest = json.loads(run("plan", project, "--format", "json").stdout)
    assert sorted(c["address"] for c in rest["changes"]) == ["assistant/sales", "tool/hangup"]

    run("apply", project, "--auto-approve")
    base = project / "resources/base.yaml"
    edit(base, "Hi, support here.", "Support, hi.")
    edit(base, "Hi, sales here.", "Sales, hi.")
    edit(base, "Look up an order.", "Look up an order by number.")
    ids = state_ids(project)
    sandbox.clear_requests()
    doc = json.loads(run("plan", project, "--target", "assistant/sales", "--format", "json").stdout)
    assert [c["address"] for c in doc["changes"]] == ["assistant/sales"]  # its tool is unchanged
    planfile = project.parent / "sales.plan"
    run("plan", project, "--target", "assistant/sales", "--target", "tool/lookup", "--out", planfile)
    run("apply", planfile)  # the targets travel with the plan file
    assert sorted(r["path"] for r in writes(sandbox)) == sorted(
        [f"/assistant/{ids['assistant/sales']}", f"/tool/{ids['tool/lookup']}"])
    left = json.loads(run("plan", project, "--format", "json").stdout)
    assert [c["address"] for c in left["changes"]] == ["assistant/support"]


@pytest.mark.parametrize("target", ["assistant/suport", "nonsense"])
def test_unknown_target_is_an_error(project, run, sandbox, target):
    result = run("plan", project, "--target", target, "--detailed-exitcode", code=None)
    assert result.exit_code == 1 and target in result.stderr


# ---------------------------------------------------------------------------------------------
# 8. Markdown for a pull-request comment


def test_markdown_plan_of_many_resources_fits_one_comment(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    prompt = "\n".join(f"          Rule {j}: answer briefly and politely." for j in range(12))
    docs = [f"kind: assistant\nname: a{i:04d}\nspec:\n  model:\n    provider: openai\n    model: gpt-4o\n"
            f"    messages:\n      - role: system\n        content: |\n{prompt}\n" for i in range(60)]
    docs += [f"kind: tool\nname: t{i:04d}\nspec:\n  type: endCall\n" for i in range(2000)]
    write(root, "resources/many.yaml", "---\n".join(docs))
    text = run("plan", root, "--format", "markdown", "--detailed-exitcode", code=2).stdout
    assert len(text) < 65_536
    assert_markdown_balanced(text)
    assert "**Plan:** 2060 to add, 0 to change, 0 to destroy." in text
    table = text[text.index("| Action |"):text.index("\n\n", text.index("| Action |"))]
    assert len(table) <= 65_536 * TABLE_SHARE
    (more,) = re.findall(r"\| … \| _(\d+) more resources_ \| \|", table)
    rows = table.count("\n| + create |") + table.startswith("| + create |")
    assert rows + int(more) == 2060
    shown = text.count("<details>")
    assert shown >= 20  # sections fill the rest of the comment
    assert f"_{2060 - shown} more resources not shown (plan too large for one comment)" in text
    assert "<details><summary>+ <code>assistant/a0000</code> (create)</summary>" in text
    assert writes(sandbox) == []


def _many(count: int) -> Plan:
    changes = [Change(f"tool/t{i:04d}", "tool", f"t{i:04d}", Action.UPDATE, f"id-{i}",
                      [FieldChange("function.description", f"old {i}\nline 2\n", f"new {i}\nline 2\n")])
               for i in range(count)]
    return Plan("prod", changes=changes)


@pytest.mark.parametrize("limit", [10_000, 65_000])
def test_markdown_caps_a_table_too_long_for_the_comment(limit):
    text = render_markdown(_many(2000).to_dict(), limit=limit)
    assert len(text) <= limit
    assert_markdown_balanced(text)
    table = text[text.index("| Action |"):text.index("\n\n", text.index("| Action |"))]
    assert len(table) <= limit * TABLE_SHARE
    shown = text.count("<details>")
    assert len(text) - len(table) > limit // 2 and shown > 10
    (more,) = re.findall(r"_(\d+) more resources_", table)
    assert table.count("\n| ~ update |") + int(more) == 2000
    assert text.endswith(f"_{2000 - shown} more resources not shown (plan too large for one comment); "
                         "run `vapiops plan` locally for the full plan._\n")


def test_markdown_keeps_a_whole_table_that_leaves_room_for_sections():
    text = render_markdown(_many(300).to_dict(), limit=30_000)
    assert len(text) <= 30_000 and "more resources_" not in text
    assert text.count("\n| ~ update |") == 300
    assert text.count("<details>") > 0


# ---------------------------------------------------------------------------------------------
# 9. JSON plans


def test_json_plan_validates_for_every_action_and_sensitive_fields(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write(root, "resources/base.yaml", BASE)
    write(root, "resources/secrets.yaml", SECRETS)
    secrets = {"HOOK_TOKEN": HOOK_TOKEN, "OPENAI_KEY": OPENAI_KEY, "PIN": PIN}
    validator = jsonschema.Draft202012Validator(PLAN_SCHEMA)
    first = run("plan", root, "--format", "json", env=secrets).stdout
    validator.validate(json.loads(first))
    run("apply", root, "--auto-approve", env=secrets)
    base = root / "resources/base.yaml"
    edit(base, "Hi, support here.", "Support, hi.")  # update
    edit(base, "type: endCall", "type: dtmf")  # replace (and a repoint of assistant/sales)
    text = base.read_text()
    base.write_text(text.replace(text[text.index("kind: tool\nname: lookup"):text.index("kind: tool\nname: hangup")], ""))
    edit(base, "toolIds: [lookup]", "toolIds: []")  # tool/lookup deleted
    write(root, "resources/new.yaml", "kind: tool\nname: fresh\nspec:\n  type: endCall\n")  # create
    result = run("plan", root, "--format", "json", "--detailed-exitcode", code=2,
                 env={**secrets, "HOOK_TOKEN": HOOK_TOKEN_2})
    doc = json.loads(result.stdout)  # stdout is one JSON object and nothing else
    validator.validate(doc)
    actions = {c["address"]: c["action"] for c in doc["changes"]}
    assert actions == {"tool/fresh": "create", "tool/lookup": "delete", "tool/hangup": "replace",
                       "assistant/support": "update", "assistant/sales": "update", "tool/hook": "update"}
    assert doc["summary"] == {"add": 2, "change": 3, "destroy": 2, "replace": 1}
    by_address = {c["address"]: c for c in doc["changes"]}
    assert by_address["tool/fresh"]["id"] is None and by_address["tool/lookup"]["id"]
    assert by_address["tool/hook"]["fields"][0]["sensitive"] is True
    for change in doc["changes"]:
        for field in change["fields"]:
            assert re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+|\[\d+\])*", field["path"]), field["path"]
    assert HOOK_TOKEN_2 not in result.stdout and HOOK_TOKEN not in result.stdout
    # The schema is strict enough to catch a create with an id (or an update without one).
    broken = json.loads(result.stdout)
    broken["changes"][0]["id"] = "oops" if broken["changes"][0]["action"] == "create" else None
    assert not validator.is_valid(broken)
