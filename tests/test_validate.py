"""validate.desired_resources: name filling, references by name, schema problems located in the file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vapiops.errors import ValidationError
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources


def desired(tmp_path: Path, text: str):
    (tmp_path / "m.yaml").write_text(textwrap.dedent(text).lstrip())
    project = load_project(tmp_path)
    return desired_resources(project, load_manifests(project), project.environment(None))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ValidationError) as info:
        desired(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_manifest_name_fills_the_name_field_where_the_dto_has_a_free_one(tmp_path):
    out = desired(
        tmp_path,
        """
        kind: assistant
        name: support
        spec: {firstMessage: hi}
        ---
        kind: tool
        name: fetch-weather
        spec: {type: apiRequest, method: GET, url: "https://example.com"}
        ---
        kind: tool
        name: lookup
        spec: {type: function, function: {name: lookup}}
        ---
        kind: assistant
        name: named
        spec: {name: Explicit Name}
        """,
    )
    specs = {d.address: d.spec for d in out}
    assert specs["assistant/support"]["name"] == "support"
    assert specs["tool/fetch-weather"]["name"] == "fetch-weather"
    assert "name" not in specs["tool/lookup"]  # function tools have no top-level name
    assert specs["assistant/named"]["name"] == "Explicit Name"


def test_a_fixed_name_is_not_overwritten_by_the_manifest_name(tmp_path):
    # A bash tool's name is the enum ["bash"]: the manifest name must not be sent there.
    found = problems(
        tmp_path,
        """
        kind: tool
        name: my-shell
        spec: {type: bash, subType: bash_20241022}
        """,
    )
    assert len(found) == 1 and "m.yaml:3" in found[0] and "'name'" in found[0]
    out = desired(
        tmp_path,
        """
        kind: tool
        name: my-shell
        spec: {type: bash, subType: bash_20241022, name: bash}
        """,
    )
    assert out[0].spec["name"] == "bash"


def test_unknown_reference_is_located_with_known_names(tmp_path):
    found = problems(
        tmp_path,
        """
        kind: tool
        name: lookup-order
        spec: {type: function, function: {name: lookup}}
        ---
        kind: assistant
        name: support
        spec:
          model:
            provider: openai
            model: gpt-4o
            toolIds:
              - lookup-ordr
        """,
    )
    assert len(found) == 1
    assert found[0].startswith("m.yaml:12 at model.toolIds[0]:")
    assert "did you mean 'lookup-order'" in found[0] and "known tool names: lookup-order" in found[0]


def test_uuid_reference_passes_through_and_schema_errors_are_all_reported(tmp_path):
    out = desired(
        tmp_path,
        """
        kind: assistant
        name: a
        spec:
          model: {provider: openai, model: gpt-4o, toolIds: [6f1c2c1e-9f5e-4a57-9d5a-0d1f0b1c2d3e]}
        """,
    )
    assert out[0].spec["model"]["toolIds"] == ["6f1c2c1e-9f5e-4a57-9d5a-0d1f0b1c2d3e"]
    found = problems(
        tmp_path,
        """
        kind: assistant
        name: a
        spec:
          firstMesage: hi
          model: {provider: openai, model: gpt-4o, temperature: 7}
        """,
    )
    assert len(found) == 2
    joined = "\n".join(found)
    assert "m.yaml:4" in joined and "firstMesage" in joined and "did you mean" in joined
    assert "m.yaml:5" in joined and "temperature" in joined


@pytest.mark.e2e
def test_validate_cli_takes_a_manifest_file_and_needs_no_key_or_network(tmp_path):
    from click.testing import CliRunner

    from vapiops.cli.commands import cli

    (tmp_path / "vapiops.yaml").write_text("environments:\n  dev: {}\n  prod: {}\n")
    (tmp_path / "resources" / "a").mkdir(parents=True)
    manifest = tmp_path / "resources" / "a" / "x.yaml"
    manifest.write_text(
        "kind: assistant\nname: x\nspec: {firstMessage: hi}\n---\n"
        "kind: assistant\nname: y\nenvironments: [dev]\nspec: {}\n"
    )
    env = {"VAPI_API_KEY": None, "VAPI_BASE_URL": "http://127.0.0.1:9"}  # nothing listens on port 9
    result = CliRunner().invoke(cli, ["validate", str(manifest)], env=env)
    assert result.exit_code == 0, result.stderr
    assert "Valid: 2 manifests (2 in dev, 1 in prod)." in result.stderr
    manifest.write_text("kind: assistant\nname: x\nspec: {firstMessage: [1]}\n")
    result = CliRunner().invoke(cli, ["validate", str(manifest)], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: resources/a/x.yaml:3 at firstMessage:")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
