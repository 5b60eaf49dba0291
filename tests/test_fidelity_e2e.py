"""End to end against the sandbox in its strict-real mode (docs/sandbox.md: masked secrets, lists oldest
first, server rules, UUID checks; fields beyond the spec set from the dashboard, version pins): vapiops
loses nothing it does not know."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from conftest import (
    HOOK_TOKEN,
    KEY,
    apply,
    assistant_spec,
    clean,
    doc,
    live,
    plan_json,
    sandbox_cli,
    sandbox_client,
    write_file,
    writes,
)

pytestmark = pytest.mark.e2e

BEYOND_SPEC = {"assistant": ["model.serviceTier", "silenceTimeoutSeconds"]}


@pytest.fixture
def sandbox() -> Iterator:
    """The real API's breadth: every real-API behaviour at once (it stores the catalogue's fields)."""
    from vapiops.sandbox import SandboxServer

    server = SandboxServer(strict_real=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_dashboard_settings_beyond_the_spec_survive_an_update_of_their_neighbours(proj, run, sandbox):
    proj.put(doc("assistant", "a", assistant_spec("Hi!")))
    apply(run, proj)
    obj_id = proj.ids()["assistant/a"]
    model = {**live(sandbox, "assistant", obj_id)["model"], "serviceTier": "priority"}
    sandbox.edit("assistant", KEY, obj_id, {"model": model, "silenceTimeoutSeconds": 30})

    proj.spec("assistant/a")["model"]["temperature"] = 0.2
    proj.spec("assistant/a")["firstMessage"] = "Hello!"
    proj.save()
    shown = run("plan", proj.root)
    # Both are known beyond the published spec (the catalogue): kept without a warning.
    assert "sent back as the API returned it" not in shown.stdout + shown.stderr
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert set(patch["body"]) == {"firstMessage", "model"}
    after = live(sandbox, "assistant", obj_id)
    assert after["model"]["serviceTier"] == "priority" and after["model"]["temperature"] == 0.2
    assert after["silenceTimeoutSeconds"] == 30 and after["firstMessage"] == "Hello!"
    clean(run, proj)


HOOK_TOOL = {
    "type": "function",
    "function": {"name": "hook"},
    "server": {
        "url": "https://hooks.example.com/a",
        "headers": {"Authorization": "Bearer ${{ secret('HOOK_TOKEN') }}"},
    },
}


def test_a_masked_header_is_never_written_back(proj, run, sandbox):
    env = {"HOOK_TOKEN": HOOK_TOKEN}
    proj.put(doc("tool", "hook", HOOK_TOOL))
    run("apply", proj.root, "--auto-approve", env=env)
    tool_id = proj.ids()["tool/hook"]
    server = {**live(sandbox, "tool", tool_id)["server"]}
    server["headers"] = {**server["headers"], "X-Dash": "dash-value"}  # set in the dashboard
    sandbox.edit("tool", KEY, tool_id, {"server": server})
    run("plan", proj.root, "--detailed-exitcode", code=0, env=env)  # masked values are no change

    proj.spec("tool/hook")["server"]["url"] = "https://hooks.example.com/b"
    proj.save()
    sandbox.clear_requests()
    refused = run("apply", proj.root, "--auto-approve", code=1, env=env)
    assert "server.headers.X-Dash is a secret the API returns masked" in refused.stderr
    assert writes(sandbox) == []
    assert live(sandbox, "tool", tool_id)["server"]["headers"]["X-Dash"] == "dash-value"

    run("apply", proj.root, "--auto-approve", "--force", env=env)
    (patch,) = writes(sandbox, succeeded=True)
    assert "****" not in json.dumps(patch["body"])
    assert patch["body"]["server"]["headers"] == {"Authorization": f"Bearer {HOOK_TOKEN}"}
    stored = live(sandbox, "tool", tool_id)["server"]
    assert stored["url"] == "https://hooks.example.com/b"
    assert stored["headers"] == {"Authorization": f"Bearer {HOOK_TOKEN}"}
    run("plan", proj.root, "--detailed-exitcode", code=0, env=env)


def test_deleting_a_pinned_tool_is_one_located_error_and_state_keeps_it(proj, run, sandbox):
    proj.put(doc("tool", "hook", {"type": "function", "function": {"name": "hook"}}))
    apply(run, proj)
    tool_id = proj.ids()["tool/hook"]
    pin = {"provider": "openai", "model": "gpt-4o", "toolRefs": [{"toolId": tool_id, "version": "v1"}]}
    with sandbox_client(sandbox, KEY) as c:  # a dashboard assistant pins version v1 of the tool
        pinning = c.post("/assistant", json={"name": "dash", "model": pin}).json()["id"]

    proj.drop("tool/hook")
    failed = run("apply", proj.root, "--auto-approve", code=1)
    assert "Traceback" not in failed.stderr
    (line,) = [x for x in failed.stderr.splitlines() if "failed: delete:tool/hook" in x]
    assert "tool/hook: delete refused: it is pinned" in line and pinning in line and "unpin it" in line
    assert proj.ids()["tool/hook"] == tool_id
    plan = plan_json(run, proj)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("tool/hook", "delete")]


APPLY_SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "apply.schema.json").read_text())


def test_apply_reads_back_and_reports_a_declared_value_the_api_dropped(proj, run, tmp_path):
    from vapiops.sandbox import SandboxServer

    # An API that accepts silenceTimeoutSeconds and does not keep it (as the real one may, silently).
    with SandboxServer(
        allow_fields=BEYOND_SPEC, ignore_fields={"assistant": ["silenceTimeoutSeconds"]}
    ) as quiet:
        quiet_run = sandbox_cli(quiet, KEY)
        spec = assistant_spec("Hi!", silenceTimeoutSeconds=30)
        config = "resources: [resources]\nallow_fields:\n  assistant: [silenceTimeoutSeconds]\n"
        write_file(proj.root, "vapiops.yaml", config)
        proj.put(doc("assistant", "a", spec))
        done = quiet_run("apply", proj.root, "--auto-approve", "--format", "json")
        report = json.loads(done.stdout)
        jsonschema.validate(report, APPLY_SCHEMA)
        assert report["ok"] and report["done"] == ["create:assistant/a"]
        assert report["readback"] == [
            {
                "address": "assistant/a",
                "path": "silenceTimeoutSeconds",
                "sent": 30,
                "returned": None,
                "dropped": True,
            }
        ]
        assert "Warning: assistant/a: silenceTimeoutSeconds: sent 30, but the API dropped it" in done.stderr
        # A plain apply says it too (stderr), and plan then shows the pending change, not a silent loss.
        spec["firstMessage"] = "Hello!"
        proj.put(doc("assistant", "a", spec))
        again = quiet_run("apply", proj.root, "--auto-approve")
        assert "silenceTimeoutSeconds: sent 30, but the API dropped it" in again.stderr


def test_export_writes_secret_placeholders_and_never_a_mask(proj, run, sandbox):
    dashboard_tool = {
        **HOOK_TOOL,
        "server": {**HOOK_TOOL["server"], "headers": {"Authorization": "Bearer dash"}},
    }
    with sandbox_client(sandbox, KEY) as c:  # made in the dashboard
        tool = c.post("/tool", json=dashboard_tool).json()
    # A legacy server.secret, which the API answers masked ("sk-1****"), outside vapiops's secret fields.
    sandbox.edit("tool", KEY, tool["id"], {"server": {**tool["server"], "secret": "sk-1****"}})
    proj.root.mkdir(parents=True, exist_ok=True)
    done = run("export", proj.root, "--adopt")
    exported = "\n".join(p.read_text() for p in (proj.root / "resources" / "exported").rglob("*.yaml"))
    assert "****" not in exported and "Bearer dash" not in exported
    for variable in ("VAPIOPS_TOOL_HOOK_SERVER_HEADERS_AUTHORIZATION", "VAPIOPS_TOOL_HOOK_SERVER_SECRET"):
        assert f"${{{{ secret('{variable}') }}}}" in exported and variable in done.stderr
    env = {
        "VAPIOPS_TOOL_HOOK_SERVER_HEADERS_AUTHORIZATION": "Bearer dash",
        "VAPIOPS_TOOL_HOOK_SERVER_SECRET": "s",
    }
    run("validate", proj.root, env=env)
    # Masked live values are no drift: the adopted export plans clean, and nothing is written.
    sandbox.clear_requests()
    run("plan", proj.root, "--detailed-exitcode", env=env)
    assert writes(sandbox) == []
