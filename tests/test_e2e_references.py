"""End to end: names in the ID fields the audit found unregistered reach the sandbox, in its strict-real
mode (docs/sandbox.md), as IDs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SANDBOX_KEY, sandbox_cli

from vapiops.kinds import KINDS
from vapiops.planning.graph import is_uuid
from vapiops.sandbox import SandboxServer

pytestmark = pytest.mark.e2e

MODEL = {"provider": "openai", "model": "gpt-4o"}
MANIFESTS = [
    {"kind": "structured-output", "name": "outcome", "spec": {"type": "ai", "schema": {"type": "string"}}},
    {"kind": "tool", "name": "lookup", "spec": {"type": "function", "function": {"name": "lookup"}}},
    {"kind": "assistant", "name": "billing", "spec": {"firstMessage": "Billing here."}},
    {
        "kind": "assistant",
        "name": "front",
        "spec": {
            "firstMessage": "Hi.",
            "model": {
                **MODEL,
                "toolRefs": [{"toolId": "lookup", "version": "1"}],
                "tools": [
                    {"type": "handoff", "destinations": [{"type": "assistant", "assistantId": "billing"}]}
                ],
            },
        },
    },
    {
        "kind": "squad",
        "name": "desk",
        "spec": {
            "members": [
                {
                    "assistantId": "front",
                    "assistantOverrides": {"artifactPlan": {"structuredOutputIds": ["outcome"]}},
                },
                {"assistantId": "billing"},
            ],
            "membersOverrides": {
                "hooks": [{"on": "call.ending", "do": [{"type": "tool", "toolId": "lookup"}]}]
            },
        },
    },
]


def test_names_in_nested_id_fields_reach_the_api_as_ids_and_plan_clean(tmp_path: Path):
    root = tmp_path / "proj"
    (root / "resources").mkdir(parents=True)
    (root / "resources" / "all.yaml").write_text(yaml.safe_dump_all(MANIFESTS, sort_keys=False))
    with SandboxServer(strict_real=True) as server:
        run = sandbox_cli(server)
        run("apply", root, "--auto-approve")
        ids = {
            (kind, KINDS[kind].display_name(o)): o["id"]
            for kind in ("tool", "assistant", "structured-output", "squad")
            for o in server.objects(kind, SANDBOX_KEY)
        }
        (squad,) = server.objects("squad", SANDBOX_KEY)
        member = squad["members"][0]
        assert member["assistantOverrides"]["artifactPlan"]["structuredOutputIds"] == [
            ids["structured-output", "outcome"]
        ]
        assert squad["membersOverrides"]["hooks"][0]["do"][0]["toolId"] == ids["tool", "lookup"]
        (front,) = [o for o in server.objects("assistant", SANDBOX_KEY) if o["name"] == "front"]
        assert front["model"]["toolRefs"][0]["toolId"] == ids["tool", "lookup"]
        assert front["model"]["tools"][0]["destinations"][0]["assistantId"] == ids["assistant", "billing"]
        assert all(is_uuid(v) for v in ids.values())
        # Live IDs read back as names: nothing to change.
        result = run("plan", root, "--detailed-exitcode", code=None)
        assert result.exit_code == 0, result.stdout + result.stderr
