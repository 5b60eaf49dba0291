"""The examples: support-desk validates in every environment, and the CI workflows call vapiops as it is.

The workflows are checked as YAML GitHub can load, and each `vapiops ...` command line in a run
script against the real click CLI (subcommands, flags, values). The example workflows call vapiops
through the Action (action.yml): tests/test_action.py runs its steps against a sandbox.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from vapiops import paths
from vapiops.cli.commands import cli
from vapiops.kinds import KINDS
from vapiops.model import address
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "support-desk"
EXAMPLE_WORKFLOWS = sorted((ROOT / "examples" / "ci").glob("*.y*ml"))
WORKFLOWS = EXAMPLE_WORKFLOWS + sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
MANIFEST_FILES = sorted((PROJECT / "resources").rglob("*.y*ml"))
# Commands that talk to the API: they need the environment's key.
API_COMMANDS = {"plan", "apply", "destroy", "import", "pull"}


# -- reading workflows ---------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path.name}: not a mapping"
    return doc


def triggers(doc: dict[str, Any]) -> Any:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True; GitHub reads it as "on".
    return doc.get("on", doc.get(True))


def steps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def find_step(doc: dict[str, Any], job_id: str, key: str) -> dict[str, Any]:
    """The step of `job_id` whose id or name is `key`."""
    found = [s for s in doc["jobs"][job_id]["steps"] if key in (s.get("id"), s.get("name"))]
    assert len(found) == 1, f"job {job_id}: {len(found)} steps named {key!r}"
    return found[0]


_SHELL_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def vapiops_invocations(script: str) -> list[list[str]]:
    """The argument lists of every `vapiops` command in a shell script (redirections left out)."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        line = re.sub(r"(?<=\s)\d+(?=>)", "", line)  # `2> file` -> `> file`: the fd is not an argument
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        command: list[str] = []
        for i, token in enumerate(tokens + [";"]):
            if token and set(token) <= set("();<>|&"):
                if "<" in token or ">" in token:
                    continue  # a redirection: its target follows and is skipped below
                words = [w for w in command if w is not None]
                while words and (words[0] in _SHELL_KEYWORDS or _ASSIGNMENT.match(words[0])):
                    words.pop(0)
                if words and words[0].rsplit("/", 1)[-1] == "vapiops":
                    found.append(words[1:])
                command = []
            elif (
                i > 0 and ("<" in tokens[i - 1] or ">" in tokens[i - 1]) and set(tokens[i - 1]) <= set("<>&")
            ):
                continue  # the target of a redirection
            else:
                command.append(token)
    return found


def workflow_invocations(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], list[str]]]:
    return [
        (job, step, args) for _, job, step in steps(doc) for args in vapiops_invocations(step.get("run", ""))
    ]


def resolve_command(args: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """Walk the click groups: (command, its subcommand names, the arguments left for it)."""
    command: click.Command = cli
    names: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"`vapiops {' '.join(args)}`: no subcommand"
        name = rest.pop(0)
        assert name in command.commands, (
            f"`vapiops {' '.join(args)}`: no subcommand {name!r} (has: {', '.join(sorted(command.commands))})"
        )
        command = command.commands[name]
        names.append(name)
    return command, names, rest


def option_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


# -- the workflows: YAML, commands, secrets --------------------------------------------------------


def test_there_are_workflows_to_check() -> None:
    names = {p.name for p in EXAMPLE_WORKFLOWS}
    assert {"plan-on-pull-request.yml", "apply-on-merge.yml", "drift-nightly.yml", "promote.yml"} <= names
    assert (ROOT / ".github" / "workflows" / "ci.yml") in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_github_actions_yaml(path: Path) -> None:
    doc = load_workflow(path)
    assert isinstance(doc.get("name"), str)
    assert triggers(doc), f"{path.name}: no `on:` triggers"
    assert isinstance(doc.get("jobs"), dict) and doc["jobs"]
    for job_id, job in doc["jobs"].items():
        assert job.get("runs-on"), f"{path.name}: job {job_id} has no runs-on"
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in doc["jobs"], f"{path.name}: job {job_id} needs unknown job {need}"
        assert job.get("steps"), f"{path.name}: job {job_id} has no steps"
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), (
                f"{path.name}: a step needs exactly one of run/uses: {step}"
            )
            if "run" in step:
                # Values reach scripts through env, never pasted in by ${{ }} (script injection).
                assert "${{" not in step["run"], (
                    f"{path.name}: ${{{{ }}}} inside a run script: {step['run']!r}"
                )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_vapiops_command_line_matches_the_cli(path: Path) -> None:
    doc = load_workflow(path)
    saved_plans = set()
    for _job, _step, args in workflow_invocations(doc):
        command, names, rest = resolve_command(args)
        options = {
            opt for p in command.params if isinstance(p, click.Option) for opt in p.opts + p.secondary_opts
        }
        for arg in rest:
            if arg.startswith("--"):
                flag = arg.split("=", 1)[0]
                assert flag in options, (
                    f"{path.name}: `vapiops {' '.join(args)}`: {flag} is not an option of `{' '.join(names)}` "
                    f"(has: {', '.join(sorted(options))})"
                )
        try:  # click's own parser: values of choices, option arity, number of arguments
            command.make_context(" ".join(["vapiops", *names]), list(rest))
        except click.ClickException as exc:
            pytest.fail(f"{path.name}: `vapiops {' '.join(args)}`: {exc.format_message()}")
        if names == ["plan"] and option_value(rest, "--out"):
            saved_plans.add(option_value(rest, "--out"))
        if names == ["apply"]:
            # CI has no terminal to answer the confirmation: auto-approve, or a saved, reviewed plan.
            positional = [
                a for a in rest if not a.startswith("-") and a not in (option_value(rest, "--env"),)
            ]
            assert "--auto-approve" in rest or set(positional) & saved_plans, (
                f"{path.name}: `vapiops {' '.join(args)}` would stop to ask for confirmation"
            )


def _walk(value: Any, where: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*where, i))
    else:
        yield where, value


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_reach_steps_only_as_env_variables(path: Path) -> None:
    doc = load_workflow(path)
    for where, value in _walk(doc):
        if isinstance(value, str) and "secrets." in value:
            assert len(where) >= 2 and where[-2] == "env", f"{path.name}: secret used outside env: {where}"
            assert re.fullmatch(r"\$\{\{ secrets\.[A-Z0-9_]+ \}\}", value), f"{path.name}: {where}: {value!r}"
    for _, _, step in steps(doc):
        # vapiops reads the key from its variable itself; a script never needs to touch it.
        assert "VAPI_API_KEY" not in step.get("run", ""), (
            f"{path.name}: a run script uses an API key variable"
        )


def test_project_ci_runs_the_ci_script_on_every_supported_python() -> None:
    doc = load_workflow(ROOT / ".github" / "workflows" / "ci.yml")
    on = triggers(doc)
    assert "push" in on and "pull_request" in on
    all_steps = [step for _, _, step in steps(doc)]
    uses = [s.get("uses", "") for s in all_steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    setup = [s for s in all_steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and setup[0]["with"]["python-version"] == "${{ matrix.python-version }}"
    (job,) = doc["jobs"].values()
    assert job["strategy"]["matrix"]["python-version"] == ["3.10", "3.11", "3.12", "3.13"]
    assert [s["run"].strip() for s in all_steps if "run" in s] == ["bash .ci/run"]
    assert (ROOT / ".ci" / "run").is_file()


def test_the_command_line_extractor_sees_through_shell_syntax() -> None:
    script = (
        "set +e\n"
        "A=1 vapiops plan --env dev --format markdown > plan.md 2> plan.err\n"
        'if vapiops validate --no-color; then echo "vapiops plan is a string here"; fi\n'
        "vapiops apply \\\n  --env prod --auto-approve | tee log 2>&1\n"
        "# vapiops destroy in a comment\n"
    )
    assert vapiops_invocations(script) == [
        ["plan", "--env", "dev", "--format", "markdown"],
        ["validate", "--no-color"],
        ["apply", "--env", "prod", "--auto-approve"],
    ]


# -- the example project ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    """Environment -> address -> rendered spec, exactly as `vapiops validate` checks them."""
    project = load_project(PROJECT)
    resources = load_manifests(project)
    return {
        env.name: {address(d.kind, d.name): d.spec for d in desired_resources(project, resources, env)}
        for env in project.environments.values()
    }


def test_the_project_validates_in_every_environment_and_uses_every_kind(rendered) -> None:
    assert set(rendered) == {"dev", "staging", "prod"}
    for env in ("staging", "prod"):
        assert {a.split("/")[0] for a in rendered[env]} == set(KINDS), env
    # Lookups find live objects, which a fresh sandbox (dev's quick start) does not have.
    lookups = {"credential/twilio-main", "file/returns-policy"}
    assert lookups <= set(rendered["staging"]) and not lookups & set(rendered["dev"])
    # `environments: [dev]` keeps the debug tool out of staging and prod.
    assert "tool/debug-echo" in rendered["dev"]
    assert "tool/debug-echo" not in rendered["staging"] and "tool/debug-echo" not in rendered["prod"]
    assert set(rendered["dev"]) - set(rendered["prod"]) == {"tool/debug-echo"}
    assert set(rendered["prod"]) - set(rendered["dev"]) == lookups


def test_vars_env_and_overrides_differ_per_environment(rendered) -> None:
    project = load_project(PROJECT)
    urls = {env: specs["tool/lookup-order"]["server"]["url"] for env, specs in rendered.items()}
    assert urls == {env: project.environments[env].vars["hooks_url"] + "/orders" for env in rendered}
    assert len(set(urls.values())) == 3
    for env, specs in rendered.items():
        assert specs["assistant/support"]["metadata"]["environment"] == env
    models = {env: specs["assistant/support"]["model"]["model"] for env, specs in rendered.items()}
    assert models["dev"] == models["staging"] != models["prod"]
    # The override is a deep merge: the prompt and the tools survive it.
    assert (
        rendered["prod"]["assistant/support"]["model"]["messages"]
        == rendered["dev"]["assistant/support"]["model"]["messages"]
    )
    assert (
        rendered["prod"]["assistant/support"]["model"]["toolIds"]
        == rendered["dev"]["assistant/support"]["model"]["toolIds"]
    )


def _references(specs: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Address -> addresses it references by name (from the kind registry's reference fields)."""
    edges: dict[str, set[str]] = {}
    for addr, spec in specs.items():
        kind = KINDS[addr.split("/")[0]]
        edges[addr] = {
            address(ref.target, value)
            for ref in kind.references
            for _, value in paths.find(spec, ref.pattern)
            if address(ref.target, value) in specs
        }
    return edges


def _reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal and seen:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return False


def test_references_form_the_cycles_vapiops_must_break(rendered) -> None:
    edges = _references(rendered["prod"])
    assert "tool/handoff-to-billing" in edges["assistant/support"]
    for a, b in [
        ("assistant/support", "tool/handoff-to-billing"),
        ("assistant/support", "structured-output/call-outcome"),
    ]:
        assert _reaches(edges, a, b) and _reaches(edges, b, a), f"no cycle through {a} and {b}"
    # Every kind takes part: squad and scorecard reference the rest.
    assert edges["squad/support-desk"] == {"assistant/support", "assistant/billing"}
    assert edges["scorecard/support-quality"] >= {"assistant/support", "structured-output/issue-resolved"}


def test_prompts_and_liquid_placeholders_reach_vapi_byte_for_byte(rendered) -> None:
    for name in ("support", "billing"):
        prompt = (PROJECT / "prompts" / f"{name}.md").read_text()
        assert (
            "{{ customer.number }}" in prompt
            and "{% if customer.name %}" in prompt
            and "{% endif %}" in prompt
        )
        for env, specs in rendered.items():
            assert specs[f"assistant/{name}"]["model"]["messages"][0]["content"] == prompt, (env, name)
    # Liquid written straight into a manifest string is left alone too.
    raw = {}
    for file in MANIFEST_FILES:
        for doc in yaml.safe_load_all(file.read_text()):
            raw[address(doc["kind"], doc["name"])] = doc.get("spec", {})
    liquid = [
        (addr, where, value)
        for addr, spec in raw.items()
        for where, value in _walk(spec)
        if isinstance(value, str) and ("{{" in value or "{%" in value) and "${" not in value
    ]
    assert liquid, "no Liquid in any manifest string"
    for addr, where, value in liquid:
        for env, specs in rendered.items():
            if addr in specs:
                assert paths.get(specs[addr], where) == value, (env, addr, where)


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(PROJECT)))
def test_manifest_files_point_editors_at_the_kind_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path.name}: first line is not a yaml-language-server schema comment"
    kinds = {doc["kind"] for doc in yaml.safe_load_all(path.read_text())}
    assert len(kinds) == 1, f"{path.name}: one schema per file, so one kind per file (has {kinds})"
    target = (path.parent / match.group(1)).resolve()
    assert target == ROOT / "schemas" / f"{kinds.pop()}.schema.json"
    assert target.is_file(), f"{target} does not exist (scripts/build_schemas.py writes it)"
    # What an editor shows: every document of the file is valid under that schema.
    schema = json.loads(target.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    for doc in yaml.safe_load_all(path.read_text()):
        problems = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
        assert not problems, f"{path.name}: {doc['name']}: {problems}"


@pytest.mark.e2e
def test_quick_start_runs_in_the_sandbox_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rendered
) -> None:
    """README: `vapiops apply examples/support-desk --sandbox --env dev` needs no account and no key;
    then a plan shows no changes (no perpetual diff from server defaults) and destroy empties it."""
    for name in ("VAPI_API_KEY_DEV", "VAPI_API_KEY", "VAPI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    project = tmp_path / "support-desk"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".vapiops"))
    runner = CliRunner()
    applied = runner.invoke(
        cli, ["apply", str(project), "--sandbox", "--env", "dev", "--auto-approve", "--no-color"]
    )
    assert applied.exit_code == 0, applied.output
    assert f"Apply complete! Resources: {len(rendered['dev'])} added" in applied.output
    again = runner.invoke(cli, ["plan", str(project), "--sandbox", "--env", "dev", "--detailed-exitcode"])
    assert again.exit_code == 0, again.output
    destroyed = runner.invoke(cli, ["destroy", str(project), "--sandbox", "--env", "dev", "--auto-approve"])
    assert destroyed.exit_code == 0, destroyed.output
    # --sandbox keeps its own state, never the real environment's.
    assert (
        json.loads((project / ".vapiops" / "sandbox" / "state" / "dev.json").read_text())["resources"] == {}
    )
    assert not (project / ".vapiops" / "state" / "dev.json").exists()
