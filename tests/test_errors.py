"""Bad input gets one clear error and loses nothing: the CLI's error paths, end to end.

The real CLI (click's CliRunner, and `python -m vapiops` for the entry point) against the sandbox
on 127.0.0.1. Every broken project must give exit 1, one error block on stderr that starts with
"Error:", names the file:line (or the address / variable) and says what to do, no traceback
unless asked for, nothing on stdout, and no request at all. API failures must leave a state file
that loads and holds exactly what was done.
"""

from __future__ import annotations

import _thread
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import free_port, sandbox_cli, write_files, writes

from vapiops import __version__
from vapiops.cli.commands import cli
from vapiops.client import VapiClient
from vapiops.flows import context
from vapiops.sandbox import SandboxServer
from vapiops.state import LocalBackend

KEY = "test-key-5c81d2e0a7f3"  # distinctive, so a scan for it cannot match by accident
SECRET_TEXT = "dotenv-secret-9e47b1c2"  # in a hidden file include() must refuse to read
OUTSIDE_TEXT = "outside-the-project-3a6f"  # in a file outside the project, reached by a symlink

TOOLS = """
kind: tool
name: hangup
spec:
  type: endCall
---
kind: tool
name: lookup
spec:
  type: function
  function:
    name: lookup
    description: Look up an order.
"""

ASSISTANT = """
kind: assistant
name: support
spec:
  firstMessage: Hi, this is support.
  model:
    provider: openai
    model: gpt-4o
    toolIds: [hangup, lookup]
"""

MULTI_ENV = """
environments:
  dev: {api_key_env: VAPI_API_KEY_DEV}
  prod: {api_key_env: VAPI_API_KEY_PROD}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A valid two-kind project (no vapiops.yaml: one `default` environment)."""
    root = tmp_path / "proj"
    write_files(root, {"resources/tools.yaml": TOOLS, "resources/assistant.yaml": ASSISTANT})
    (tmp_path / "outside.md").write_text(OUTSIDE_TEXT)
    return root


@pytest.fixture
def run(sandbox):
    """Invoke the CLI against the sandbox: run(*args, code=1, env={...}) -> Result."""
    # Unset, so a developer's own debug switch or keys cannot change what these tests see.
    return sandbox_cli(sandbox, KEY, env={"VAPIOPS_DEBUG": None, "VAPI_API_KEY_DEV": None,
                                          "VAPI_API_KEY_PROD": None, "VAPIOPS_UNSET_SECRET": None})


def assert_one_error(result: Result, where: str | None, *expected: str) -> str:
    """Exit 1, nothing on stdout, one error block on stderr naming `where` and saying each of `expected`."""
    assert result.exit_code == 1, result.stderr
    assert result.stdout == "", result.stdout
    err = result.stderr
    assert err.startswith("Error: "), err
    lines = err.rstrip("\n").split("\n")
    # One logical block: further lines (several problems of one validation) are indented under it.
    assert all(line.startswith("  ") for line in lines[1:]), err
    assert "Traceback" not in err
    if where is not None:
        assert where in lines[0] or any(line.lstrip().startswith(where) for line in lines[1:]), err
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    assert KEY not in err
    return err


def state_of(root: Path, env: str = "default") -> LocalBackend:
    return LocalBackend(root / ".vapiops" / "state" / f"{env}.json", env)


def live_ids(sandbox, kind: str) -> set[str]:
    return {o["id"] for o in sandbox.objects(kind, KEY)}


# ---------------------------------------------------------------------------------------------
# 1. Broken projects: one located error, exit 1, and not a single request


def bad_doc(spec_lines: str, kind: str = "assistant", name: str = "bad") -> str:
    return f"kind: {kind}\nname: {name}\nspec:\n{spec_lines}"


ALL = ("validate", "plan", "apply")
LIVE = ("plan", "apply")  # validate is offline: environments and keys do not concern it

# case -> (files to add, extra args, commands, where, what is said (the problem and what to do))
CASES: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]] = {
    "yaml syntax": ({"resources/bad.yaml": "kind: tool\nname: x\nspec: {type: endCall\n"}, (), ALL,
                    "resources/bad.yaml:4", ("invalid YAML", "started at line 3", "expected ',' or '}'")),
    "tab indentation": ({"resources/bad.yaml": "kind: tool\nname: x\nspec:\n\ttype: endCall\n"}, (), ALL,
                        "resources/bad.yaml:4", ("tab character", "replace the tab")),
    "duplicate key": ({"resources/bad.yaml": "kind: tool\nname: x\nname: y\nspec: {type: endCall}\n"}, (), ALL,
                      "resources/bad.yaml:3", ("duplicate key 'name' (first at line 2)", "keep only one")),
    "unknown kind": ({"resources/bad.yaml": "kind: asistant\nname: x\nspec: {}\n"}, (), ALL,
                     "resources/bad.yaml:1", ("unknown kind 'asistant'", "did you mean 'assistant'?",
                                              "one of: assistant, tool, squad")),
    "bad name": ({"resources/bad.yaml": "kind: tool\nname: 'bad name!'\nspec: {type: endCall}\n"}, (), ALL,
                 "resources/bad.yaml:2", ("invalid name 'bad name!'", "use letters, digits")),
    "missing spec": ({"resources/bad.yaml": "kind: tool\nname: x\n"}, (), ALL,
                     "resources/bad.yaml:1", ("missing `spec`", "write `spec: {}`")),
    "unknown wrapper key": ({"resources/bad.yaml": "kind: tool\nname: x\nspec: {type: endCall}\nlifecycles: {}\n"},
                            (), ALL, "resources/bad.yaml:4",
                            ("unknown key 'lifecycles'", "did you mean 'lifecycle'?", "allowed: kind, name")),
    "spec is a list": ({"resources/bad.yaml": "kind: tool\nname: x\nspec:\n  - type: endCall\n"}, (), ALL,
                       "resources/bad.yaml:3", ("`spec` must be a mapping, not a list",)),
    "unknown property": ({"resources/bad.yaml": bad_doc("  firstMesage: hi\n")}, (), ALL,
                         "resources/bad.yaml:4", ("firstMesage should not exist", "did you mean 'firstMessage'?")),
    "bad enum": ({"resources/bad.yaml": bad_doc("  firstMessageMode: sometimes\n")}, (), ALL,
                 "resources/bad.yaml:4", ("'sometimes' is not one of the allowed values", "assistant-waits-for-user")),
    "wrong type": ({"resources/bad.yaml": bad_doc("  maxDurationSeconds: long\n")}, (), ALL,
                   "resources/bad.yaml:4", ("maxDurationSeconds", "expected number, got string")),
    "unknown reference": ({"resources/bad.yaml": bad_doc("  model:\n    provider: openai\n    model: gpt-4o\n"
                                                         "    toolIds: [hangpu]\n")}, (), ALL,
                          "resources/bad.yaml:7", ("'hangpu' is not the name of a tool manifest",
                                                   "did you mean 'hangup'?", "known tool names: hangup, lookup")),
    "template syntax": ({"resources/bad.yaml": bad_doc('  firstMessage: "${{ vars.a + }}"\n')}, (), ALL,
                        "resources/bad.yaml:4", ("template error in spec.firstMessage", "syntax error")),
    "undefined var": ({"resources/bad.yaml": bad_doc('  firstMessage: "${{ vars.nope }}"\n')}, (), ALL,
                      "resources/bad.yaml:4", ("'vars' has no attribute 'nope'", "defined vars: none")),
    "missing secret": ({"resources/bad.yaml": bad_doc("  firstMessage: \"${{ secret('VAPIOPS_UNSET_SECRET') }}\"\n")},
                       (), ALL, "resources/bad.yaml:4",
                       ("secret VAPIOPS_UNSET_SECRET is not set", "export VAPIOPS_UNSET_SECRET=")),
    "include ../": ({"resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('../outside.md') }}\"\n")},
                    (), ALL, "resources/bad.yaml:4", ("include('../outside.md')", "leads outside the project root")),
    "include absolute": ({"resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('/etc/hostname') }}\"\n")},
                         (), ALL, "resources/bad.yaml:4",
                         ("absolute paths are not allowed", "relative to the project root")),
    "include symlink escape": ({"prompts/link.md": "-> ../../outside.md",
                                "resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('prompts/link.md') }}\"\n")},
                               (), ALL, "resources/bad.yaml:4", ("leads outside the project root",)),
    "include hidden file": ({".env": f"TOKEN={SECRET_TEXT}\n",
                             "resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('.env') }}\"\n")},
                            (), ALL, "resources/bad.yaml:4", ("hidden files and folders are not allowed",)),
    "include missing file": ({"resources/bad.yaml": bad_doc("  firstMessage: \"${{ include('prompts/no.md') }}\"\n")},
                             (), ALL, "resources/bad.yaml:4", ("no such file in the project",)),
    "sandbox escape": ({"resources/bad.yaml": bad_doc("  firstMessage: \"${{ ''.__class__.__mro__ }}\"\n")},
                       (), ALL, "resources/bad.yaml:4", ("unsafe", "templates are sandboxed")),
    "config unknown key": ({"vapiops.yaml": "resource: [resources]\n"}, (), ALL,
                           "vapiops.yaml:1", ("unknown key 'resource'", "did you mean 'resources'?",
                                              "allowed: resources, state_dir")),
    "config bad env name": ({"vapiops.yaml": "environments:\n  'pro d': {}\n"}, (), ALL,
                            "vapiops.yaml:2", ("invalid environment name 'pro d'", "use letters, digits")),
    "config vars not a mapping": ({"vapiops.yaml": "environments:\n  dev:\n    vars: [1, 2]\n"}, (), ALL,
                                  "vapiops.yaml:3", ("`vars` must be a mapping, not a list",)),
    "config key variable not a string": ({"vapiops.yaml": "environments:\n  dev:\n    api_key_env: 7\n"}, (), ALL,
                                         "vapiops.yaml:3", ("`api_key_env` must be a non-empty string, not a number",)),
    "config invalid YAML": ({"vapiops.yaml": "environments: {dev: \n"}, (), ALL,
                            "vapiops.yaml:2", ("invalid YAML",)),
    "--env unknown": ({"vapiops.yaml": MULTI_ENV}, ("--env", "prd"), ALL,
                      "unknown environment 'prd'", ("did you mean 'prod'?", "known: dev, prod", "--env")),
    "several envs, no --env": ({"vapiops.yaml": MULTI_ENV}, (), LIVE,
                               "several environments (dev, prod)", ("pass --env NAME",)),
    "missing API key variable": ({"vapiops.yaml": MULTI_ENV}, ("--env", "dev"), LIVE,
                                 "VAPI_API_KEY_DEV is not set", ("environment 'dev'", "export VAPI_API_KEY_DEV=")),
}

COMMAND_ARGS = {"validate": ("validate",), "plan": ("plan",), "apply": ("apply", "--auto-approve")}


@pytest.mark.parametrize(("case", "command"), [(c, cmd) for c in CASES for cmd in CASES[c][2]])
def test_broken_project_is_one_located_error_and_sends_nothing(project, run, sandbox, case, command):
    files, extra, _commands, where, expected = CASES[case]
    write_files(project, files)
    result = run(*COMMAND_ARGS[command], project, *extra, code=1)
    err = assert_one_error(result, where, *expected)
    assert SECRET_TEXT not in err and OUTSIDE_TEXT not in err  # refused files are never read into output
    assert sandbox.requests == []
    assert not list(project.glob(".vapiops/state/*.json*"))  # no state written, not even an empty one


def test_several_problems_are_one_block_listing_each(project, run, sandbox):
    write_files(project, {"resources/bad.yaml": "kind: tool\nname: x\nspecs: {type: endCall}\n",
                          "resources/worse.yaml": "kind: tool\nname: -y\nspec: {type: endCall}\n"})
    err = assert_one_error(run("plan", project, code=1), "resources/bad.yaml:3",
                           "3 problems found:", "did you mean 'spec'?", "missing `spec`", "invalid name '-y'")
    assert [line.split(":")[0] for line in err.splitlines()[1:]] == [
        "  resources/bad.yaml", "  resources/bad.yaml", "  resources/worse.yaml"]
    assert sandbox.requests == []


def test_the_api_key_variable_is_needed_only_by_commands_that_call_the_api(project, run, sandbox):
    write_files(project, {"vapiops.yaml": MULTI_ENV})
    result = run("validate", project, "--env", "dev")
    assert result.stderr.startswith("Valid: 3 manifests") and result.stdout == ""
    for command in (("destroy", "--auto-approve"), ("import", "tool/hangup", "x"), ("export",)):
        assert_one_error(run(*command, project, "--env", "dev", code=1),
                         "VAPI_API_KEY_DEV is not set")
    assert sandbox.requests == []


def test_a_file_that_is_not_a_plan_file_is_refused(project, run, sandbox, tmp_path):
    for name, text in (("plan.json", '{"kind": "something-else"}'), ("garbage.plan", "not json at all")):
        path = tmp_path / name
        path.write_text(text)
        assert_one_error(run("apply", path, code=1), str(path), "not a vapiops plan file", "vapiops plan --out")
    damaged = tmp_path / "damaged.plan"
    damaged.write_text('{"kind": "vapiops-plan", "version": 1, "project_root": 5, "plan": []}')
    assert_one_error(run("apply", damaged, code=1), str(damaged), "damaged", "vapiops plan --out")
    assert sandbox.requests == []


def test_a_manifest_file_is_not_a_project_directory(project, run, sandbox):
    manifest = project / "resources" / "tools.yaml"
    assert_one_error(run("plan", manifest, code=1), str(manifest), "is a file, not a project directory",
                     "folder that holds vapiops.yaml")
    assert_one_error(run("plan", project / "nope", code=1), "does not exist", "check the PATH")
    # validate alone takes a manifest file: it checks the project holding it.
    assert run("validate", manifest).stderr.startswith("Valid: 3 manifests")
    assert sandbox.requests == []


def test_corrupt_state_names_the_file_and_the_backup(project, run, sandbox):
    run("apply", project, "--auto-approve")
    store = state_of(project)
    run("apply", project, "--auto-approve")  # a second save leaves the previous snapshot as .backup
    assert store.backup_path.exists()
    store.path.write_text('{"version": 1, "resour')
    sandbox.clear_requests()
    for command in (("plan",), ("apply", "--auto-approve"), ("state", "list")):
        assert_one_error(run(*command, project, code=1), str(store.path), "not valid JSON",
                         f"restore it from {store.backup_path}")
    assert writes(sandbox) == []
    assert store.path.read_text() == '{"version": 1, "resour'  # left as it was for the user to restore


def test_locked_state_names_the_holder(project, run, sandbox):
    store = state_of(project)
    store.lock_path.parent.mkdir(parents=True)
    holder = {"pid": 4242, "host": "ci-runner-7", "user": "alice", "started_at": "2024-05-01T12:00:00Z",
              "command": "apply"}
    store.lock_path.write_text(json.dumps(holder))
    for command in (("apply", "--auto-approve"), ("destroy", "--auto-approve"), ("state", "rm", "tool/hangup")):
        assert_one_error(run(*command, project, code=1), None,
                         "locked by alice@ci-runner-7 pid 4242", "(running: apply)", str(store.lock_path))
    assert writes(sandbox) == []
    assert json.loads(store.lock_path.read_text()) == holder  # another run's lock is never taken away


def test_usage_errors_exit_1_not_the_changes_pending_code(project, run, sandbox):
    # 2 means "changes pending" with --detailed-exitcode: a mistyped option must not read as drift.
    for args in (("plan", project, "--detailed-exitcode", "--format", "yaml"), ("plan", "--bogus"), ("bogus",)):
        result = run(*args, code=1)
        assert "Error:" in result.stderr and result.stdout == "" and "Traceback" not in result.stderr
    assert sandbox.requests == []


# ---------------------------------------------------------------------------------------------
# 2. API errors: one line with method, path, status and Vapi's message; state stays right


def test_rejected_key_names_the_environments_variable(project, run):
    write_files(project, {"vapiops.yaml": MULTI_ENV})
    with SandboxServer(api_key="the-only-good-key") as guarded:
        env = {"VAPI_BASE_URL": guarded.url, "VAPI_API_KEY_PROD": KEY}
        for command in (("plan",), ("apply", "--auto-approve")):
            err = assert_one_error(run(*command, project, "--env", "prod", code=1, env=env),
                                   "GET /", "failed with 401: Invalid Key", "VAPI_API_KEY_PROD")
            assert err.count("\n") == 1
        assert {r["status"] for r in guarded.requests} == {401}
        assert not writes(guarded)
    assert state_of(project, "prod").load().resources == {}


def test_import_of_an_unknown_id_is_a_404_with_a_hint(project, run, sandbox):
    run("apply", project, "--auto-approve")
    before = state_of(project).load().resources
    missing = "0d9c3a54-1f0e-4c44-9d38-7c1f3b5e2a10"
    run("state", "rm", "tool/hangup", project)
    assert_one_error(run("import", "tool/hangup", missing, project, code=1),
                     f"GET /tool/{missing} failed with 404", "Couldn't find tool", "check the ID")
    after = state_of(project).load().resources
    assert "tool/hangup" not in after and set(after) == set(before) - {"tool/hangup"}


def test_a_400_on_apply_keeps_what_succeeded_and_records_nothing_that_failed(project, run, sandbox):
    # allow_fields admits a field offline that this API (the sandbox, without allow_fields) rejects.
    write_files(project, {"vapiops.yaml": "allow_fields:\n  assistant: [backgroundDenoisingEnabled]\n"})
    path = project / "resources/assistant.yaml"
    path.write_text(path.read_text().replace("spec:\n", "spec:\n  backgroundDenoisingEnabled: true\n"))
    run("validate", project)
    result = run("apply", project, "--auto-approve", code=1)
    assert result.stderr.count("Error:") == 1 and "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if "failed:" in line and "assistant/support" in line]
    assert failed and all("POST /assistant failed with 400: property backgroundDenoisingEnabled should not exist"
                          in line for line in failed), result.stderr
    assert "run apply again" in result.stderr
    json.loads(state_of(project).path.read_text())  # a valid snapshot, not only a journal
    state = state_of(project).load()
    assert sorted(state.resources) == ["tool/hangup", "tool/lookup"]
    assert {e.id for e in state.resources.values()} == live_ids(sandbox, "tool")
    assert live_ids(sandbox, "assistant") == set()


def test_a_refused_create_leaves_no_intent(project, run, sandbox):
    sandbox.inject("POST", "/tool", 400, times=1)
    run("apply", project, "--auto-approve", "--parallelism", "1", code=1)
    assert state_of(project).load().intents == {}


def test_500s_exhausted_are_one_line_and_state_stays_loadable(project, run, sandbox):
    # Retry-After: 0 keeps the client's real retry logic without its waits.
    sandbox.inject("GET", "/assistant", 500, times=6, retry_after=0)
    err = assert_one_error(run("plan", project, code=1), "GET /assistant failed with 500",
                           "Internal Server Error", "gave up after 6 attempts")
    assert err.count("\n") == 1
    sandbox.clear_requests()
    sandbox.inject("POST", "/tool", 503, times=100, retry_after=0)
    result = run("apply", project, "--auto-approve", "--parallelism", "1", code=1)
    assert "POST /tool failed with 503: Service Unavailable (gave up after 6 attempts)" in result.stderr
    assert result.stderr.count("Error:") == 1 and "Traceback" not in result.stderr
    state = state_of(project).load()
    assert state.resources == {} and live_ids(sandbox, "tool") == set()
    # A POST that failed with a 5xx may have acted: it was looked for after each attempt.
    methods = [r["method"] for r in sandbox.requests if r["path"] == "/tool"]
    assert methods.count("POST") == 6 and methods.count("GET") >= 6


def test_unreachable_base_url_is_one_line(project, run, monkeypatch):
    monkeypatch.setattr(context, "VapiClient", functools.partial(VapiClient, sleep=lambda _s: None))
    url = f"http://127.0.0.1:{free_port()}"
    for command in (("plan",), ("apply", "--auto-approve"), ("import", "tool/hangup", "x")):
        err = assert_one_error(run(*command, project, code=1, env={"VAPI_BASE_URL": url}),
                               "GET /", f"could not reach {url}", "gave up after")
        assert err.count("\n") == 1
    assert state_of(project).load().resources == {}


# ---------------------------------------------------------------------------------------------
# 3. --debug and VAPIOPS_DEBUG=1 show the traceback for the same errors


DEBUG_CASES = ["yaml syntax", "unknown reference", "missing secret", "config unknown key", "missing API key variable"]


@pytest.mark.parametrize("case", DEBUG_CASES)
def test_debug_shows_the_traceback(project, run, sandbox, case):
    files, extra, _commands, where, _expected = CASES[case]
    write_files(project, files)
    plain = run("plan", project, *extra, code=1)
    assert "Traceback" not in plain.stderr
    for flags, env in (((("--debug",)), {}), ((), {"VAPIOPS_DEBUG": "1"})):
        result = run("plan", project, *extra, *flags, code=1, env=env)
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.endswith(plain.stderr)  # the same message, after the traceback
        assert result.stdout == ""
    assert "Traceback" not in run("plan", project, *extra, code=1, env={"VAPIOPS_DEBUG": "0"}).stderr
    assert sandbox.requests == []


def test_debug_shows_the_traceback_of_an_api_error(project, run, sandbox):
    sandbox.inject("GET", "/tool", 404, times=2)
    result = run("plan", project, "--debug", code=1)
    assert "Traceback (most recent call last)" in result.stderr and "ApiError" in result.stderr
    assert "Error: GET /tool failed with 404" in result.stderr and KEY not in result.stderr


# ---------------------------------------------------------------------------------------------
# 4. --help on every command


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += command_paths(command, prefix + (name,))
        else:
            found.append(prefix + (name,))
    return found


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
                assert "--env" in result.stdout or path[0] == "diff"  # diff takes two environments
                assert "--debug" in result.stdout


# ---------------------------------------------------------------------------------------------
# 5. stdout holds only what was asked for; progress and messages go to stderr


def test_json_plan_is_one_document_on_stdout(project, run, sandbox, tmp_path):
    run("apply", project, "--auto-approve")
    path = project / "resources/assistant.yaml"
    path.write_text(path.read_text().replace("Hi, this is support.", "Hello."))
    out = tmp_path / "saved.plan"
    result = run("plan", project, "--format", "json", "--out", out)
    doc = json.loads(result.stdout)  # exactly one document: extra text would fail to parse
    assert doc["summary"]["change"] == 1
    assert result.stdout.lstrip().startswith("{") and result.stdout.rstrip().endswith("}")
    assert f"Saved the plan to {out}" in result.stderr and "{" not in result.stderr


def test_apply_progress_goes_to_stderr_and_state_list_to_stdout(project, run, sandbox):
    result = run("apply", project, "--auto-approve")
    progress = [line for line in result.stderr.splitlines() if "created (id " in line]
    assert len(progress) == 3 and "created (id " not in result.stdout
    assert "Apply complete!" in result.stderr and "Apply complete!" not in result.stdout
    assert "will be created" in result.stdout  # the plan that was applied
    listing = run("state", "list", project)
    ids = {e.id for e in state_of(project).load().resources.values()}
    assert {line.split("\t")[1] for line in listing.stdout.splitlines()} == ids
    assert listing.stderr == ""


# ---------------------------------------------------------------------------------------------
# 6. The installed entry point behaves the same


def python_m(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAPI", "VAPIOPS"))}
    env["NO_COLOR"] = "1"
    return subprocess.run([sys.executable, "-m", "vapiops", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_python_m_vapiops_version_and_an_error(project):
    version = python_m("--version", cwd=project)
    assert version.returncode == 0 and __version__ in version.stdout and version.stderr == ""
    write_files(project, {"resources/bad.yaml": "kind: tool\nname: x\nspec:\n\ttype: endCall\n"})
    broken = python_m("validate", ".", cwd=project)
    assert broken.returncode == 1 and broken.stdout == ""
    assert broken.stderr.startswith("Error: resources/bad.yaml:4: invalid YAML: a tab character")
    assert broken.stderr.count("\n") == 1 and "Traceback" not in broken.stderr
    usage = python_m("plan", "--format", "yaml", cwd=project)
    assert usage.returncode == 1 and "Usage: vapiops plan" in usage.stderr and usage.stdout == ""


# ---------------------------------------------------------------------------------------------
# 7. Interrupted apply: exit 130, a clear message, state valid and holding what was done


def test_ctrl_c_during_apply_keeps_what_was_done(project, run, sandbox, monkeypatch):
    real_create = VapiClient.create
    calls: list[str] = []

    def create_then_ctrl_c(self, kind, body, **kwargs):
        obj = real_create(self, kind, body, **kwargs)
        calls.append(obj["id"])
        if len(calls) == 1:
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
        return obj

    monkeypatch.setattr(VapiClient, "create", create_then_ctrl_c)
    result = run("apply", project, "--auto-approve", "--parallelism", "1", code=130)
    assert "interrupted" in result.stderr and "recorded in state" in result.stderr
    assert "Traceback" not in result.stderr
    store = state_of(project)
    json.loads(store.path.read_text())
    state = store.load()
    assert [e.id for e in state.resources.values()] == calls == sorted(live_ids(sandbox, "tool"))
    assert not store.lock_path.exists()
    monkeypatch.setattr(VapiClient, "create", real_create)
    sandbox.clear_requests()
    run("apply", project, "--auto-approve")  # carries on: nothing created twice
    assert len([r for r in sandbox.requests if r["method"] == "POST"]) == 2
    assert len(live_ids(sandbox, "tool")) == 2 and len(live_ids(sandbox, "assistant")) == 1


def raise_keyboard_interrupt_after_first_create(monkeypatch) -> list[str]:
    real_create = VapiClient.create
    calls: list[str] = []

    def create(self, kind, body, **kwargs):
        if calls:
            raise KeyboardInterrupt
        obj = real_create(self, kind, body, **kwargs)
        calls.append(obj["id"])
        return obj

    monkeypatch.setattr(VapiClient, "create", create)
    return calls


def test_keyboard_interrupt_in_a_create_keeps_state_valid(project, run, sandbox, monkeypatch):
    calls = raise_keyboard_interrupt_after_first_create(monkeypatch)
    result = run("apply", project, "--auto-approve", "--parallelism", "1", code=None)
    assert result.exit_code in (1, 130) and "Traceback" not in result.stderr
    store = state_of(project)
    json.loads(store.path.read_text())
    state = store.load()
    assert [e.id for e in state.resources.values()] == calls == sorted(live_ids(sandbox, "tool"))
    assert "assistant/support" not in state.resources and not store.lock_path.exists()


def test_keyboard_interrupt_in_a_create_says_interrupted(project, run, sandbox, monkeypatch):
    raise_keyboard_interrupt_after_first_create(monkeypatch)
    result = run("apply", project, "--auto-approve", "--parallelism", "1", code=None)
    assert "interrupted" in result.stderr.lower()
