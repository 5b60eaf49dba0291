"""schemas/: the editor JSON Schemas are up to date, valid, accept real manifests and catch typos."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from kind_samples import SAMPLES
from referencing import Registry
from referencing.jsonschema import DRAFT7

from vapiops.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"


def _load_script():
    spec = importlib.util.spec_from_file_location("build_schemas", ROOT / "scripts" / "build_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    return _load_script().build()


@pytest.fixture(scope="module")
def docs(built) -> dict[str, dict]:
    """The committed files this script owns (schemas/ holds others too, e.g. the JSON plan's)."""
    return {name: json.loads((SCHEMAS / name).read_text(encoding="utf-8")) for name in built}


@pytest.fixture(scope="module")
def manifest_validator(docs) -> Draft7Validator:
    registry = Registry().with_resources((name, DRAFT7.create_resource(doc)) for name, doc in docs.items())
    return Draft7Validator(docs["manifest.schema.json"], registry=registry)


MANIFESTS = {
    "assistant": {
        "kind": "assistant",
        "name": "support",
        "spec": {
            "firstMessage": "Thanks for calling Acme{% if customer.name %}, {{ customer.name }}{% endif %}.",
            "model": {
                "provider": "openai",
                "model": "gpt-4.1-mini",
                "temperature": 0.3,
                "messages": [{"role": "system", "content": "${{ include('prompts/support.md') }}"}],
                "toolIds": ["lookup-order", "handoff-to-billing"],
            },
            "voice": {"provider": "11labs", "voiceId": "sarah"},
            "transcriber": {"provider": "deepgram", "model": "nova-3", "language": "en"},
            "serverMessages": ["end-of-call-report", "tool-calls"],
            "hooks": [{"on": "call.ending", "do": [{"type": "tool", "toolId": "log-call"}]}],
            "artifactPlan": {"structuredOutputIds": ["call-outcome"], "scorecardIds": ["quality"]},
            "metadata": {"team": "support"},
        },
        "lifecycle": {"preventDestroy": True, "ignoreChanges": ["voice.voiceId"]},
        "environments": ["staging", "prod"],
        "overrides": {"prod": {"model": {"model": "gpt-4.1"}}},
    },
    "tool": {
        "kind": "tool",
        "name": "handoff-to-billing",
        "spec": {
            "type": "handoff",
            "destinations": [
                {"type": "assistant", "assistantId": "billing", "description": "Money questions."}
            ],
        },
    },
    "squad": {
        "kind": "squad",
        "name": "support-desk",
        "spec": {
            "members": [
                {
                    "assistantId": "support",
                    "assistantDestinations": [{"type": "assistant", "assistantId": "billing"}],
                },
                {"assistantId": "billing"},
            ]
        },
    },
    "structured-output": {
        "kind": "structured-output",
        "name": "call-outcome",
        "spec": {  # no spec.name: vapiops sends the manifest name
            "type": "ai",
            "schema": {"type": "object", "properties": {"resolved": {"type": "boolean"}}},
            "assistantIds": ["support"],
        },
    },
    "scorecard": {
        "kind": "scorecard",
        "name": "quality",
        "spec": {
            "metrics": [
                {
                    "structuredOutputId": "call-outcome",
                    "conditions": [{"type": "comparator", "comparator": "=", "value": True, "points": 100}],
                }
            ],
            "assistantIds": ["support"],
        },
    },
    **{s.kind: {"kind": s.kind, "name": "sample", "spec": s.spec} for s in SAMPLES},
    "file": {"kind": "file", "name": "faq", "lookup": {"name": "faq.md"}},
}


def test_generated_files_are_up_to_date(built):
    assert set(built) == {f"{name}.schema.json" for name in KINDS} | {"manifest.schema.json"}
    for name, text in built.items():
        path = SCHEMAS / name
        assert path.exists(), f"{name} missing: run python scripts/build_schemas.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python scripts/build_schemas.py"
        )


def test_output_is_deterministic(built):
    assert _load_script().build() == built


def test_regenerating_into_a_directory(tmp_path, built):
    written = _load_script().write(tmp_path)
    assert sorted(p.name for p in written) == sorted(built)
    assert all(p.read_text(encoding="utf-8") == built[p.name] for p in written)


def test_files_are_valid_json_schema_and_reasonably_sized(docs):
    for name, doc in docs.items():
        Draft7Validator.check_schema(doc)
        assert (SCHEMAS / name).stat().st_size < 1_000_000, name


@pytest.mark.parametrize("kind", list(KINDS))
def test_realistic_manifest_validates(kind, docs, manifest_validator):
    manifest = MANIFESTS[kind]
    assert list(Draft7Validator(docs[f"{kind}.schema.json"]).iter_errors(manifest)) == []
    assert manifest_validator.is_valid(manifest)


@pytest.mark.parametrize(
    "kind, break_it",
    [
        ("assistant", lambda m: m["spec"].update(firstMesage="hi")),
        ("assistant", lambda m: m["spec"]["model"].update(temprature=0.2)),
        ("assistant", lambda m: m.update(lifecyle={"preventDestroy": True})),
        ("assistant", lambda m: m.update(name="-bad name")),
        ("tool", lambda m: m["spec"].update(type="handof")),
        ("squad", lambda m: m["spec"]["members"][0].update(asistantId="support")),
        ("structured-output", lambda m: m["spec"].update(type="llm")),
        ("scorecard", lambda m: m["spec"].pop("metrics")),
        ("scorecard", lambda m: m.update(kind="scorecards")),
    ],
)
def test_typo_is_caught(kind, break_it, docs, manifest_validator):
    manifest = copy.deepcopy(MANIFESTS[kind])
    break_it(manifest)
    assert not manifest_validator.is_valid(manifest)
    if manifest["kind"] == kind:
        assert not Draft7Validator(docs[f"{kind}.schema.json"]).is_valid(manifest)


def test_reference_fields_are_plain_strings(docs):
    defs = docs["assistant.schema.json"]["$defs"]
    assert defs["ToolCallHookAction"]["properties"]["toolId"]["type"] == "string"
    assert defs["ArtifactPlan"]["properties"]["scorecardIds"]["items"] == {"type": "string"}
    member = docs["squad.schema.json"]["$defs"]["SquadMemberDTO"]["properties"]["assistantId"]
    assert member["type"] == "string"  # a name in a manifest, never null
