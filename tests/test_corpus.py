"""Real Vapi configurations (tests/corpus/, sources in SOURCES.md) validate without a warning, apply to
the sandbox and plan clean: the spec is a floor, and what the live API stores must pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_files

from vapiops.errors import Problem
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources
from vapiops.project.yamlload import load_yaml_with_lines

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*/*.yaml"))


def corpus_project(root: Path) -> Path:
    """A project with one manifest per corpus file: kind from its folder, name from its file name."""
    files = {"vapiops.yaml": "resources: [resources]\n"}
    for path in FILES:
        # vapiops's own YAML reading (YAML 1.2: a hook's `on:` is the string "on", not true), written as JSON.
        ((body, _lines),) = load_yaml_with_lines(path.read_text(), path.name)
        doc = {"kind": path.parent.name, "name": path.stem, "spec": body}
        files[f"resources/{path.parent.name}-{path.name}"] = json.dumps(doc, indent=1)
    write_files(root, files)
    return root


def test_the_corpus_has_every_kind_and_at_least_fifteen_configurations():
    assert len(FILES) >= 15
    assert {p.parent.name for p in FILES} == {"assistant", "tool", "squad", "structured-output"}
    sources = (CORPUS / "SOURCES.md").read_text()
    assert all(f"{p.parent.name}/{p.name}" in sources for p in FILES)


def test_every_real_configuration_validates_without_a_warning(tmp_path):
    project = load_project(corpus_project(tmp_path))
    warnings: list[Problem] = []
    desired = desired_resources(
        project, load_manifests(project), project.environment(None), warnings=warnings
    )
    assert len(desired) == len(FILES)
    assert warnings == []


@pytest.mark.e2e
def test_the_corpus_applies_to_the_sandbox_and_plans_clean(tmp_path, cli, sandbox):
    root = corpus_project(tmp_path)
    validated = cli("validate", root)
    assert "warning" not in validated.stderr
    cli("apply", root, "--auto-approve", "--strict")
    cli("plan", root, "--detailed-exitcode")
    kept = {o["name"]: o for o in sandbox.objects("assistant")}
    assert kept["Vapi Voice v2"]["model"]["serviceTier"] == "priority"
    assert kept["Legacy Dump"]["silenceTimeoutSeconds"] == 128


@pytest.mark.e2e
def test_unknown_fields_warn_in_validate_plan_and_apply_and_strict_refuses_them(tmp_path, cli, sandbox):
    allow = "allow_fields: {assistant: [zzzFutureSetting]}\n"
    manifest = "kind: assistant\nname: a\nspec:\n  firstMessage: hi\n  zzzFutureSetting: 1\n"
    write_files(tmp_path, {"vapiops.yaml": "resources: [resources]\n", "resources/a.yaml": manifest})
    warning = "warning: resources/a.yaml:5 at zzzFutureSetting: property zzzFutureSetting is not in Vapi's"
    assert warning in cli("validate", tmp_path).stderr
    planned = cli("plan", tmp_path, "--format", "json")
    assert warning in planned.stderr
    assert any("zzzFutureSetting" in w for w in json.loads(planned.stdout)["warnings"])
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        refused = cli(*command, tmp_path, "--strict", code=1)
        assert "resources/a.yaml:5" in refused.stderr and "--strict" in refused.stderr
    assert sandbox.objects("assistant") == []  # --strict sent nothing
    write_files(tmp_path, {"vapiops.yaml": "resources: [resources]\nstrict: true\n"})
    cli("validate", tmp_path, code=1)
    write_files(tmp_path, {"vapiops.yaml": "resources: [resources]\nstrict: true\n" + allow})
    assert "warning" not in cli("validate", tmp_path).stderr
