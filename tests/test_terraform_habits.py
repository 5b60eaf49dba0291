"""First-week Terraform habits, end to end: init, show, output, state list --json, --replace, did-you-mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import apply, assert_nothing_sent, assert_one_error, calls, doc, function_tool, run_cli, writes

from vapiops.flows.scaffold import WORKFLOWS

ROOT = Path(__file__).resolve().parents[1]


def tool_and_assistant(proj) -> None:
    proj.put(
        doc("tool", "lookup", function_tool("lookup")),
        doc(
            "assistant",
            "support",
            {
                "firstMessage": "Hi!",
                "model": {"provider": "openai", "model": "gpt-4o", "toolIds": ["lookup"]},
            },
        ),
    )


# -- init -------------------------------------------------------------------------------------------


def test_the_packaged_workflows_are_the_examples() -> None:
    shipped = {p.name: p.read_text() for p in WORKFLOWS.glob("*.yml")}
    examples = {p.name: p.read_text() for p in (ROOT / "examples" / "ci").glob("*.yml")}
    assert shipped == examples, "copy examples/ci/*.yml to vapiops/data/ci/"


@pytest.mark.e2e
def test_init_scaffolds_a_project_that_validates_and_keeps_existing_files(tmp_path: Path) -> None:
    target = tmp_path / "voice"
    result = run_cli("init", target, "--ci", "github")
    assert "created vapiops.yaml" in result.stderr
    for rel in ("vapiops.yaml", "resources/receptionist.yaml", "prompts/receptionist.md", ".gitignore"):
        assert (target / rel).is_file(), rel
    assert {".vapiops/", "*.plan"} <= set((target / ".gitignore").read_text().splitlines())
    workflows = sorted(p.name for p in (target / ".github" / "workflows").iterdir())
    assert workflows == sorted(f"vapiops-{p.name}" for p in WORKFLOWS.glob("*.yml"))
    # The environments the workflows name are the project's.
    config = yaml.safe_load((target / "vapiops.yaml").read_text())
    assert set(config["environments"]) == {"dev", "staging", "prod"}
    assert "Valid: 1 manifest" in run_cli("validate", target).stderr

    (target / "prompts" / "receptionist.md").write_text("mine\n")
    again = run_cli("init", target)
    assert "kept    prompts/receptionist.md (already there)" in again.stderr
    assert (target / "prompts" / "receptionist.md").read_text() == "mine\n"


@pytest.mark.e2e
def test_init_into_a_file_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert_one_error(run_cli("init", tmp_path / "f", code=1), str(tmp_path / "f"), "not a directory")


# -- show, output, state list --json --------------------------------------------------------------------


@pytest.mark.e2e
def test_show_renders_a_saved_plan_without_state_or_network(run, proj, tmp_path: Path) -> None:
    tool_and_assistant(proj)
    planfile = tmp_path / "p.plan"
    run("plan", proj.root, "--out", planfile)
    # No key, no base URL, another directory: show needs none of them.
    env = {"VAPI_API_KEY": None, "VAPI_BASE_URL": "http://127.0.0.1:9"}
    text = run_cli("show", planfile, "--no-color", env=env).stdout
    assert "+ assistant/support" in text and "Plan: 2 to add" in text
    as_json = json.loads(run_cli("show", planfile, "--format", "json", env=env).stdout)
    assert {c["address"] for c in as_json["changes"]} == {"tool/lookup", "assistant/support"}
    markdown = run_cli("show", planfile, "--format", "markdown", env=env).stdout
    assert markdown.startswith("### vapiops plan") and "assistant/support" in markdown
    assert_one_error(
        run_cli("show", proj.root / "resources" / "all.yaml", code=1, env=env), "all.yaml", "plan file"
    )


@pytest.mark.e2e
def test_output_and_state_list_json_map_addresses_to_ids(run, proj) -> None:
    tool_and_assistant(proj)
    empty = run("output", proj.root, "--json")
    assert json.loads(empty.stdout) == {} and "nothing applied yet" in empty.stderr
    listed = run("state", "list", proj.root)
    assert listed.stdout == "" and "No resources in the state of environment 'default'" in listed.stderr
    apply(run, proj)
    ids = proj.ids()
    assert json.loads(run("output", proj.root, "--json").stdout) == ids
    lines = run("output", proj.root).stdout.splitlines()
    assert lines == [
        f"assistant/support  {ids['assistant/support']}",
        f"tool/lookup        {ids['tool/lookup']}",
    ]
    as_list = json.loads(run("state", "list", proj.root, "--json").stdout)
    assert as_list == [{"address": a, "id": ids[a]} for a in sorted(ids)]


# -- --replace ----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_replace_recreates_an_unchanged_resource_and_repoints_dependents(run, proj, sandbox) -> None:
    tool_and_assistant(proj)
    apply(run, proj)
    before = proj.ids()
    plan = json.loads(run("plan", proj.root, "--replace", "tool/lookup", "--format", "json").stdout)
    [change] = [c for c in plan["changes"] if c["address"] == "tool/lookup"]
    assert (change["action"], change["reason"]) == ("replace", "replace requested")
    sandbox.clear_requests()
    apply(run, proj, "--replace", "tool/lookup")
    after = proj.ids()
    assert calls(sandbox) == [
        ("POST", "/tool"),
        ("PATCH", f"/assistant/{before['assistant/support']}"),
        ("DELETE", f"/tool/{before['tool/lookup']}"),
    ]
    assert after["tool/lookup"] != before["tool/lookup"]
    assert after["assistant/support"] == before["assistant/support"]
    run("plan", proj.root, "--detailed-exitcode")  # clean: the assistant points at the new tool


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("plan", "--target", "tool/lookpu"), "--target tool/lookpu (did you mean 'tool/lookup'?)"),
        (
            ("plan", "--replace", "assistant/suport"),
            "--replace assistant/suport (did you mean 'assistant/support'?)",
        ),
        (("apply", "--replace", "squad/desk"), "--replace squad/desk: no such resource in the manifests"),
    ],
)
def test_unknown_addresses_are_one_error_with_did_you_mean_and_send_nothing(
    run, proj, sandbox, args, expected
) -> None:
    tool_and_assistant(proj)
    assert_one_error(run(*args, proj.root, code=1), None, expected)
    assert writes(sandbox) == []
    assert calls(sandbox) == []


# -- finding the project, and an empty one ---------------------------------------------------------------


@pytest.mark.e2e
def test_vapiops_yaml_is_found_by_walking_up_from_the_working_directory(
    run, proj, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool_and_assistant(proj)
    (proj.root / "vapiops.yaml").write_text("environments: {default: {}}\n")
    deep = proj.root / "resources" / "nested"
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert "Valid: 2 manifests" in run("validate").stderr
    apply_result = run("apply", "--auto-approve")
    assert "Apply complete! Resources: 2 added" in apply_result.stderr
    assert (proj.root / ".vapiops" / "state" / "default.json").is_file()  # state beside vapiops.yaml
    # A repository's top ends the search, as for git.
    (deep / ".git").mkdir()
    assert_one_error(run("plan", code=1), None, "no manifests found under")


@pytest.mark.e2e
@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_plan_and_apply_with_no_manifests_and_empty_state_are_an_error(
    run, sandbox, tmp_path: Path, command
) -> None:
    (tmp_path / "empty").mkdir()
    result = run(*command, tmp_path / "empty", code=1)
    assert_one_error(result, None, f"no manifests found under {tmp_path / 'empty'}", "vapiops init")
    assert_nothing_sent(sandbox, command[0])


# -- smaller things --------------------------------------------------------------------------------------


def cli_with_stdin(sandbox, root: Path, *args: str, stdin: str):
    from click.testing import CliRunner
    from conftest import KEY

    from vapiops.cli.commands import cli

    env = {"VAPI_BASE_URL": sandbox.url, "VAPI_API_KEY": KEY, "NO_COLOR": "1"}
    return CliRunner().invoke(cli, [*args, str(root)], input=stdin, env=env)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("stdin", "code", "expected"),
    [
        ("yes\n", 0, "Apply complete! Resources: 2 added"),
        ("no\n", 1, "apply these changes cancelled"),
        ("", 1, "stdin gave no answer"),
    ],
    ids=["yes", "no", "nothing piped"],
)
def test_apply_reads_the_confirmation_from_stdin_when_it_is_not_a_terminal(
    run, proj, sandbox, stdin, code, expected
):
    tool_and_assistant(proj)
    result = cli_with_stdin(sandbox, proj.root, "apply", stdin=stdin)
    assert result.exit_code == code, result.stderr
    assert expected in result.stderr
    assert bool(proj.ids() if (proj.root / ".vapiops" / "state" / "default.json").exists() else {}) == (
        code == 0
    )


@pytest.mark.e2e
def test_destroy_force_skips_the_question_and_says_destroy_complete(run, proj, sandbox) -> None:
    tool_and_assistant(proj)
    apply(run, proj)
    result = cli_with_stdin(sandbox, proj.root, "destroy", "--force", stdin="")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.rstrip().endswith("Destroy complete! Resources: 2 destroyed.")
    assert proj.ids() == {}


@pytest.mark.e2e
def test_a_plan_file_for_another_environment_is_refused_with_that_reason_first(run, tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "resources").mkdir(parents=True)
    (root / "vapiops.yaml").write_text(
        "environments:\n  dev: {api_key_env: VAPI_API_KEY_DEV}\n  prod: {api_key_env: VAPI_API_KEY_PROD}\n"
    )
    (root / "resources" / "t.yaml").write_text(
        "kind: tool\nname: lookup\nspec: {type: function, function: {name: lookup}}\n"
    )
    keys = {"VAPI_API_KEY_DEV": "k-dev", "VAPI_API_KEY_PROD": "k-prod"}
    run("plan", root, "--env", "dev", "--out", tmp_path / "dev.plan", env=keys)
    result = run("apply", tmp_path / "dev.plan", "--env", "prod", code=1, env=keys)
    assert_one_error(result, "dev.plan", "this plan was made for environment 'dev', not 'prod'")


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [
        ("state", "show", "tool/lookpu"),
        ("state", "rm", "tool/lookpu"),
        ("state", "mv", "tool/lookpu", "tool/x"),
    ],
    ids=["show", "rm", "mv"],
)
def test_state_addresses_get_a_did_you_mean(run, proj, args) -> None:
    tool_and_assistant(proj)
    apply(run, proj)
    assert_one_error(
        run(*args, proj.root, code=1), None, "tool/lookpu is not in state (did you mean 'tool/lookup'?)"
    )
