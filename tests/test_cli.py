"""The CLI (vapiops/cli): exit codes, one-line located errors, --debug, --help, colour, stdout vs stderr.

The real CLI (click's CliRunner, and `python -m vapiops` for the entry point) against the sandbox
on 127.0.0.1. Every broken project must give exit 1, one error block on stderr that starts with
"Error:", names the file:line (or the address / variable) and says what to do, no traceback
unless asked for, nothing on stdout, and no request at all. Tests that need no server or CLI run
(use_color) are unit tests; every other test here is marked e2e.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import (
    KEY,
    OUTSIDE_TEXT,
    assert_nothing_sent,
    assert_one_error,
    edit,
    error_lines,
    free_port,
    live_ids,
    repo_pythonpath,
    state_of,
    write_files,
    writes,
)

from vapiops import __version__
from vapiops.cli import cli
from vapiops.cli import options as cli_module
from vapiops.cli.options import use_color
from vapiops.client import VapiClient
from vapiops.flows import context
from vapiops.sandbox import SandboxServer
from vapiops.state import LocalBackend

# ---------------------------------------------------------------------------------------------
# Broken projects and state files: one located error, exit 1, and nothing sent


def bad_doc(spec_lines: str, kind: str = "assistant", name: str = "bad") -> str:
    return f"kind: {kind}\nname: {name}\nspec:\n{spec_lines}"


SECRET_TEXT = "dotenv-secret-9e47b1c2"  # in a hidden file include() must refuse to read


MULTI_ENV = """
environments:
  dev: {api_key_env: VAPI_API_KEY_DEV}
  prod: {api_key_env: VAPI_API_KEY_PROD}
"""


ALL = ("validate", "plan", "apply")


LIVE = ("plan", "apply")  # validate is offline: environments and keys do not concern it


# case -> (files to add, extra args, commands, where, what is said (the problem and what to do))
CASES: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]] = {
    "yaml syntax": (
        {"resources/bad.yaml": "kind: tool\nname: x\nspec: {type: endCall\n"},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("invalid YAML", "started at line 3", "expected ',' or '}'"),
    ),
    "tab indentation": (
        {"resources/bad.yaml": "kind: tool\nname: x\nspec:\n\ttype: endCall\n"},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("tab character", "replace the tab"),
    ),
    "duplicate key": (
        {"resources/bad.yaml": "kind: tool\nname: x\nname: y\nspec: {type: endCall}\n"},
        (),
        ALL,
        "resources/bad.yaml:3",
        ("duplicate key 'name' (first at line 2)", "keep only one"),
    ),
    "unknown kind": (
        {"resources/bad.yaml": "kind: asistant\nname: x\nspec: {}\n"},
        (),
        ALL,
        "resources/bad.yaml:1",
        ("unknown kind 'asistant'", "did you mean 'assistant'?", "one of: assistant, tool, squad"),
    ),
    "bad name": (
        {"resources/bad.yaml": "kind: tool\nname: 'bad name!'\nspec: {type: endCall}\n"},
        (),
        ALL,
        "resources/bad.yaml:2",
        ("invalid name 'bad name!'", "use letters, digits"),
    ),
    "missing spec": (
        {"resources/bad.yaml": "kind: tool\nname: x\n"},
        (),
        ALL,
        "resources/bad.yaml:1",
        ("missing `spec`", "write `spec: {}`"),
    ),
    "unknown wrapper key": (
        {"resources/bad.yaml": "kind: tool\nname: x\nspec: {type: endCall}\nlifecycles: {}\n"},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("unknown key 'lifecycles'", "did you mean 'lifecycle'?", "allowed: kind, name"),
    ),
    "spec is a list": (
        {"resources/bad.yaml": "kind: tool\nname: x\nspec:\n  - type: endCall\n"},
        (),
        ALL,
        "resources/bad.yaml:3",
        ("`spec` must be a mapping, not a list",),
    ),
    "unknown property": (
        {"resources/bad.yaml": bad_doc("  firstMesage: hi\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("firstMesage should not exist", "did you mean 'firstMessage'?"),
    ),
    "bad enum": (
        {"resources/bad.yaml": bad_doc("  firstMessageMode: sometimes\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("'sometimes' is not one of the allowed values", "assistant-waits-for-user"),
    ),
    "wrong type": (
        {"resources/bad.yaml": bad_doc("  maxDurationSeconds: long\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("maxDurationSeconds", "expected number, got string"),
    ),
    "unknown reference": (
        {
            "resources/bad.yaml": bad_doc(
                "  model:\n    provider: openai\n    model: gpt-4o\n    toolIds: [hangpu]\n"
            )
        },
        (),
        ALL,
        "resources/bad.yaml:7",
        (
            "'hangpu' is not the name of a tool manifest",
            "did you mean 'hangup'?",
            "known tool names: hangup, lookup",
        ),
    ),
    "template syntax": (
        {"resources/bad.yaml": bad_doc('  firstMessage: "${{ vars.a + }}"\n')},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("template error in spec.firstMessage", "syntax error"),
    ),
    "undefined var": (
        {"resources/bad.yaml": bad_doc('  firstMessage: "${{ vars.nope }}"\n')},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("'vars' has no attribute 'nope'", "defined vars: none"),
    ),
    "missing secret": (
        {"resources/bad.yaml": bad_doc("  firstMessage: \"${{ secret('VAPIOPS_UNSET_SECRET') }}\"\n")},
        (),
        LIVE,  # validate needs no secret values: a note, see test_validate_notes_unset_secrets
        "resources/bad.yaml:4",
        ("secret VAPIOPS_UNSET_SECRET is not set", "export VAPIOPS_UNSET_SECRET="),
    ),
    "include ../": (
        {"resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('../outside.md') }}\"\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("include('../outside.md')", "leads outside the project root"),
    ),
    "include absolute": (
        {"resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('/etc/hostname') }}\"\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("absolute paths are not allowed", "relative to the project root"),
    ),
    "include symlink escape": (
        {
            "prompts/link.md": "-> ../../outside.md",
            "resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('prompts/link.md') }}\"\n"),
        },
        (),
        ALL,
        "resources/bad.yaml:4",
        ("leads outside the project root",),
    ),
    "include hidden file": (
        {
            ".env": f"TOKEN={SECRET_TEXT}\n",
            "resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('.env') }}\"\n"),
        },
        (),
        ALL,
        "resources/bad.yaml:4",
        ("hidden files and folders are not allowed",),
    ),
    "include missing file": (
        {"resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('prompts/no.md') }}\"\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("no such file in the project",),
    ),
    "sandbox escape": (
        {"resources/bad.yaml": bad_doc("  firstMessage: \"${{ ''.__class__.__mro__ }}\"\n")},
        (),
        ALL,
        "resources/bad.yaml:4",
        ("unsafe", "templates are sandboxed"),
    ),
    "config unknown key": (
        {"vapiops.yaml": "resource: [resources]\n"},
        (),
        ALL,
        "vapiops.yaml:1",
        ("unknown key 'resource'", "did you mean 'resources'?", "allowed: resources, state_dir"),
    ),
    "config bad env name": (
        {"vapiops.yaml": "environments:\n  'pro d': {}\n"},
        (),
        ALL,
        "vapiops.yaml:2",
        ("invalid environment name 'pro d'", "use letters, digits"),
    ),
    "config vars not a mapping": (
        {"vapiops.yaml": "environments:\n  dev:\n    vars: [1, 2]\n"},
        (),
        ALL,
        "vapiops.yaml:3",
        ("`vars` must be a mapping, not a list",),
    ),
    "config key variable not a string": (
        {"vapiops.yaml": "environments:\n  dev:\n    api_key_env: 7\n"},
        (),
        ALL,
        "vapiops.yaml:3",
        ("`api_key_env` must be a non-empty string, not a number",),
    ),
    "config invalid YAML": (
        {"vapiops.yaml": "environments: {dev: \n"},
        (),
        ALL,
        "vapiops.yaml:2",
        ("invalid YAML",),
    ),
    "--env unknown": (
        {"vapiops.yaml": MULTI_ENV},
        ("--env", "prd"),
        ALL,
        "unknown environment 'prd'",
        ("did you mean 'prod'?", "known: dev, prod", "--env"),
    ),
    "several envs, no --env": (
        {"vapiops.yaml": MULTI_ENV},
        (),
        LIVE,
        "several environments (dev, prod)",
        ("pass --env NAME",),
    ),
    "missing API key variable": (
        {"vapiops.yaml": MULTI_ENV},
        ("--env", "dev"),
        LIVE,
        "VAPI_API_KEY_DEV is not set",
        ("environment 'dev'", "export VAPI_API_KEY_DEV="),
    ),
}


COMMAND_ARGS = {"validate": ("validate",), "plan": ("plan",), "apply": ("apply", "--auto-approve")}


@pytest.mark.e2e
@pytest.mark.parametrize(("case", "command"), [(c, cmd) for c in CASES for cmd in CASES[c][2]])
def test_broken_project_is_one_located_error_and_sends_nothing(support_project, run, sandbox, case, command):
    files, extra, _commands, where, expected = CASES[case]
    write_files(support_project, files)
    result = run(*COMMAND_ARGS[command], support_project, *extra, code=1)
    err = assert_one_error(result, where, *expected)
    assert SECRET_TEXT not in err and OUTSIDE_TEXT not in err  # refused files are never read into output
    assert_nothing_sent(sandbox, command)
    # No state written, not even an empty one (the flocked lock file may stay: it holds no state).
    assert [p.name for p in support_project.glob(".vapiops/state/*.json*")] in ([], ["dev.json.lock"])


BAD_MANIFESTS = {
    "yaml": ("kind: tool\nname: broken\nspec:\n  type: endCall\n   async: true\n", "resources/bad.yaml:5"),
    "kind": (
        "kind: tool\nname: ok\nspec:\n  type: endCall\n---\nkind: robot\nname: r2\nspec: {}\n",
        "resources/bad.yaml:6",
    ),
    "schema": ("kind: assistant\nname: typo\nspec:\n  firstMesage: hi\n", "resources/bad.yaml:4"),
    "template": (
        'kind: assistant\nname: tpl\nspec:\n  firstMessage: "${{ nope }}"\n',
        "resources/bad.yaml:4",
    ),
    "missing secret": (
        "kind: assistant\nname: s\nspec:\n  firstMessage: \"${{ secret('NOT_SET_9') }}\"\n",
        "resources/bad.yaml:4",
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("case", "command"),
    [
        (case, command)
        for case in sorted(BAD_MANIFESTS)
        for command in [("validate",), ("plan",), ("apply", "--auto-approve")]
        # validate needs no secret values (a note): tests/test_validate.py
        if (case, command) != ("missing secret", ("validate",))
    ],
)
def test_bad_manifest_is_one_located_line_and_exit_1(base_project, run, sandbox, case, command):
    text, where = BAD_MANIFESTS[case]
    (base_project / "resources/bad.yaml").write_text(text)
    result = run(*command, base_project, code=1)
    # One problem, one located line; validation errors come under a "1 problem found:" heading.
    lines = error_lines(result)
    assert lines[0].startswith("Error: ") and len(lines) <= 2, result.stderr
    assert lines[-1].lstrip().startswith(where) or lines[-1].startswith(f"Error: {where}"), result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_sent(sandbox, command[0])  # refused before any write
    debug = run(*command, base_project, "--debug", code=1)
    assert "Traceback (most recent call last)" in debug.stderr
    assert where in debug.stderr


@pytest.mark.e2e
def test_several_problems_are_one_block_listing_each(support_project, run, sandbox):
    write_files(
        support_project,
        {
            "resources/bad.yaml": "kind: tool\nname: x\nspecs: {type: endCall}\n",
            "resources/worse.yaml": "kind: tool\nname: -y\nspec: {type: endCall}\n",
        },
    )
    err = assert_one_error(
        run("plan", support_project, code=1),
        "resources/bad.yaml:3",
        "3 problems found:",
        "did you mean 'spec'?",
        "missing `spec`",
        "invalid name '-y'",
    )
    assert [line.split(":")[0] for line in err.splitlines()[1:]] == [
        "  resources/bad.yaml",
        "  resources/bad.yaml",
        "  resources/worse.yaml",
    ]
    assert_nothing_sent(sandbox, "plan")


@pytest.mark.e2e
def test_the_api_key_variable_is_needed_only_by_commands_that_call_the_api(support_project, run, sandbox):
    write_files(support_project, {"vapiops.yaml": MULTI_ENV})
    result = run("validate", support_project, "--env", "dev")
    assert result.stderr.startswith("Valid: 3 manifests") and result.stdout == ""
    for command in (
        ("destroy", "--auto-approve"),
        ("import", "tool/hangup", "0d9c3a54-1f0e-4c44-9d38-7c1f3b5e2a10"),
        ("export",),
    ):
        assert_one_error(
            run(*command, support_project, "--env", "dev", code=1), "VAPI_API_KEY_DEV is not set"
        )
    assert sandbox.requests == []


@pytest.mark.e2e
def test_a_manifest_file_is_not_a_project_directory(support_project, run, sandbox):
    manifest = support_project / "resources" / "tools.yaml"
    assert_one_error(
        run("plan", manifest, code=1),
        str(manifest),
        "is a file, not a project directory",
        "folder that holds vapiops.yaml",
    )
    assert_one_error(run("plan", support_project / "nope", code=1), "does not exist", "check the PATH")
    # validate alone takes a manifest file: it checks the project holding it.
    assert run("validate", manifest).stderr.startswith("Valid: 3 manifests")
    assert sandbox.requests == []


@pytest.mark.e2e
def test_corrupt_state_names_the_file_and_the_backup(support_project, run, sandbox):
    run("apply", support_project, "--auto-approve")
    store = state_of(support_project)
    run("apply", support_project, "--auto-approve")  # a second save leaves the previous snapshot as .backup
    assert store.backup_path.exists()
    store.path.write_text('{"version": 1, "resour')
    sandbox.clear_requests()
    for command in (("plan",), ("apply", "--auto-approve"), ("state", "list")):
        assert_one_error(
            run(*command, support_project, code=1),
            str(store.path),
            "not valid JSON",
            f"restore it from {store.backup_path}",
        )
    assert writes(sandbox) == []
    assert store.path.read_text() == '{"version": 1, "resour'  # left as it was for the user to restore


@pytest.mark.e2e
def test_locked_state_names_the_holder(support_project, run, sandbox, monkeypatch):
    store = state_of(support_project)
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/voice")
    holder = LocalBackend(store.path, store.environment)  # another run (its own open file: flock conflicts)
    with holder.lock(who="apply") as info:
        for command in (
            ("apply", "--auto-approve"),
            ("destroy", "--auto-approve"),
            ("state", "rm", "tool/hangup"),
        ):
            assert_one_error(
                run(*command, support_project, code=1),
                None,
                f"locked by {info.user}@{info.host} pid {info.pid}",
                "(running: apply), CI run https://github.com/acme/voice/actions/runs/77",
                f"lock ID {info.id}",
                f"vapiops state unlock {info.id}",
            )
        assert writes(sandbox) == []
        assert json.loads(store.file_lock.holder_path.read_text())["id"] == info.id  # never taken away


# ---------------------------------------------------------------------------------------------
# Exit codes


@pytest.mark.e2e
def test_exit_codes_of_plan(base_project, run, sandbox):
    assert (
        run("plan", base_project, "--detailed-exitcode", code=2)
        .stdout.rstrip()
        .endswith("Plan: 4 to add, 0 to change, 0 to destroy.")
    )
    run("plan", base_project, code=0)  # changes, but no --detailed-exitcode
    run("apply", base_project, "--auto-approve")
    sandbox.clear_requests()
    for fmt in ("text", "markdown", "json"):
        run("plan", base_project, "--format", fmt, code=0)
        run("plan", base_project, "--format", fmt, "--detailed-exitcode", code=0)
    edit(base_project / "resources/base.yaml", "Hi, support here.", "Support, hi.")
    for fmt in ("text", "markdown", "json"):
        run("plan", base_project, "--format", fmt, "--detailed-exitcode", code=2)
    assert writes(sandbox) == []


@pytest.mark.e2e
def test_usage_errors_exit_1_not_the_changes_pending_code(support_project, run, sandbox):
    # 2 means "changes pending" with --detailed-exitcode: a mistyped option must not read as drift.
    for args in (
        ("plan", support_project, "--detailed-exitcode", "--format", "yaml"),
        ("plan", "--bogus"),
        ("bogus",),
    ):
        result = run(*args, code=1)
        assert "Error:" in result.stderr and result.stdout == "" and "Traceback" not in result.stderr
    assert sandbox.requests == []


@pytest.mark.e2e
@pytest.mark.parametrize("target", ["assistant/suport", "nonsense"])
def test_unknown_target_is_an_error(base_project, run, sandbox, target):
    result = run("plan", base_project, "--target", target, "--detailed-exitcode", code=None)
    assert result.exit_code == 1 and target in result.stderr


# ---------------------------------------------------------------------------------------------
# API errors: one line with method, path, status and Vapi's message


@pytest.mark.e2e
def test_rejected_key_names_the_environments_variable(support_project, run):
    with SandboxServer(api_key="the-only-good-key") as guarded:
        # The default environment's variable...
        err = assert_one_error(
            run("plan", support_project, code=1, env={"VAPI_BASE_URL": guarded.url}),
            "GET /",
            "failed with 401: Invalid Key",
            "VAPI_API_KEY",
        )
        assert err.count("\n") == 1
        # ...and a named environment's.
        write_files(support_project, {"vapiops.yaml": MULTI_ENV})
        env = {"VAPI_BASE_URL": guarded.url, "VAPI_API_KEY_PROD": KEY}
        for command in (("plan",), ("apply", "--auto-approve")):
            err = assert_one_error(
                run(*command, support_project, "--env", "prod", code=1, env=env),
                "GET /",
                "failed with 401: Invalid Key",
                "VAPI_API_KEY_PROD",
            )
            assert err.count("\n") == 1
        assert {r["status"] for r in guarded.requests} == {401}
        assert not writes(guarded)
    assert state_of(support_project, "prod").load().resources == {}


@pytest.mark.e2e
def test_import_of_an_unknown_id_is_a_404_with_a_hint(support_project, run, sandbox):
    run("apply", support_project, "--auto-approve")
    before = state_of(support_project).load().resources
    missing = "0d9c3a54-1f0e-4c44-9d38-7c1f3b5e2a10"
    run("state", "rm", "tool/hangup", support_project)
    assert_one_error(
        run("import", "tool/hangup", missing, support_project, code=1),
        f"GET /tool/{missing} failed with 404",
        "Couldn't find tool",
        "check the ID",
    )
    after = state_of(support_project).load().resources
    assert "tool/hangup" not in after and set(after) == set(before) - {"tool/hangup"}


@pytest.mark.e2e
def test_500s_exhausted_are_one_line_and_state_stays_loadable(support_project, run, sandbox):
    # Retry-After: 0 keeps the client's real retry logic without its waits.
    sandbox.inject("GET", "/assistant", 500, times=6, retry_after=0)
    err = assert_one_error(
        run("plan", support_project, code=1),
        "GET /assistant failed with 500",
        "Internal Server Error",
        "gave up after 6 attempts",
    )
    assert err.count("\n") == 1
    sandbox.clear_requests()
    sandbox.inject("POST", "/tool", 503, times=100, retry_after=0)
    result = run("apply", support_project, "--auto-approve", "--parallelism", "1", code=1)
    assert "POST /tool failed with 503: Service Unavailable (gave up after 6 attempts)" in result.stderr
    assert result.stderr.count("Error:") == 1 and "Traceback" not in result.stderr
    state = state_of(support_project).load()
    assert state.resources == {} and live_ids(sandbox, "tool") == set()
    # A POST that failed with a 5xx may have acted: it was looked for after each attempt.
    methods = [r["method"] for r in sandbox.requests if r["path"] == "/tool"]
    assert methods.count("POST") == 6 and methods.count("GET") >= 6


@pytest.mark.e2e
def test_unreachable_base_url_is_one_line(support_project, run, monkeypatch):
    monkeypatch.setattr(context, "VapiClient", functools.partial(VapiClient, sleep=lambda _s: None))
    url = f"http://127.0.0.1:{free_port()}"
    for command in (
        ("plan",),
        ("apply", "--auto-approve"),
        ("import", "tool/hangup", "0d9c3a54-1f0e-4c44-9d38-7c1f3b5e2a10"),
    ):
        err = assert_one_error(
            run(*command, support_project, code=1, env={"VAPI_BASE_URL": url}),
            "GET /",
            f"could not reach {url}",
            "gave up after",
        )
        assert err.count("\n") == 1
    assert state_of(support_project).load().resources == {}
    debug = run("plan", support_project, "--debug", code=1, env={"VAPI_BASE_URL": url})
    assert "Traceback (most recent call last)" in debug.stderr


@pytest.mark.e2e
def test_api_failure_during_apply_names_the_address(base_project, run, sandbox):
    run("apply", base_project, "--auto-approve")
    edit(base_project / "resources/base.yaml", "Hi, support here.", "Support, hi.")
    sandbox.inject("PATCH", "/assistant", 401)
    result = run("apply", base_project, "--auto-approve", code=1)
    failed = [ln for ln in error_lines(result) if "failed:" in ln and "assistant/support" in ln]
    assert failed and "401" in failed[0], result.stderr
    assert "Traceback" not in result.stderr and KEY not in result.stderr


# ---------------------------------------------------------------------------------------------
# --debug and VAPIOPS_DEBUG=1 show the traceback for the same errors


DEBUG_CASES = [
    "yaml syntax",
    "unknown reference",
    "missing secret",
    "config unknown key",
    "missing API key variable",
]


@pytest.mark.e2e
@pytest.mark.parametrize("case", DEBUG_CASES)
def test_debug_shows_the_traceback(support_project, run, sandbox, case):
    files, extra, _commands, where, _expected = CASES[case]
    write_files(support_project, files)
    plain = run("plan", support_project, *extra, code=1)
    assert "Traceback" not in plain.stderr
    for flags, env in (((("--debug",)), {}), ((), {"VAPIOPS_DEBUG": "1"})):
        result = run("plan", support_project, *extra, *flags, code=1, env=env)
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.endswith(plain.stderr)  # the same message, after the traceback
        assert result.stdout == ""
    assert "Traceback" not in run("plan", support_project, *extra, code=1, env={"VAPIOPS_DEBUG": "0"}).stderr
    assert_nothing_sent(sandbox, "plan")


@pytest.mark.e2e
def test_debug_shows_the_traceback_of_an_api_error(support_project, run, sandbox):
    sandbox.inject("GET", "/tool", 404, times=2)
    result = run("plan", support_project, "--debug", code=1)
    assert "Traceback (most recent call last)" in result.stderr and "ApiError" in result.stderr
    assert "Error: GET /tool failed with 404" in result.stderr and KEY not in result.stderr


# ---------------------------------------------------------------------------------------------
# --help on every command


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += command_paths(command, prefix + (name,))
        else:
            found.append(prefix + (name,))
    return found


@pytest.mark.e2e
def test_every_command_has_help():
    paths = command_paths(cli)
    assert ("state", "mv") in paths and ("plan",) in paths and len(paths) >= 13
    runner = CliRunner()
    for path in paths:
        for flag in ("--help", "-h"):
            result = runner.invoke(cli, [*path, flag], env={"NO_COLOR": "1"})
            assert result.exit_code == 0, (path, result.output)
            assert result.stdout.startswith("Usage: ") and result.stderr == ""
            if path:
                assert f" {path[-1]} " in result.stdout.splitlines()[0]
            leaf = cli
            for name in path:
                leaf = leaf.commands[name]  # type: ignore[attr-defined]
            if not isinstance(leaf, click.Group) and path[-1] != "sandbox":
                # diff takes two environments; init and show need no project environment.
                assert "--env" in result.stdout or path[0] in ("diff", "init", "show")
                assert "--debug" in result.stdout


# ---------------------------------------------------------------------------------------------
# stdout holds only what was asked for; progress and messages go to stderr


@pytest.mark.e2e
def test_json_plan_is_one_document_on_stdout(support_project, run, sandbox, tmp_path):
    run("apply", support_project, "--auto-approve")
    path = support_project / "resources/assistant.yaml"
    path.write_text(path.read_text().replace("Hi, this is support.", "Hello."))
    out = tmp_path / "saved.plan"
    result = run("plan", support_project, "--format", "json", "--out", out)
    doc = json.loads(result.stdout)  # exactly one document: extra text would fail to parse
    assert doc["summary"]["change"] == 1
    assert result.stdout.lstrip().startswith("{") and result.stdout.rstrip().endswith("}")
    assert f"Saved the plan to {out}" in result.stderr and "{" not in result.stderr


@pytest.mark.e2e
def test_apply_progress_goes_to_stderr_and_state_list_to_stdout(support_project, run, sandbox):
    result = run("apply", support_project, "--auto-approve")
    progress = [line for line in result.stderr.splitlines() if "created (id " in line]
    assert len(progress) == 3 and "created (id " not in result.stdout
    assert "Apply complete!" in result.stderr and "Apply complete!" not in result.stdout
    assert "will be created" in result.stdout  # the plan that was applied
    listing = run("state", "list", support_project)
    ids = {e.id for e in state_of(support_project).load().resources.values()}
    assert {line.split("\t")[1] for line in listing.stdout.splitlines()} == ids
    assert listing.stderr == ""


# ---------------------------------------------------------------------------------------------
# Colour


ANSI = "\x1b["


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


@pytest.mark.e2e
@pytest.mark.parametrize("terminal", [False, True])
def test_ansi_only_on_a_terminal_without_no_color(base_project, run, monkeypatch, terminal):
    if terminal:
        monkeypatch.setattr(cli_module, "sys", _TerminalSys())
    # color=True: click keeps whatever escapes vapiops writes, so only vapiops' own choice is tested.
    cases = [({}, (), terminal), ({"NO_COLOR": "1"}, (), False), ({}, ("--no-color",), False)]
    for env, extra, expected in cases:
        result = run("plan", base_project, *extra, env=env, color=True)
        assert "assistant/support" in result.stdout
        assert (f"{ANSI}32m+{ANSI}0m assistant/support" in result.stdout) is expected, (env, extra)
        assert (ANSI in result.stdout) is expected
        assert ANSI not in result.stderr
        # The last line is never coloured, so scripts can match it either way.
        assert result.stdout.rstrip().splitlines()[-1] == "Plan: 4 to add, 0 to change, 0 to destroy."
    # Machine formats never carry colour, terminal or not.
    for fmt in ("json", "markdown"):
        assert ANSI not in run("plan", base_project, "--format", fmt, color=True).stdout


@pytest.mark.e2e
def test_ansi_is_stripped_by_click_when_output_is_piped(base_project, run, monkeypatch):
    # Even if vapiops chose colour, click drops escapes on a stream that is not a terminal.
    monkeypatch.setattr(cli_module, "sys", _TerminalSys())
    assert ANSI not in run("plan", base_project).stdout


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


# ---------------------------------------------------------------------------------------------
# The installed entry point behaves the same


def python_m(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAPI", "VAPIOPS"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "vapiops", *map(str, args)],
        cwd=cwd,
        env=repo_pythonpath(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.e2e
def test_python_m_vapiops_version_and_an_error(support_project):
    version = python_m("--version", cwd=support_project)
    assert version.returncode == 0 and __version__ in version.stdout and version.stderr == ""
    write_files(support_project, {"resources/bad.yaml": "kind: tool\nname: x\nspec:\n\ttype: endCall\n"})
    broken = python_m("validate", ".", cwd=support_project)
    assert broken.returncode == 1 and broken.stdout == ""
    assert broken.stderr.startswith("Error: resources/bad.yaml:4: invalid YAML: a tab character")
    assert broken.stderr.count("\n") == 1 and "Traceback" not in broken.stderr
    usage = python_m("plan", "--format", "yaml", cwd=support_project)
    assert usage.returncode == 1 and "Usage: vapiops plan" in usage.stderr and usage.stdout == ""


def test_the_cli_collects_young_objects_every_50000_allocations_not_700(monkeypatch):
    """A command's loaded project is not re-scanned by the cycle collector as it grows
    (docs/performance.md); cycles are still collected."""
    from vapiops.cli.commands import GC_THRESHOLDS, main

    before = gc.get_threshold()
    monkeypatch.setattr("vapiops.cli.commands.cli.main", lambda **_: None)
    try:
        main(["--version"])
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] == 50_000 and gc.isenabled()
    finally:
        gc.set_threshold(*before)
