"""The GitHub Action (action.yml) and the example workflows that use it, run for real.

action.yml is checked against the composite-action metadata schema (tests/fixtures), its
`vapiops` command lines against the CLI, and its shell steps are run verbatim, as a runner runs
them, for every workflow step that `uses:` it: against a sandbox on 127.0.0.1, with state in a
real S3-compatible server (moto) and `gh` answered by a stand-in for GitHub's comments API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from conftest import repo_pythonpath, sandbox_client
from servers import S3_CREDENTIALS, create_bucket, s3_server
from test_examples import (
    EXAMPLE_WORKFLOWS,
    PROJECT,
    ROOT,
    load_workflow,
    resolve_command,
    vapiops_invocations,
)

from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests

ACTION = ROOT / "action.yml"
ACTION_REF = re.compile(r"OWNER/vapiops@v\d+\.\d+\.\d+")
COMMANDS = {"validate", "plan", "apply", "drift", "pull"}
API_COMMANDS = {"plan", "apply", "drift", "pull"}


def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def action_steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(job id, job, step) of every workflow step that uses the vapiops action."""
    found = []
    for job_id, job in doc["jobs"].items():
        for step in job["steps"]:
            if "vapiops" in step.get("uses", ""):
                found.append((job_id, job, step))
    return found


# -- action.yml ---------------------------------------------------------------------------------------


def test_action_yml_is_a_valid_composite_action() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "composite-action.schema.json").read_text())
    doc = action()
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(doc)
    ]
    assert not errors, errors
    assert set(doc["outputs"]) >= {"exit-code", "has-changes", "plan-path"}
    assert set(doc["inputs"]) >= {"command", "environment", "working-directory", "args", "comment"}
    for step in doc["runs"]["steps"]:
        # Inputs reach scripts through env, never pasted in by ${{ }} (script injection).
        assert "${{" not in step.get("run", ""), step.get("name")


def test_the_schema_fixture_rejects_what_github_rejects() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "composite-action.schema.json").read_text())
    valid = action()
    no_shell = json.loads(json.dumps(valid))
    del no_shell["runs"]["steps"][1]["shell"]
    docker = {**valid, "runs": {**valid["runs"], "using": "docker"}}
    nameless = {k: v for k, v in valid.items() if k != "name"}
    for broken in (no_shell, docker, nameless):
        assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_the_action_installs_vapiops_from_its_own_checkout_only() -> None:
    install = next(s for s in action()["runs"]["steps"] if "pip install" in s.get("run", ""))
    assert '"$GITHUB_ACTION_PATH"' in install["run"] and "vapiops==" not in install["run"]


def test_every_vapiops_command_line_of_the_action_matches_the_cli() -> None:
    found = [
        args
        for step in action()["runs"]["steps"]
        for args in vapiops_invocations(step.get("run", ""))
        if args != ["--version"]
    ]
    assert {a[0] for a in found} >= {"validate", "plan", "apply"}
    for args in found:
        command, _, rest = resolve_command(args)
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {a for a in rest if a.startswith("--")} <= options, args
        if args[0] == "apply":
            assert "--auto-approve" in rest  # a runner has no terminal to answer


# -- the example workflows: they use the action, pinned, with the keys their environment reads -----------


@pytest.mark.parametrize("path", EXAMPLE_WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_use_the_pinned_action_and_install_nothing_by_name(path: Path) -> None:
    doc = load_workflow(path)
    text = path.read_text()
    assert "pip install" not in text and "vapiops==" not in text and "vapiops-state" not in text
    used = action_steps(doc)
    assert used, f"{path.name}: does not use the vapiops action"
    project = load_project(PROJECT)
    for _job_id, job, step in used:
        assert ACTION_REF.fullmatch(step["uses"]), step["uses"]
        command, env_name = step["with"]["command"], step["with"].get("environment")
        assert command in COMMANDS
        env = {**doc.get("env", {}), **job.get("env", {}), **step.get("env", {})}
        keys = {k for k in env if k.startswith("VAPI_API_KEY")}
        if command in API_COMMANDS:
            key_var = project.environments[env_name].api_key_env
            assert env.get(key_var) == f"${{{{ secrets.{key_var} }}}}", (path.name, step.get("name"))
            assert keys == {key_var}, f"{path.name}: a step for {env_name} gets {keys}"
        else:
            assert not keys, f"{path.name}: validate needs no key, and gets {keys}"


def test_the_workflows_cover_the_commands() -> None:
    commands = {s["with"]["command"] for p in EXAMPLE_WORKFLOWS for _, _, s in action_steps(load_workflow(p))}
    assert commands == COMMANDS


# -- running the action's steps verbatim -----------------------------------------------------------------

FAKE_GH = r"""
import json, os, subprocess, sys
store = os.environ["FAKE_GH_STORE"]
comments = json.load(open(store)) if os.path.exists(store) else []
args = sys.argv[1:]
assert args[0] == "api", args
method, jq, fields, path = "GET", None, {}, None
i = 1
while i < len(args):
    if args[i] == "--method": method = args[i + 1]; i += 2
    elif args[i] == "--jq": jq = args[i + 1]; i += 2
    elif args[i] == "-F": name, value = args[i + 1].split("=", 1); fields[name] = open(value[1:]).read() if value.startswith("@") else value; i += 2
    elif args[i] == "--paginate": i += 1
    else: path = args[i]; i += 1
if method == "GET":
    out = json.dumps(comments)
    print(subprocess.run(["jq", "-r", jq], input=out, capture_output=True, text=True, check=True).stdout if jq else out, end="")
elif method == "POST":
    comments.append({"id": len(comments) + 100, "body": fields["body"], "path": path})
elif method == "PATCH":
    cid = int(path.rsplit("/", 1)[1]); next(c for c in comments if c["id"] == cid)["body"] = fields["body"]
json.dump(comments, open(store, "w"))
"""


def _expression(expr: str, ctx: dict[str, Any]) -> Any:
    """A GitHub expression of the forms these files use: dotted names, 'strings', ==, !=, &&, ||, ( )."""
    out = []
    for token in re.findall(r"'[^']*'|&&|\|\||==|!=|[()]|[A-Za-z_][\w.-]*", expr):
        if token.startswith("'"):
            out.append(repr(token[1:-1]))
        elif token in ("&&", "||"):
            out.append({"&&": " and ", "||": " or "}[token])
        elif token in ("==", "!=", "(", ")"):
            out.append(token)
        else:
            value: Any = ctx
            for part in token.split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            out.append(repr(value))
    return eval("".join(out))  # noqa: S307 - only the tokens above, built here


def _substitute(text: Any, ctx: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", lambda m: str(_expression(m.group(1), ctx)), str(text))


class Runner:
    """A CI runner's workspace: the example project with S3 state, the secrets GitHub would pass."""

    def __init__(self, tmp: Path, base_url: str, s3_url: str):
        self.tmp, self.base_url, self.s3_url = tmp, base_url, s3_url
        self.root = tmp / "workspace"
        shutil.copytree(PROJECT, self.root, ignore=shutil.ignore_patterns(".vapiops"))
        # moto keeps its buckets per process, not per server: a bucket of its own for each test.
        bucket = f"vapiops-state-{uuid.uuid4().hex[:12]}"
        with (self.root / "vapiops.yaml").open("a") as config:  # docs/ci.md: the one line to add
            config.write(f"state: {{backend: s3, bucket: {bucket}, prefix: voice/, region: us-east-1}}\n")
        create_bucket(s3_url, bucket)
        self.secrets = {
            "VAPI_API_KEY_DEV": "key-dev",
            "VAPI_API_KEY_STAGING": "key-staging",
            "VAPI_API_KEY_PROD": "key-prod",
            "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        self.temp = tmp / "runner-temp"
        self.temp.mkdir()
        self.bin = tmp / "bin"
        self.bin.mkdir()
        pythonpath = repo_pythonpath(dict(os.environ))["PYTHONPATH"]
        self._script(
            "vapiops", f'#!/bin/sh\nPYTHONPATH="{pythonpath}" exec "{sys.executable}" -m vapiops "$@"\n'
        )
        # The install step runs verbatim; `python` records what it was asked to install.
        self._script("python", f'#!/bin/sh\necho "$@" >> "{tmp}/python-calls"\n')
        self._script("gh", f"#!{sys.executable}\n{FAKE_GH}")
        self.event = "pull_request"
        self.outputs: dict[str, dict[str, str]] = {}  # workflow step id -> its outputs

    def _script(self, name: str, text: str) -> None:
        (self.bin / name).write_text(text)
        (self.bin / name).chmod(0o755)

    def uses(self, workflow: str, job_id: str, name: str, **secrets: str) -> tuple[dict[str, str], str]:
        """Run a workflow step that uses the action: each of the action's steps as GitHub would.

        Returns the action's outputs and the stderr of its steps; raises when a step fails."""
        doc = load_workflow(ROOT / "examples" / "ci" / workflow)
        step = next(s for s in doc["jobs"][job_id]["steps"] if name in (s.get("name"), s.get("id")))
        meta = action()
        ctx: dict[str, Any] = {
            "github": {
                "event_name": self.event,
                "token": "gh-token",
                "event": {"pull_request": {"number": 7, "head": {"sha": "abcdef0123456789"}}},
            },
            "runner": {"temp": str(self.temp)},
            "secrets": {**self.secrets, **secrets},
        }
        workflow_ctx = {**ctx, "steps": {k: {"outputs": v} for k, v in self.outputs.items()}}
        given = {k: _substitute(v, workflow_ctx) for k, v in step.get("with", {}).items()}
        ctx["inputs"] = {
            k: given.get(k, _substitute(v.get("default", ""), ctx)) for k, v in meta["inputs"].items()
        }
        ctx["steps"] = {}
        step_env = {k: _substitute(v, workflow_ctx) for k, v in step.get("env", {}).items()}
        stderr = ""
        for inner in meta["runs"]["steps"]:
            if "uses" in inner or ("if" in inner and not _expression(inner["if"], ctx)):
                continue  # setup-python: the runner's own Python runs vapiops here
            output = self.tmp / "github_output"
            output.write_text("")
            env = {
                "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                "HOME": str(self.tmp),
                "GITHUB_ACTION_PATH": str(ROOT),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.tmp / "summary.md"),
                "GITHUB_REPOSITORY": "acme/voice",
                "RUNNER_TEMP": str(self.temp),
                "VAPI_BASE_URL": self.base_url,
                "VAPIOPS_S3_ENDPOINT_URL": self.s3_url,
                "FAKE_GH_STORE": str(self.tmp / "comments.json"),
                **{k: v for k, v in step_env.items() if v},  # GitHub sets "" for a missing secret
                **{k: _substitute(v, ctx) for k, v in inner.get("env", {}).items()},
            }
            cwd = self.root / _substitute(inner.get("working-directory", "."), ctx)
            done = subprocess.run(
                [inner["shell"], "--noprofile", "--norc", "-eo", "pipefail", "-c", inner["run"]],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            stderr += done.stderr
            got = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
            if "id" in inner:
                ctx["steps"][inner["id"]] = {"outputs": got}
            if done.returncode != 0:
                raise StepFailed(f"{workflow}: {name}: {inner.get('name', '')}", stderr + done.stdout)
        outputs = {k: _substitute(v["value"], ctx) for k, v in meta["outputs"].items()}
        if "id" in step:
            self.outputs[step["id"]] = outputs
        return outputs, stderr

    def comments(self) -> list[dict[str, Any]]:
        store = self.tmp / "comments.json"
        return json.loads(store.read_text()) if store.exists() else []


class StepFailed(Exception):
    pass


@pytest.fixture
def runner(tmp_path: Path, sandbox):
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    with s3_server() as s3_url:
        runner = Runner(tmp_path, sandbox.url, s3_url)
        seed_looked_up_objects(sandbox, runner.secrets)
        yield runner


def seed_looked_up_objects(sandbox, secrets: dict[str, str]) -> None:
    """What the staging and prod orgs have that the example only looks up (resources/lookups/): made
    in the dashboard, as the real orgs' are. A fresh sandbox org (dev's) has neither. The credential
    is POSTed with the org's key, as the dashboard does; a file is an upload, so it is seeded."""
    for env in ("STAGING", "PROD"):
        key = secrets[f"VAPI_API_KEY_{env}"]
        twilio = {
            "provider": "twilio",
            "name": "Twilio Main",
            "accountSid": "AC" + "0" * 32,
            "authToken": "t" * 32,
        }
        with sandbox_client(sandbox, key) as c:
            c.post("/credential", json=twilio).raise_for_status()
        sandbox.seed(
            "file",
            key,
            {"name": "returns-policy.md", "status": "done", "bytes": 1200, "purpose": "assistant"},
        )


@pytest.mark.e2e
def test_pull_request_validates_without_secrets_plans_comments_once_and_merge_applies(runner: Runner) -> None:
    # The project uses a per-environment template secret; the PR run has none of them set.
    (runner.root / "resources" / "hooks.yaml").write_text(
        "kind: tool\nname: notify\nspec:\n  type: function\n  function: {name: notify}\n"
        "  server:\n    url: https://hooks.example.com\n"
        "    headers: {Authorization: \"Bearer ${{ secret('HOOKS_TOKEN_' ~ env | upper) }}\"}\n"
    )
    wf = "plan-on-pull-request.yml"
    _, err = runner.uses(wf, "plan", "Validate (offline, every environment, no secrets needed)")
    assert (
        "secret('HOOKS_TOKEN_DEV'), secret('HOOKS_TOKEN_STAGING'), secret('HOOKS_TOKEN_PROD') not set" in err
    )
    assert f"Valid: {len(load_manifests(load_project(runner.root)))} manifests" in err
    assert (
        f"-m pip install --disable-pip-version-check --quiet {ROOT}[s3]"
        in (runner.tmp / "python-calls").read_text()
    )

    runner.secrets["HOOKS_TOKEN_STAGING"] = "s3cret-staging-token"
    out, _ = runner.uses(wf, "plan", "plan")
    assert (out["exit-code"], out["has-changes"]) == ("2", "true")
    assert Path(out["plan-path"]).is_file()
    [comment] = runner.comments()
    assert (
        comment["body"].startswith("<!-- vapiops-plan:staging -->") and "assistant/support" in comment["body"]
    )
    assert "s3cret-staging-token" not in comment["body"]

    # Merge: apply to staging, state in S3; the next PR plan updates the SAME comment: no changes.
    out, err = runner.uses("apply-on-merge.yml", "apply", "apply")
    assert out["exit-code"] == "0", err
    out, _ = runner.uses(wf, "plan", "plan")
    assert (out["exit-code"], out["has-changes"]) == ("0", "false")
    [comment] = runner.comments()
    assert "No changes" in comment["body"]

    # An error (no key) is reported in the comment, then fails the job.
    with pytest.raises(StepFailed, match="exited with 1"):
        runner.uses(wf, "plan", "plan", VAPI_API_KEY_STAGING="")
    [comment] = runner.comments()
    assert "failed at abcdef0" in comment["body"] and "VAPI_API_KEY_STAGING" in comment["body"]


@pytest.mark.e2e
def test_promote_applies_saved_plans_and_drift_reports_dashboard_edits(runner: Runner) -> None:
    runner.event = "workflow_dispatch"
    wf = "promote.yml"
    runner.uses(wf, "resolve", "Validate every environment before touching any")
    for env, plan_job, apply_job, apply_step in (
        ("dev", "dev", "dev", "Apply dev"),
        ("staging", "staging", "staging", "Apply staging"),
        ("prod", "plan-prod", "prod", "Apply the approved prod plan"),
    ):
        out, _ = runner.uses(wf, plan_job, f"Plan {env}")
        assert out["exit-code"] == "2"
        if env == "prod":  # upload-artifact / download-artifact between the two jobs
            (runner.temp / "approved").mkdir()
            shutil.copy(out["plan-path"], runner.temp / "approved" / "vapiops.plan")
        out, err = runner.uses(wf, apply_job, apply_step)
        assert out["exit-code"] == "0", err
    assert runner.comments() == []  # not a pull request: no comment

    drift = ("drift-nightly.yml", "drift", "drift")
    out, _ = runner.uses(*drift)
    assert (out["exit-code"], out["has-changes"]) == ("0", "false")
    # Someone edits prod in the dashboard: the nightly check reports it, markdown for the issue.
    client = httpx.Client(base_url=runner.base_url, headers={"Authorization": "Bearer key-prod"})
    with client:
        [support] = [a for a in client.get("/assistant").json() if a["name"] == "support"]
        client.patch(
            f"/assistant/{support['id']}", json={"firstMessage": "From the dashboard."}
        ).raise_for_status()
    out, _ = runner.uses(*drift)
    assert (out["exit-code"], out["has-changes"]) == ("2", "true")
    assert "assistant/support" in Path(out["markdown-path"]).read_text()
    with pytest.raises(StepFailed):  # vapiops failing fails the job instead of reporting "no drift"
        runner.uses(*drift, VAPI_API_KEY_PROD="")


def test_the_release_version_is_one_and_the_examples_pin_its_tag() -> None:
    """docs/releasing.md: pyproject, vapiops.__version__, CHANGELOG and the pinned examples agree."""
    from vapiops import __version__

    # tomllib is Python 3.11+: the suite runs on 3.10 too.
    assert re.search(r'(?m)^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text())[1] == __version__
    assert f"\n## {__version__}\n" in (ROOT / "CHANGELOG.md").read_text()
    for path in EXAMPLE_WORKFLOWS:
        for _, _, step in action_steps(load_workflow(path)):
            assert step["uses"] == f"OWNER/vapiops@v{__version__}", (path.name, step["uses"])
