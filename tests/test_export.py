"""`vapiops export`: names, specs, secrets and files, and the round trip export -> adopt -> plan clean."""

from __future__ import annotations

import copy
import json
import shlex
import textwrap
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import pytest
from conftest import sandbox_cli, sandbox_client, state_ids

from vapiops import paths, vapispec
from vapiops.errors import StateError, VapiopsError
from vapiops.flows.export import (
    Exported,
    adopt,
    choose_names,
    default_out_dir,
    drop_defaults,
    drop_read_only,
    escape_template,
    export_objects,
    manifest_files,
    render_manifest,
    replace_secrets,
    secret_variable,
    slugify,
    write_manifests,
)
from vapiops.kinds import KINDS
from vapiops.project.template import TemplateContext, render_string
from vapiops.project.yamlload import load_yaml_with_lines
from vapiops.state import State

ASSISTANT, TOOL = KINDS["assistant"], KINDS["tool"]
KEY = "export-key"


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Acme Support (EU)", "acme-support-eu"),
        ("Café Olé", "cafe-ole"),
        ("  --Billing--  ", "billing"),
        ("lookup_order", "lookup_order"),
        ("v1.2 / beta", "v1.2-beta"),
        ("!!!", ""),
        ("日本語", ""),
        ("x" * 100, "x" * 64),
    ],
)
def test_slugify(text, slug):
    assert slugify(text) == slug


def test_names_are_deduplicated_oldest_first_and_fall_back_to_kind_and_short_id():
    objects = [
        {
            "id": "c3d4e5f6-0000-4000-8000-000000000003",
            "name": "Support",
            "createdAt": "2024-01-03T00:00:00Z",
        },
        {
            "id": "a1b2c3d4-0000-4000-8000-000000000001",
            "name": "support",
            "createdAt": "2024-01-01T00:00:00Z",
        },
        {
            "id": "b2c3d4e5-0000-4000-8000-000000000002",
            "name": "SUPPORT",
            "createdAt": "2024-01-02T00:00:00Z",
        },
        {"id": "d4e5f6a7-0000-4000-8000-000000000004", "createdAt": "2024-01-04T00:00:00Z"},
        {"id": "e5f6a7b8-0000-4000-8000-000000000005", "name": "???", "createdAt": "2024-01-05T00:00:00Z"},
        {"id": "f6a7b8c9-0000-4000-8000-000000000006", "name": "12345678-1234-4234-8234-123456789012"},
    ]
    taken = {"billing"}
    names = choose_names(ASSISTANT, objects, taken)
    assert names == {
        "a1b2c3d4-0000-4000-8000-000000000001": "support",
        "b2c3d4e5-0000-4000-8000-000000000002": "support-2",
        "c3d4e5f6-0000-4000-8000-000000000003": "support-3",
        "d4e5f6a7-0000-4000-8000-000000000004": "assistant-d4e5f6a7",
        "e5f6a7b8-0000-4000-8000-000000000005": "assistant-e5f6a7b8",
        # A name that looks like a Vapi ID would be read as an unmanaged reference.
        "f6a7b8c9-0000-4000-8000-000000000006": "assistant-f6a7b8c9",
    }
    assert {"support", "support-2", "support-3", "billing"} <= taken
    # Taken names are avoided case-insensitively (file names must not collide on any filesystem).
    assert choose_names(ASSISTANT, [{"id": "x1", "name": "Billing"}], {"billing"}) == {"x1": "billing-2"}
    # A tool's display name is its function's name.
    assert choose_names(TOOL, [{"id": "t1", "type": "function", "function": {"name": "lookUp"}}], set()) == {
        "t1": "lookup"
    }


# -- spec -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Pay ${{ amount }} now",
        "${{",
        "${% if x %}yes${% endif %}",
        "${# not a comment #}",
        "a ${{x}} b ${%y%} c ${#z#} d }} %} #}",
        "{{ customer.name }} and {% if x %} stay Liquid",
        "$5 {x} ${x} ${ {",
        "line one\n${{ two }}\nline three\n",
    ],
)
def test_escaped_text_renders_back_to_itself(text):
    ctx = TemplateContext("prod", {}, Path("."))
    value, used_secret = render_string(escape_template(text), ctx)
    assert value == text and used_secret is False


@pytest.mark.parametrize(
    ("live", "dropped"),
    [
        (
            {"orgId": "o", "model": {"provider": "openai", "model": "gpt-4o", "createdAt": "t"}},
            ["model.createdAt", "orgId"],
        ),
        ({"isServerUrlSecretSet": True, "latestVersion": 3}, ["isServerUrlSecretSet", "latestVersion"]),
        ({"zzzUnknownToTheSpec": {"a": 1}}, []),  # open world: the API returned it, the manifest keeps it
        ({"model": {"provider": "openai", "model": "gpt-4o", "qqqNewKnob": 2}}, []),
        ({"silenceTimeoutSeconds": 30, "messagePlan": {"idleMessages": ["Still there?"]}}, []),  # catalogue
        ({"model": {"provider": "openai", "model": "gpt-4o", "serviceTier": "priority"}}, []),  # catalogue
    ],
)
def test_export_drops_read_only_fields_and_keeps_every_other_live_field(live, dropped):
    spec = {"firstMessage": "Hi", **live}
    expected = copy.deepcopy(spec)
    assert drop_read_only(ASSISTANT, spec) == dropped
    for path in dropped:
        paths.delete(expected, paths.parse_path(path))
    assert spec == expected


def test_defaults_the_server_filled_are_dropped_and_chosen_values_kept():
    declared = {
        "name": "Support",
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "temperature": 0.9,
            "messages": [{"role": "system", "content": "x"}],
        },
        "voice": {"provider": "11labs", "voiceId": "abc"},
        "maxDurationSeconds": 900,
    }
    live = vapispec.apply_defaults(ASSISTANT, declared)
    assert live != declared  # the server (sandbox) filled defaults in
    assert live["model"]["temperature"] == 0.9 and live["maxDurationSeconds"] == 900
    assert drop_defaults(ASSISTANT, live) == declared
    # A value equal to its default is dropped even when the user set it: it is the same configuration.
    same = vapispec.apply_defaults(ASSISTANT, dict(declared, maxDurationSeconds=600))
    assert "maxDurationSeconds" not in drop_defaults(ASSISTANT, same)
    tool = {"type": "function", "function": {"name": "f"}, "server": {"url": "https://x.example.com"}}
    assert drop_defaults(TOOL, vapispec.apply_defaults(TOOL, tool)) == tool


def test_secret_fields_become_placeholders_with_unique_variables():
    spec = {
        "server": {"url": "https://x", "headers": {"Authorization": "Bearer s3cret", "X-Api-Key": "k"}},
        "credentials": [{"apiKey": "", "token": {"value": "t0k", "ttl": 60}}],
    }
    used = {"VAPIOPS_TOOL_LOOKUP_SERVER_HEADERS_X_API_KEY"}
    names = replace_secrets("tool", "lookup", spec, used)
    assert names == [
        "VAPIOPS_TOOL_LOOKUP_CREDENTIALS_0_TOKEN_VALUE",
        "VAPIOPS_TOOL_LOOKUP_SERVER_HEADERS_AUTHORIZATION",
        "VAPIOPS_TOOL_LOOKUP_SERVER_HEADERS_X_API_KEY_2",
    ]
    assert (
        spec["server"]["headers"]["Authorization"]
        == "${{ secret('VAPIOPS_TOOL_LOOKUP_SERVER_HEADERS_AUTHORIZATION') }}"
    )
    assert spec["credentials"][0] == {
        "apiKey": "",
        "token": {"value": "${{ secret('VAPIOPS_TOOL_LOOKUP_CREDENTIALS_0_TOKEN_VALUE') }}", "ttl": 60},
    }
    assert "s3cret" not in json.dumps(spec) and "t0k" not in json.dumps(spec)
    assert (
        secret_variable("structured-output", "call.outcome", ("a", 0))
        == "VAPIOPS_STRUCTURED_OUTPUT_CALL_OUTCOME_A_0"
    )


def test_export_objects_translates_references_and_skips_managed_objects():
    live = {
        "tool": [
            {"id": "t-managed", "type": "endCall"},
            {
                "id": "t-new",
                "orgId": "o",
                "createdAt": "2024",
                "type": "handoff",
                "destinations": [{"type": "assistant", "assistantId": "a-new"}],
            },
        ],
        "assistant": [
            {
                "id": "a-new",
                "name": "Support",
                "firstMessage": "Pay ${{ x }}",
                "voicemailMessage": None,
                "model": {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "toolIds": ["t-managed", "t-new", "t-elsewhere"],
                },
            },
            {"id": "a-unnamed", "firstMessage": "Hi"},
        ],
    }
    out = export_objects(
        live, managed={"t-managed": ("tool", "end-call")}, taken=["assistant/support"], keep_defaults=True
    )
    by_address = {e.address: e for e in out}
    assert sorted(by_address) == ["assistant/assistant-aunnamed", "assistant/support-2", "tool/tool-tnew"]
    support = by_address["assistant/support-2"]
    assert support.id == "a-new"
    assert support.spec == {
        "name": "Support",
        "firstMessage": "Pay ${{ '${{' }} x }}",
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "toolIds": ["end-call", "tool-tnew", "t-elsewhere"],
        },
    }
    assert by_address["tool/tool-tnew"].spec["destinations"][0]["assistantId"] == "support-2"
    unnamed = by_address["assistant/assistant-aunnamed"]
    assert unnamed.unnamed and not support.unnamed
    assert unnamed.document()["lifecycle"] == {"ignoreChanges": ["name"]}
    assert "lifecycle" not in support.document()


TRICKY = [
    "=",
    "yes",
    "no",
    "null",
    "~",
    "2024-01-01",
    "123",
    "1e3",
    "#hash",
    "a: b",
    "- x",
    "  leading",
    "trailing  ",
    "multi\nline\n",
    "multi  \nwith trailing spaces",
    "  indented\nfirst line\n",
    "é ü 日本",
    "tab\there",
    "'quoted'",
    '"double"',
    "{{ customer.name }}",
    "",
]


def test_rendered_manifest_reads_back_as_the_same_document():
    item = Exported(
        "assistant",
        "support",
        "id-1",
        {
            "name": "Support",
            "strings": TRICKY,
            "nested": {"1": 1.5, "yes": True, "none": [], "obj": {}},
            "model": {"messages": [{"role": "system", "content": "You are helpful.\nBe brief.\n"}]},
        },
        secrets=["VAPIOPS_X"],
        dropped=["bogus"],
        unnamed=False,
    )
    text = render_manifest(item, "prod")
    assert text.startswith("# Exported by vapiops from environment 'prod': assistant id-1.\n")
    assert "content: |\n" in text  # prompts stay readable
    ((doc, _lines),) = load_yaml_with_lines(text, "support.yaml")
    assert doc == item.document()
    assert manifest_files([item], "prod") == {PurePosixPath("assistant/support.yaml"): text}


def test_write_refuses_to_overwrite_without_force(tmp_path: Path):
    item = Exported("tool", "x", "id", {"type": "endCall"})
    files = manifest_files([item], "default")
    assert write_manifests(tmp_path, files) == [tmp_path / "tool" / "x.yaml"]
    (tmp_path / "tool" / "x.yaml").write_text("mine")
    with pytest.raises(VapiopsError, match=r"1 file\(s\) already exist: .*x\.yaml"):
        write_manifests(tmp_path, files)
    assert (tmp_path / "tool" / "x.yaml").read_text() == "mine"
    write_manifests(tmp_path, files, force=True)
    assert "kind: tool" in (tmp_path / "tool" / "x.yaml").read_text()


def test_adopt_records_entries_and_refuses_what_is_managed():
    state = State(environment="default")
    item = Exported("tool", "x", "id-1", {"type": "endCall"})
    adopt(state, [item])
    assert state.resources["tool/x"].id == "id-1" and state.resources["tool/x"].applied == {}
    with pytest.raises(StateError, match="already managed"):
        adopt(state, [item])
    with pytest.raises(StateError, match="id-1 is already managed as tool/x"):
        adopt(state, [Exported("tool", "y", "id-1", {})])


# -- the command: a round trip against the sandbox ---------------------------------------------


def run(sandbox, *args, code: int | None = 0, env: dict | None = None):
    return sandbox_cli(sandbox, KEY)(*args, code=code, env=env)


SECRET_ENV = {"VAPIOPS_TOOL_LOOKUP_ORDER_SERVER_HEADERS_AUTHORIZATION": "Bearer hook-s3cret"}


def build_org(sandbox) -> dict[str, str]:
    """All five kinds with references (and both reference cycles), created with the API directly."""
    ids: dict[str, str] = {}
    with sandbox_client(sandbox, KEY) as c:

        def post(key: str, path: str, body: dict) -> None:
            response = c.post(path, json=body)
            assert response.status_code == 201, response.text
            ids[key] = response.json()["id"]

        post(
            "billing",
            "/assistant",
            {
                "name": "Billing Desk",
                "firstMessage": "That will be ${{ amount }}, {{ customer.name }}.",
                "model": {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "temperature": 0.2,
                    "messages": [{"role": "system", "content": "You handle billing.\nBe brief.\n"}],
                },
            },
        )
        post(
            "lookup",
            "/tool",
            {
                "type": "function",
                "function": {"name": "lookup_order", "description": "Look up an order."},
                "server": {
                    "url": "https://hooks.example.com/orders",
                    "headers": {
                        "Authorization": SECRET_ENV["VAPIOPS_TOOL_LOOKUP_ORDER_SERVER_HEADERS_AUTHORIZATION"]
                    },
                },
            },
        )
        post(
            "handoff",
            "/tool",
            {
                "type": "handoff",
                "destinations": [
                    {"type": "assistant", "assistantId": ids["billing"], "description": "Billing questions."}
                ],
            },
        )
        post(
            "outcome",
            "/structured-output",
            {
                "name": "Call Outcome",
                "type": "ai",
                "schema": {"type": "object", "properties": {"resolved": {"type": "boolean"}}},
                "assistantIds": [ids["billing"]],
            },
        )
        post(
            "quality",
            "/observability/scorecard",
            {
                "name": "Quality",
                "metrics": [
                    {
                        "structuredOutputId": ids["outcome"],
                        "conditions": [
                            {"type": "comparator", "comparator": "=", "value": True, "points": 100}
                        ],
                    }
                ],
            },
        )
        post(
            "support",
            "/assistant",
            {
                "name": "Support",
                "firstMessage": "Hi!",
                "model": {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "toolIds": [ids["lookup"], ids["handoff"]],
                },
                "artifactPlan": {"structuredOutputIds": [ids["outcome"]], "scorecardIds": [ids["quality"]]},
            },
        )
        # Close the cycles: the structured output and the scorecard point back at the assistants.
        c.patch(
            f"/structured-output/{ids['outcome']}",
            params={"schemaOverride": "true"},
            json={"assistantIds": [ids["billing"], ids["support"]]},
        ).raise_for_status()
        c.patch(
            f"/observability/scorecard/{ids['quality']}", json={"assistantIds": [ids["support"]]}
        ).raise_for_status()
        post(
            "desk",
            "/squad",
            {
                "members": [
                    {
                        "assistantId": ids["support"],
                        "assistantDestinations": [
                            {
                                "type": "assistant",
                                "assistantName": "Billing Desk",
                                "assistantId": ids["billing"],
                            }
                        ],
                    },
                    {"assistantId": ids["billing"]},
                ]
            },
        )
    return ids


@pytest.mark.e2e
def test_export_adopt_then_plan_shows_no_changes_and_validate_passes(sandbox, tmp_path: Path):
    ids = build_org(sandbox)
    root = tmp_path / "proj"
    root.mkdir()
    sandbox.clear_requests()
    result = run(sandbox, "export", root, "--adopt")
    assert {r["method"] for r in sandbox.requests} == {"GET"}  # export writes nothing remote
    assert "Adopted 7 resource(s)" in result.stderr
    assert "VAPIOPS_TOOL_LOOKUP_ORDER_SERVER_HEADERS_AUTHORIZATION" in result.stderr
    assert result.stdout == ""  # nothing to import by hand
    assert state_ids(root) == {
        "assistant/billing-desk": ids["billing"],
        "assistant/support": ids["support"],
        "scorecard/quality": ids["quality"],
        "squad/squad-" + ids["desk"][:8]: ids["desk"],
        "structured-output/call-outcome": ids["outcome"],
        "tool/lookup_order": ids["lookup"],
        "tool/tool-" + ids["handoff"][:8]: ids["handoff"],
    }
    out = root / "resources" / "exported"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert files == sorted(f"{a.split('/')[0]}/{a.split('/')[1]}.yaml" for a in state_ids(root))
    texts = "\n".join(p.read_text() for p in out.rglob("*.yaml"))
    assert "hook-s3cret" not in texts  # the secret value is never written
    # IDs only in the header comments: every reference is written as a name.
    documents = "\n".join(line for line in texts.splitlines() if not line.startswith("#"))
    assert not any(i in documents for i in ids.values())
    support = (out / "assistant" / "support.yaml").read_text()
    assert "toolIds:\n      - lookup_order\n      - tool-" in support
    assert "scorecardIds:\n      - quality" in support
    squad = (out / "squad" / f"squad-{ids['desk'][:8]}.yaml").read_text()
    assert "assistantName: Billing Desk\n          assistantId: billing-desk\n" in squad
    assert "ignoreChanges:\n    - name" in squad  # it has no name in Vapi, and plan must not give it one
    assert "Left out" not in texts
    sandbox.clear_requests()
    plan = run(sandbox, "plan", root, "--detailed-exitcode", env=SECRET_ENV)
    assert "No changes." in plan.stdout
    assert {r["method"] for r in sandbox.requests} == {"GET"}
    valid = run(sandbox, "validate", root, env=SECRET_ENV)
    assert "Valid: 7 manifests" in valid.stderr
    # The Liquid and the literal ${{ reached the manifests so that they render back unchanged.
    billing = (out / "assistant" / "billing-desk.yaml").read_text()
    assert "firstMessage: That will be ${{ '${{' }} amount }}, {{ customer.name }}." in billing
    # Nothing left to export, and a change in the org now shows as drift against the manifests.
    again = run(sandbox, "export", root)
    assert "Nothing to export" in again.stderr and "Skipped 7 object(s)" in again.stderr
    with sandbox_client(sandbox, KEY) as c:
        c.patch(f"/assistant/{ids['support']}", json={"firstMessage": "Changed."}).raise_for_status()
    drift = run(sandbox, "plan", root, "--format", "json", "--detailed-exitcode", code=2, env=SECRET_ENV)
    assert json.loads(drift.stdout)["changes"][0]["fields"] == [
        {"path": "firstMessage", "before": "Changed.", "after": "Hi!"}
    ]


@pytest.mark.e2e
def test_export_without_adopt_prints_import_commands_that_work(sandbox, tmp_path: Path):
    build_org(sandbox)
    root = tmp_path / "proj"
    root.mkdir()
    result = run(sandbox, "export", root)
    assert not (root / ".vapiops/state/default.json").exists()
    commands = result.stdout.splitlines()
    assert len(commands) == 7 and all(c.startswith("vapiops import ") for c in commands)
    assert "vapiops import" in result.stderr  # the hint says what the commands are for
    for command in commands:
        argv = shlex.split(command)[1:]
        run(sandbox, *argv)
    plan = run(sandbox, "plan", root, "--detailed-exitcode", env=SECRET_ENV)
    assert "No changes." in plan.stdout


@pytest.mark.e2e
def test_export_refuses_to_overwrite_then_force_rewrites(sandbox, tmp_path: Path):
    build_org(sandbox)
    root = tmp_path / "proj"
    (root / "elsewhere").mkdir(parents=True)
    run(sandbox, "export", root)
    target = root / "resources" / "exported" / "assistant" / "support.yaml"
    target.write_text("# hand edited\n" + target.read_text())
    refused = run(sandbox, "export", root, code=1)
    assert "already exist" in refused.stderr and "--force" in refused.stderr
    assert target.read_text().startswith("# hand edited")
    run(sandbox, "export", root, "--force")
    assert not target.read_text().startswith("# hand edited")
    # Names other manifests use stay taken (an address is never declared twice); the project then
    # holds two manifests for one object, which validate accepts as two addresses.
    run(sandbox, "export", root, "--out", root / "elsewhere")
    assert "support-2.yaml" in " ".join(p.name for p in (root / "elsewhere").rglob("*.yaml"))


@pytest.mark.e2e
def test_export_skips_managed_objects_and_names_references_to_them(sandbox, tmp_path: Path):
    root = tmp_path / "proj"
    (root / "resources").mkdir(parents=True)
    (root / "resources" / "tools.yaml").write_text(
        textwrap.dedent("""
        kind: tool
        name: end-call
        spec:
          type: endCall
    """).lstrip()
    )
    run(sandbox, "apply", root, "--auto-approve")
    end_call = state_ids(root)["tool/end-call"]
    with sandbox_client(sandbox, KEY) as c:
        c.post(
            "/assistant",
            json={
                "name": "Support",
                "model": {"provider": "openai", "model": "gpt-4o", "toolIds": [end_call]},
            },
        ).raise_for_status()
    result = run(sandbox, "export", root, "--adopt")
    assert "Skipped 1 object(s) already managed" in result.stderr
    files = sorted(p.name for p in (root / "resources" / "exported").rglob("*.yaml"))
    assert files == ["support.yaml"]
    text = (root / "resources" / "exported" / "assistant" / "support.yaml").read_text()
    assert "toolIds:\n      - end-call" in text
    assert "No changes." in run(sandbox, "plan", root, "--detailed-exitcode").stdout


@pytest.mark.e2e
def test_keep_defaults_exports_every_field_and_still_round_trips(sandbox, tmp_path: Path):
    ids = build_org(sandbox)
    root = tmp_path / "proj"
    root.mkdir()
    run(sandbox, "export", root, "--adopt", "--keep-defaults")
    billing = (root / "resources/exported/assistant/billing-desk.yaml").read_text()
    assert "maxDurationSeconds: 600" in billing  # the sandbox's default, kept
    assert "temperature: 0.2" in billing
    default_export = tmp_path / "other"
    default_export.mkdir()
    run(sandbox, "export", default_export)
    assert (
        "maxDurationSeconds"
        not in (default_export / "resources/exported/assistant/billing-desk.yaml").read_text()
    )
    assert "No changes." in run(sandbox, "plan", root, "--detailed-exitcode", env=SECRET_ENV).stdout
    assert state_ids(root)["assistant/billing-desk"] == ids["billing"]


@pytest.mark.e2e
def test_export_of_an_empty_org_writes_nothing(sandbox, tmp_path: Path):
    result = run(sandbox, "export", tmp_path)
    assert "Nothing to export" in result.stderr
    assert not (tmp_path / "resources").exists()


def test_default_out_dir_is_inside_the_manifest_roots():
    # SimpleNamespace is enough of a Project for default_out_dir.
    root = Path("/p")
    assert default_out_dir(SimpleNamespace(root=root, resource_roots=(root,))) == root / "resources/exported"
    assert (
        default_out_dir(SimpleNamespace(root=root, resource_roots=(root / "manifests",)))
        == root / "manifests/exported"
    )


def test_a_masked_value_outside_the_known_secret_fields_becomes_a_placeholder_too():
    # The API masks what it treats as secret, beyond vapiops's list (legacy server.secret, serverUrlSecret).
    spec = {
        "serverUrlSecret": "****",
        "server": {"url": "https://x", "secret": "sk-1****", "headers": {"Authorization": "****"}},
        "firstMessage": "Hi",
    }
    names = replace_secrets("assistant", "a", spec, set())
    assert names == [
        "VAPIOPS_ASSISTANT_A_SERVER_HEADERS_AUTHORIZATION",
        "VAPIOPS_ASSISTANT_A_SERVER_SECRET",
        "VAPIOPS_ASSISTANT_A_SERVERURLSECRET",
    ]
    assert spec["server"]["secret"] == "${{ secret('VAPIOPS_ASSISTANT_A_SERVER_SECRET') }}"
    assert "****" not in json.dumps(spec) and spec["firstMessage"] == "Hi"
