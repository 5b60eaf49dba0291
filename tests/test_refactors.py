"""`moved:` and `import:` in vapiops.yaml: renames keep IDs with zero writes, imports adopt per environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_error, calls, doc, function_tool, sandbox_client, writes

from vapiops.errors import ManifestError
from vapiops.project.config import load_project

ENVS = {"VAPI_API_KEY_DEV": "key-dev", "VAPI_API_KEY_PROD": "key-prod"}
CONFIG = """\
environments:
  dev: {api_key_env: VAPI_API_KEY_DEV}
  prod: {api_key_env: VAPI_API_KEY_PROD}
"""


def write(root: Path, config: str, manifests: str) -> None:
    (root / "resources").mkdir(parents=True, exist_ok=True)
    (root / "vapiops.yaml").write_text(config)
    (root / "resources" / "all.yaml").write_text(manifests)


TOOL_AND_ASSISTANT = """\
kind: tool
name: {tool}
spec: {{type: function, function: {{name: check_availability, description: Checks.}}}}
---
kind: assistant
name: support
spec:
  name: Support Desk
  firstMessage: Hi!
  model: {{provider: openai, model: gpt-4o, toolIds: [{tool}]}}
"""


def state_ids(root: Path, env: str) -> dict[str, str]:
    doc_ = json.loads((root / ".vapiops" / "state" / f"{env}.json").read_text())
    return {a: e["id"] for a, e in doc_["resources"].items()}


@pytest.mark.e2e
def test_moved_keeps_the_id_sends_no_write_and_is_shown_in_every_format(run, sandbox, tmp_path: Path) -> None:
    root = tmp_path / "p"
    write(root, CONFIG, TOOL_AND_ASSISTANT.format(tool="check-availability"))
    for env in ("dev", "prod"):
        run("apply", root, "--env", env, "--auto-approve", env=ENVS)
    before = {env: state_ids(root, env) for env in ("dev", "prod")}

    write(
        root,
        CONFIG + "moved:\n  - {from: tool/check-availability, to: tool/availability}\n",
        TOOL_AND_ASSISTANT.format(tool="availability"),
    )
    plan = json.loads(
        run("plan", root, "--env", "dev", "--format", "json", "--detailed-exitcode", code=2, env=ENVS).stdout
    )
    assert plan["moved"] == [
        {
            "from": "tool/check-availability",
            "to": "tool/availability",
            "id": before["dev"]["tool/check-availability"],
        }
    ]
    assert plan["changes"] == []  # never a delete + create; the assistant's reference follows the name
    text = run("plan", root, "--env", "dev", env=ENVS).stdout
    assert "# tool/check-availability has moved to tool/availability" in text
    assert text.rstrip().endswith("Plan: 0 to add, 0 to change, 0 to destroy, 1 moved.")
    markdown = run("plan", root, "--env", "dev", "--format", "markdown", env=ENVS).stdout
    assert (
        "tool/check-availability has moved to tool/availability" in markdown and "No changes" not in markdown
    )

    for env in ("dev", "prod"):  # applied per environment whose state still has the old address
        sandbox.clear_requests()
        run("apply", root, "--env", env, "--auto-approve", env=ENVS)
        assert writes(sandbox) == []
        assert state_ids(root, env)["tool/availability"] == before[env]["tool/check-availability"]
        assert "tool/check-availability" not in state_ids(root, env)
        run("plan", root, "--env", env, "--detailed-exitcode", env=ENVS)  # clean; the entry is now a no-op


@pytest.mark.e2e
def test_import_by_name_adopts_a_different_object_in_each_environment(run, sandbox, tmp_path: Path) -> None:
    made = {}
    for env, key in (("dev", "key-dev"), ("prod", "key-prod")):
        with sandbox_client(sandbox, key) as c:
            made[env] = c.post("/assistant", json={"name": "Support Desk", "firstMessage": "Old"}).json()[
                "id"
            ]
    root = tmp_path / "p"
    write(
        root,
        CONFIG + 'import:\n  - {to: assistant/support, name: "Support Desk"}\n',
        TOOL_AND_ASSISTANT.format(tool="availability"),
    )
    plan = json.loads(run("plan", root, "--env", "prod", "--format", "json", code=None, env=ENVS).stdout)
    assert plan["imported"] == [
        {"address": "assistant/support", "id": made["prod"], "by": "name 'Support Desk'"}
    ]
    assert {c["address"]: c["action"] for c in plan["changes"]} == {
        "tool/availability": "create",
        "assistant/support": "update",
    }
    for env in ("dev", "prod"):
        sandbox.clear_requests()
        run("apply", root, "--env", env, "--auto-approve", env=ENVS)
        assert state_ids(root, env)["assistant/support"] == made[env]
        assert [m for m, _ in calls(sandbox)] == ["POST", "PATCH"]  # the tool, then the adopted assistant
        run("plan", root, "--env", env, "--detailed-exitcode", env=ENVS)
    assert made["dev"] != made["prod"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("live_names", "block", "expected"),
    [
        (
            [],
            '{to: assistant/support, name: "Support Desk"}',
            "no live assistant named 'Support Desk' in environment 'dev'",
        ),
        (
            ["Support Desk", "Support Desk"],
            '{to: assistant/support, name: "Support Desk"}',
            "2 live assistant named",
        ),
        (
            ["Support Desk"],
            '{to: assistant/other, name: "Support Desk"}',
            "assistant/other has no manifest in environment 'dev'",
        ),
        (
            [],
            "{to: assistant/support, id: {dev: 00000000-0000-4000-8000-000000000000}}",
            "no live assistant with id",
        ),
    ],
    ids=["missing", "ambiguous", "no manifest", "unknown id"],
)
def test_an_import_that_cannot_apply_is_a_located_error_and_sends_nothing(
    run, sandbox, tmp_path: Path, live_names, block, expected
) -> None:
    for name in live_names:
        with sandbox_client(sandbox, "key-dev") as c:
            c.post("/assistant", json={"name": name}).raise_for_status()
    root = tmp_path / "p"
    write(root, CONFIG + f"import:\n  - {block}\n", TOOL_AND_ASSISTANT.format(tool="availability"))
    sandbox.clear_requests()
    for command in (("plan",), ("apply", "--auto-approve")):
        assert_one_error(run(*command, root, "--env", "dev", code=1, env=ENVS), "vapiops.yaml:5", expected)
    assert writes(sandbox) == []


@pytest.mark.e2e
def test_a_delete_and_create_with_the_same_body_hints_at_moved(run, proj) -> None:
    proj.put(doc("tool", "old-name", function_tool("lookup")))
    run("apply", proj.root, "--auto-approve")
    proj.drop("tool/old-name").put(doc("tool", "new-name", function_tool("lookup")))
    text = run("plan", proj.root).stdout
    assert "add `moved: [{from: tool/old-name, to: tool/new-name}]` to vapiops.yaml" in text


# -- vapiops.yaml: the blocks are checked, each problem located ------------------------------------------

BAD_BLOCKS = {
    "moved not a list": ("moved: {from: tool/a}\n", 4, "`moved` must be a list"),
    "moved kind change": ("moved:\n  - {from: tool/a, to: assistant/a}\n", 5, "different kinds"),
    "moved unknown kind": (
        "moved:\n  - {from: tol/a, to: tool/a}\n",
        5,
        "unknown kind 'tol' (did you mean 'tool'?)",
    ),
    "moved bad key": (
        "moved:\n  - {form: tool/a, to: tool/b}\n",
        5,
        "unknown key 'form' (did you mean 'from'?)",
    ),
    "moved twice": (
        "moved:\n  - {from: tool/a, to: tool/b}\n  - {from: tool/a, to: tool/c}\n",
        6,
        "moved twice",
    ),
    "import both": ("import:\n  - {to: tool/a, name: x, id: y}\n", 5, "exactly one of `name`"),
    "import unknown env": (
        "import:\n  - {to: tool/a, id: {prd: x}}\n",
        5,
        "unknown environment 'prd' (did you mean 'prod'?)",
    ),
    "import not address": ("import:\n  - {to: support, name: x}\n", 5, "is not an address"),
}


@pytest.mark.parametrize("case", BAD_BLOCKS)
def test_bad_refactor_blocks_are_located_errors(tmp_path: Path, case: str) -> None:
    text, line, expected = BAD_BLOCKS[case]
    (tmp_path / "vapiops.yaml").write_text(CONFIG + text)
    (tmp_path / "resources").mkdir()
    with pytest.raises(ManifestError) as info:
        load_project(tmp_path)
    assert info.value.where is not None and info.value.where.line == line, str(info.value)
    assert expected in str(info.value)


@pytest.mark.e2e
def test_import_command_refuses_an_address_with_no_manifest(run, proj, sandbox) -> None:
    proj.put(doc("tool", "lookup", function_tool("lookup")))
    run("apply", proj.root, "--auto-approve")
    obj_id = proj.ids()["tool/lookup"]
    run("state", "rm", "tool/lookup", proj.root)
    result = run("import", "tool/lookpu", obj_id, proj.root, code=1)
    assert_one_error(
        result, None, "tool/lookpu (did you mean 'tool/lookup'?) has no manifest in environment 'default'"
    )
    assert "tool/lookup" not in proj.ids()
    run("import", "tool/lookup", obj_id, proj.root)
    assert proj.ids() == {"tool/lookup": obj_id}


@pytest.mark.e2e
def test_destroy_ignores_the_refactor_blocks(run, sandbox, tmp_path: Path) -> None:
    with sandbox_client(sandbox, "key-dev") as c:
        c.post("/assistant", json={"name": "Support Desk"}).raise_for_status()
    root = tmp_path / "p"
    write(
        root,
        CONFIG + 'import:\n  - {to: assistant/support, name: "Support Desk"}\n'
        "moved:\n  - {from: tool/old, to: tool/availability}\n",
        TOOL_AND_ASSISTANT.format(tool="availability"),
    )
    run("apply", root, "--env", "dev", "--auto-approve", env=ENVS)
    result = run("destroy", root, "--env", "dev", "--auto-approve", env=ENVS)
    assert "Destroy complete! Resources: 2 destroyed." in result.stderr
    assert sandbox.objects("assistant", "key-dev") == [] and state_ids(root, "dev") == {}
