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


# -- every ID field takes a manifest name or a Vapi ID (docs/manifests.md, "References") -------

UUID = "6f1c2c1e-9f5e-4a57-9d5a-0d1f0b1c2d3e"
TARGETS = """
kind: tool
name: lookup
spec: {type: function, function: {name: lookup}}
---
kind: assistant
name: billing
spec: {firstMessage: hi}
---
kind: squad
name: team
spec: {members: [{assistantId: billing}]}
---
kind: structured-output
name: outcome
spec: {type: ai, schema: {type: string}}
---
kind: scorecard
name: score
spec: {metrics: [{structuredOutputId: outcome, conditions: []}]}
"""
MODEL = {"provider": "openai", "model": "gpt-4o"}
HANDOFF = {"type": "handoff"}

# (kind, spec with VALUE where the ID goes, the field's path, the name that resolves there)
ID_FIELD_CASES = [
    (
        "assistant",
        {"model": {**MODEL, "toolRefs": [{"toolId": "VALUE", "version": "1"}]}},
        "model.toolRefs[0].toolId",
        "lookup",
    ),
    (
        "assistant",
        {
            "model": {
                **MODEL,
                "tools": [{**HANDOFF, "destinations": [{"type": "assistant", "assistantId": "VALUE"}]}],
            }
        },
        "model.tools[0].destinations[0].assistantId",
        "billing",
    ),
    (
        "assistant",
        {"model": {**MODEL, "tools": [{**HANDOFF, "destinations": [{"type": "squad", "squadId": "VALUE"}]}]}},
        "model.tools[0].destinations[0].squadId",
        "team",
    ),
    (
        "assistant",
        {"artifactPlan": {"scorecards": [{"metrics": [{"structuredOutputId": "VALUE", "conditions": []}]}]}},
        "artifactPlan.scorecards[0].metrics[0].structuredOutputId",
        "outcome",
    ),
    (
        "squad",
        {
            "members": [
                {
                    "assistantId": "billing",
                    "assistantOverrides": {"artifactPlan": {"structuredOutputIds": ["VALUE"]}},
                }
            ]
        },
        "members[0].assistantOverrides.artifactPlan.structuredOutputIds[0]",
        "outcome",
    ),
    (
        "squad",
        {
            "members": [{"assistantId": "billing"}],
            "membersOverrides": {"artifactPlan": {"scorecardIds": ["VALUE"]}},
        },
        "membersOverrides.artifactPlan.scorecardIds[0]",
        "score",
    ),
    (
        "squad",
        {
            "members": [{"assistantId": "billing"}],
            "membersOverrides": {
                "hooks": [{"on": "call.ending", "do": [{"type": "tool", "toolId": "VALUE"}]}]
            },
        },
        "membersOverrides.hooks[0].do[0].toolId",
        "lookup",
    ),
    (
        "squad",
        {
            "members": [
                {
                    "assistantId": "billing",
                    "assistantOverrides": {
                        "tools:append": [
                            {**HANDOFF, "destinations": [{"type": "assistant", "assistantId": "VALUE"}]}
                        ]
                    },
                }
            ]
        },
        "members[0].assistantOverrides.tools:append[0].destinations[0].assistantId",
        "billing",
    ),
]


def id_field_project(kind: str, spec: dict, value: str) -> str:
    import json

    body = json.loads(json.dumps(spec).replace('"VALUE"', json.dumps(value)))
    return TARGETS + f"---\nkind: {kind}\nname: under-test\nspec: {json.dumps(body)}\n"


@pytest.mark.parametrize(("kind", "spec", "path", "name"), ID_FIELD_CASES, ids=[c[2] for c in ID_FIELD_CASES])
def test_every_id_field_takes_a_name_or_a_uuid_and_nothing_else(tmp_path, kind, spec, path, name):
    for good in (name, UUID):
        (out,) = [d for d in desired(tmp_path, id_field_project(kind, spec, good)) if d.name == "under-test"]
        assert json_at(out.spec, path) == good
    found = problems(tmp_path, id_field_project(kind, spec, "not-a-known-name"))
    assert len(found) == 1
    assert found[0].startswith(f"m.yaml:23 at {path}:")  # the flow-style spec line
    assert "'not-a-known-name' is not the name of a" in found[0] and "nor a Vapi ID" in found[0]


def json_at(value, path_text: str):
    from vapiops import paths

    return paths.get(value, paths.parse_path(path_text))


@pytest.mark.parametrize(
    ("spec", "path", "holds"),
    [
        (
            {"model": {"provider": "openai", "model": "gpt-4o", "workflowId": "w1"}},
            "model.workflowId",
            "workflow",
        ),
        ({"analysisPlan": {"outcomeIds": ["sale"]}}, "analysisPlan.outcomeIds[0]", "outcome"),
        ({"monitorPlan": {"monitorIds": ["m1"]}}, "monitorPlan.monitorIds[0]", "monitor"),
    ],
)
def test_an_external_id_field_takes_only_a_uuid(tmp_path, spec, path, holds):
    import json

    text = f"kind: assistant\nname: a\nspec: {json.dumps(spec)}\n"
    found = problems(tmp_path, text)
    assert len(found) == 1 and found[0].startswith(f"m.yaml:3 at {path}:")
    assert f"is not a Vapi ID (a UUID): this field holds the ID of a {holds}" in found[0]
    ok = json.dumps(spec)
    for bad in ("w1", "sale", "m1"):
        ok = ok.replace(f'"{bad}"', f'"{UUID}"')
    desired(tmp_path, f"kind: assistant\nname: a\nspec: {ok}\n")


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"credentialIds": ["my-openai-key"]}, "credentialIds[0]"),
        ({"server": {"url": "https://x.example", "credentialId": "prod-webhook"}}, "server.credentialId"),
    ],
)
def test_a_credential_field_is_now_a_reference_by_name(tmp_path, spec, path):
    import json

    found = problems(tmp_path, f"kind: assistant\nname: a\nspec: {json.dumps(spec)}\n")
    assert len(found) == 1 and found[0].startswith(f"m.yaml:3 at {path}:")
    assert "is not the name of a credential manifest" in found[0]


def test_a_provider_id_is_not_a_vapi_id_and_is_not_checked(tmp_path):
    (out,) = desired(
        tmp_path,
        'kind: assistant\nname: a\nspec: {voice: {provider: 11labs, voiceId: "21m00Tcm4TlvDq8N02pL"}}\n',
    )
    assert out.spec["voice"]["voiceId"] == "21m00Tcm4TlvDq8N02pL"


# -- validate needs no secret values -------------------------------------------------------------

PER_ENV_SECRET = """
environments:
  dev: {api_key_env: VAPI_API_KEY_DEV}
  prod: {api_key_env: VAPI_API_KEY_PROD}
"""
SECRET_MANIFEST = """\
kind: assistant
name: support
spec:
  firstMessage: hi
  server:
    url: https://example.com/hooks
    headers:
      Authorization: "Bearer ${{ secret('HOOKS_TOKEN_' ~ env | upper) }}"
"""


def test_validate_notes_each_unset_secret_per_environment_and_still_checks_the_rest(tmp_path, monkeypatch):
    from vapiops.flows import checking

    monkeypatch.delenv("HOOKS_TOKEN_DEV", raising=False)
    monkeypatch.setenv("HOOKS_TOKEN_PROD", "set-in-prod")
    (tmp_path / "vapiops.yaml").write_text(PER_ENV_SECRET)
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "a.yaml").write_text(SECRET_MANIFEST)
    notes: list[str] = []
    assert checking.validate(tmp_path, None, notes=notes) == (1, ["1 in dev", "1 in prod"])
    assert notes == [
        "resources/a.yaml:1: secret('HOOKS_TOKEN_DEV') not set here; checked with a placeholder "
        "(plan and apply need the value)"
    ]
    # The rest is still checked with the secret unset: a schema problem is reported.
    (tmp_path / "resources" / "a.yaml").write_text(
        SECRET_MANIFEST.replace("firstMessage: hi", "firstMessage: 3")
    )
    with pytest.raises(ValidationError, match="firstMessage"):
        checking.validate(tmp_path, "dev", notes=[])


def test_plan_rendering_still_needs_every_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOKS_TOKEN_DEFAULT", raising=False)
    with pytest.raises(ValidationError, match="secret HOOKS_TOKEN_DEFAULT is not set"):
        desired(tmp_path, SECRET_MANIFEST)


def test_a_reference_to_a_resource_limited_to_other_environments_names_the_environment_and_the_limit(
    tmp_path, monkeypatch
):
    (tmp_path / "vapiops.yaml").write_text("environments: {dev: {}, prod: {}}\n")
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "a.yaml").write_text(
        "kind: tool\nname: debug-echo\nenvironments: [dev]\nspec: {type: function, function: {name: echo}}\n"
        "---\nkind: assistant\nname: support\nspec:\n  model: {provider: openai, model: gpt-4o, toolIds: [debug-echo]}\n"
    )
    from vapiops.flows import checking

    with pytest.raises(ValidationError) as info:
        checking.validate(tmp_path, "prod")
    [problem] = info.value.problems
    assert str(problem) == (
        "resources/a.yaml:9 at model.toolIds[0]: tool/debug-echo exists only in environments dev "
        "(`environments:` of resources/a.yaml:1), not in 'prod': limit this manifest the same way, "
        "or add 'prod' to that list"
    )


def test_validate_warns_about_template_syntax_in_a_file_included_as_text(tmp_path):
    from vapiops.flows import checking

    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.md").write_text("Call ${{ vars.hooks_url }}")
    (tmp_path / "a.yaml").write_text(
        "kind: assistant\nname: a\nspec:\n  firstMessage: \"${{ include('prompts/p.md') }}\"\n"
    )
    warnings: list = []
    checking.validate(tmp_path, None, warnings=warnings)
    assert [str(w) for w in warnings] == [
        "a.yaml:1: include('prompts/p.md'): the file contains vapiops template syntax (`${{`), sent as "
        "text; write include('prompts/p.md', render=true) to render it"
    ]
