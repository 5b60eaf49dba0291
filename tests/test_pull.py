"""`vapiops pull`: dashboard edits on the sandbox come back into the files, and nothing else moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import sandbox_cli, sandbox_client, state_ids, write_files

FIXTURES = Path(__file__).parent / "pull_fixtures"
PROD = {"VAPI_API_KEY_PROD": "test-key", "VAPI_API_KEY_DEV": None}


@pytest.fixture
def pulled_project(tmp_path: Path, sandbox):
    """The fixture project applied to prod on the sandbox, then edited in the "dashboard"."""
    root = tmp_path / "proj"
    shutil.copytree(FIXTURES / "project", root)
    run = sandbox_cli(sandbox, env=PROD)
    run("apply", root, "--env", "prod", "--auto-approve")
    support = state_ids(root, "prod")["assistant/support"]
    with sandbox_client(sandbox) as c:
        live = c.get(f"/assistant/{support}").json()
        model = dict(live["model"], temperature=0.5)
        model["messages"] = [{"role": "system", "content": "You are Riley.\n\nBe brief, kind and exact.\n"}]
        c.patch(
            f"/assistant/{support}",
            json={
                "firstMessage": "Hello, Acme support here.",
                "voicemailMessage": "Sorry we missed you.\nCall back any time.\n",
                "endCallMessage": "Bye now!",
                "maxDurationSeconds": 1200,
                "model": model,
                "server": {"url": "https://elsewhere.example.com/hook"},
                "voicemailDetection": {"provider": "vapi"},  # undeclared: never pulled
            },
        ).raise_for_status()
    return root, run


@pytest.mark.e2e
def test_pull_writes_live_values_back_and_nothing_else_moves(pulled_project):
    root, run = pulled_project
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".vapiops" not in p.parts}

    dry = run("pull", root, "--env", "prod", "--dry-run", code=2)
    assert {p: p.read_bytes() for p in before} == before  # --dry-run writes nothing
    assert "+  firstMessage: 'Hello, Acme support here.'" in dry.stdout
    assert "--- a/prompts/support.md" in dry.stdout

    result = run("pull", root, "--env", "prod", code=2)
    for rel in ("resources/support.yaml", "prompts/support.md"):
        assert (root / rel).read_bytes() == (FIXTURES / "expected" / rel).read_bytes(), rel
    assert (root / "vapiops.yaml").read_bytes() == (FIXTURES / "project" / "vapiops.yaml").read_bytes()
    # The conflicts: located, with the live value.
    assert (
        "resources/support.yaml:21: assistant/support server.url: the value comes from the template "
        "'${{ vars.hooks_url }}/events'; live value: \"https://elsewhere.example.com/hook\""
    ) in result.stderr
    assert (
        "resources/support.yaml:10: assistant/support endCallMessage: it is shared through the YAML anchor &bye"
        in (result.stderr)
    )
    assert "maxDurationSeconds: written into spec (every environment)" in result.stderr

    # The next plan is clean but for the conflicts.
    plan = json.loads(run("plan", root, "--env", "prod", "--format", "json", code=0).stdout)
    assert [(c["address"], [f["path"] for f in c["fields"]]) for c in plan["changes"]] == [
        ("assistant/support", ["endCallMessage", "server.url"])
    ]
    # A second pull finds only the conflicts again and changes no file.
    again = run("pull", root, "--env", "prod", code=2)
    assert "Changed files: none" in again.stderr
    # The next apply sends only the conflicts back and records the pulled values: no drift is left.
    run("apply", root, "--env", "prod", "--auto-approve")
    run("plan", root, "--env", "prod", "--refresh-only", "--detailed-exitcode", code=0)
    assert "Changed files: none" in run("pull", root, "--env", "prod", code=0).stderr


SMALL = {
    "resources/a.yaml": """\
        kind: assistant
        name: a
        spec:
          firstMessage: Hi   # plain
          server:
            url: https://hooks.example.com/a
            headers:
              Authorization: "Bearer ${{ secret('HOOK_TOKEN') }}"
        ---
        kind: assistant
        name: b
        spec:
          firstMessage: Hello
        """,
}


@pytest.fixture
def small(tmp_path: Path, sandbox):
    root = tmp_path / "small"
    write_files(root, SMALL)
    run = sandbox_cli(sandbox, env={"HOOK_TOKEN": "s3cret-token-value"})
    run("apply", root, "--auto-approve")
    return root, run, state_ids(root)


@pytest.mark.e2e
def test_without_drift_pull_changes_nothing_and_exits_0(small):
    root, run, _ = small
    text = (root / "resources/a.yaml").read_bytes()
    result = run("pull", root)
    assert "Changed files: none" in result.stderr
    assert (root / "resources/a.yaml").read_bytes() == text


@pytest.mark.e2e
def test_a_changed_secret_is_reported_never_written_and_target_limits_the_pull(small, sandbox):
    root, run, ids = small
    with sandbox_client(sandbox) as c:
        c.patch(
            f"/assistant/{ids['assistant/a']}",
            json={"firstMessage": "Hey", "server": {"url": "https://hooks.example.com/a"}},
        ).raise_for_status()
        c.patch(f"/assistant/{ids['assistant/b']}", json={"firstMessage": "Hello there"}).raise_for_status()
    original = (root / "resources/a.yaml").read_text()

    only_b = run("pull", root, "--target", "assistant/b")
    assert (root / "resources/a.yaml").read_text() == original.replace("Hello\n", "Hello there\n")
    assert "assistant/a" not in only_b.stderr

    result = run("pull", root)
    assert (
        "assistant/a server.headers.Authorization: a secret changed; secrets are never pulled"
        in result.stderr
    )
    assert "s3cret-token-value" not in result.stderr + result.stdout
    assert (root / "resources/a.yaml").read_text() == original.replace("Hello\n", "Hello there\n").replace(
        "firstMessage: Hi   # plain",
        "firstMessage: Hey  # plain",  # the comment keeps its column
    )


@pytest.mark.e2e
def test_an_unknown_target_is_an_error_before_any_request(small, sandbox):
    root, run, _ = small
    sandbox.clear_requests()
    result = run("pull", root, "--target", "assistant/nope", code=1)
    assert "--target assistant/nope" in result.stderr and "no such resource" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.requests == []


@pytest.mark.e2e
def test_a_dashboard_rename_is_written_as_spec_name(small, sandbox):
    root, run, ids = small
    with sandbox_client(sandbox) as c:
        c.patch(f"/assistant/{ids['assistant/b']}", json={"name": "Billing"}).raise_for_status()
    original = (root / "resources/a.yaml").read_text()
    run("pull", root)
    assert (root / "resources/a.yaml").read_text() == original.replace(
        "firstMessage: Hello\n", "firstMessage: Hello\n  name: Billing\n"
    )
    run("plan", root, "--detailed-exitcode", code=0)
