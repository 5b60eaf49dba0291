"""The registry is complete: every ID field of every managed kind's Create DTO is a reference or external.

The vendored spec is walked (through $ref, allOf/anyOf/oneOf, if/then/else, items and maps; each
component once) for ID-bearing fields: `format: uuid`, names ending in `Id`/`Ids`, `toolRefs`. A field
that is neither a RefField of its kind nor in EXTERNAL_ID_FIELDS fails the test, listed as a to-do.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from vapiops import paths, vapispec
from vapiops.capabilities import RefField
from vapiops.kinds import EXTERNAL_ID_FIELDS, KINDS, Kind
from vapiops.vapispec.walk import REF_PREFIX

_ID_NAME = re.compile(r"(Id|Ids)$")


def _is_id_field(name: str, schema: dict) -> bool:
    return schema.get("format") == "uuid" or bool(_ID_NAME.search(name)) or name == "toolRefs"


def _join(head: str, rest: str) -> str:
    return head + rest if not rest or rest.startswith("[") else f"{head}.{rest}"


@cache
def _component_fields(name: str) -> frozenset[str]:
    _in_progress.add(name)
    try:
        return frozenset(_fields(vapispec.schemas()[name]))
    finally:
        _in_progress.discard(name)


_in_progress: set[str] = set()


def _fields(node: object) -> set[str]:
    """Paths (relative, `[]` for any index) of the ID fields inside one schema node."""
    if not isinstance(node, dict):
        return set()
    if "$ref" in node:
        name = node["$ref"].removeprefix(REF_PREFIX)
        # A component already being walked is a cycle: its fields are found at its outer occurrence.
        return set() if name in _in_progress else set(_component_fields(name))
    found: set[str] = set()
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or []:
            found |= _fields(sub)
    for key in ("then", "else"):
        found |= _fields(node.get(key))
    found |= {_join("[]", p) for p in _fields(node.get("items"))}
    found |= {_join("*", p) for p in _fields(node.get("additionalProperties"))}
    for prop, sub in (node.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        inner = _fields(sub)
        if prop == "toolRefs":
            pass  # the container: its elements' toolId is the ID field
        elif _is_id_field(prop, sub):
            array = sub.get("type") == "array" or "items" in sub
            found.add(prop + ("[]" if array else ""))
        found |= {_join(prop, p) for p in inner}
    return found


def create_dto_id_fields(kind: Kind) -> set[str]:
    """Every ID field path of the kind's Create DTO (of every variant, for a discriminated kind)."""
    schemas = vapispec.schemas()
    if kind.create_dto in schemas:
        return _fields({"$ref": REF_PREFIX + kind.create_dto})
    body = vapispec.spec()["paths"][kind.path]["post"]["requestBody"]["content"]["application/json"]
    return _fields(body["schema"])


def _concrete(pattern_text: str) -> paths.Path:
    return tuple(0 if step == paths.ANY_INDEX else step for step in paths.parse_path(pattern_text))


def _covered_by(kind: Kind, field_path: str) -> list[str]:
    path = _concrete(field_path)
    return [r.pattern for r in kind.references if paths.matches(r.pattern, path)] + [
        e.pattern for e in kind.external_ids if paths.matches(e.pattern, path)
    ]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_every_id_field_of_the_create_dto_is_a_reference_or_deliberately_external(kind: Kind):
    fields = create_dto_id_fields(kind)
    # A kind whose DTO holds no ID (a knowledge base, an eval) declares no reference either.
    assert fields or not kind.body_references, "the walk found no ID field at all: it is broken"
    missing = sorted(f for f in fields if not _covered_by(kind, f))
    assert not missing, (
        f"{kind.name}: ID fields that are neither a RefField nor in EXTERNAL_ID_FIELDS "
        "(add each to kinds.py):\n  " + "\n  ".join(missing)
    )


def test_the_walk_finds_id_fields_in_every_kind_that_has_references():
    assert all(create_dto_id_fields(k) for k in KINDS.values() if k.body_references)
    assert len([k for k in KINDS.values() if create_dto_id_fields(k)]) >= 10


def test_the_walk_finds_the_fields_the_audit_named():
    # The ID fields issue 9 found unregistered must be found by the walk (else it proves nothing).
    assert {
        "model.toolRefs[].toolId",
        "artifactPlan.scorecards[].metrics[].structuredOutputId",
        "hooks[].do[].toolId",
    } <= create_dto_id_fields(KINDS["assistant"])
    squad = create_dto_id_fields(KINDS["squad"])
    assert {
        "membersOverrides.hooks[].do[].toolId",
        "membersOverrides.artifactPlan.structuredOutputIds[]",
        "members[].assistantOverrides.artifactPlan.scorecardIds[]",
    } <= squad
    assert any(f.startswith("members[].assistantOverrides.tools:append[]") for f in squad)
    assert "destinations[].assistantId" in create_dto_id_fields(KINDS["tool"])


def test_no_registry_entry_is_dead():
    """Every reference and external pattern matches some ID field of the spec (no stale entries)."""
    every = {(k.name, f) for k in KINDS.values() for f in create_dto_id_fields(k)}
    entries: list[RefField | object] = [r for k in KINDS.values() for r in k.body_references]
    entries += list(EXTERNAL_ID_FIELDS)
    dead = sorted(
        {
            e.pattern  # type: ignore[attr-defined]
            for e in entries
            if not any(paths.matches(e.pattern, _concrete(f)) for _, f in every)  # type: ignore[attr-defined]
        }
    )
    assert not dead


def test_each_external_id_field_gives_a_reason():
    for entry in EXTERNAL_ID_FIELDS:
        assert entry.holds and len(entry.reason) > 10


@pytest.mark.parametrize(
    ("kind", "field_path", "target"),
    [
        ("assistant", "model.toolRefs[0].toolId", "tool"),
        ("assistant", "model.tools[0].destinations[0].assistantId", "assistant"),
        ("assistant", "model.tools[0].destinations[0].squadId", "squad"),
        ("assistant", "artifactPlan.scorecards[0].metrics[0].structuredOutputId", "structured-output"),
        ("squad", "members[0].assistantOverrides.artifactPlan.structuredOutputIds[0]", "structured-output"),
        ("squad", "membersOverrides.artifactPlan.scorecardIds[0]", "scorecard"),
        ("squad", "membersOverrides.hooks[0].do[0].toolId", "tool"),
        ("squad", "members[0].assistantOverrides.tools:append[0].destinations[0].assistantId", "assistant"),
        ("squad", "members[0].assistantDestinations[0].assistantId", "assistant"),
        ("tool", "destinations[0].assistantId", "assistant"),
        ("scorecard", "metrics[0].structuredOutputId", "structured-output"),
        ("assistant", "model.knowledgeBases[0].fileIds[0]", "file"),
        ("assistant", "credentialIds[0]", "credential"),
        ("tool", "server.credentialId", "credential"),
        ("phone-number", "assistantId", "assistant"),
        ("phone-number", "squadId", "squad"),
        ("phone-number", "credentialId", "credential"),
        ("phone-number", "server.credentialId", "credential"),
        ("simulation", "scenarioId", "simulation-scenario"),
        ("simulation", "personalityId", "simulation-personality"),
        ("simulation-suite", "simulationIds[0]", "simulation"),
        ("simulation-scenario", "evaluations[0].structuredOutputId", "structured-output"),
        ("simulation-personality", "assistant.model.toolIds[0]", "tool"),
    ],
)
def test_the_audits_id_fields_are_references_to_the_right_kind(kind: str, field_path: str, target: str):
    path = paths.parse_path(field_path)
    assert [r.target for r in KINDS[kind].references if paths.matches(r.pattern, path)] == [target]


def test_the_reference_table_in_docs_is_the_registry():
    """docs/manifests.md lists exactly the registry's reference fields, with their kinds and targets."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "manifests.md").read_text(encoding="utf-8")
    rows = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        targets = cells[2].split(" or ") if len(cells) == 3 else []
        if targets and all(t in KINDS for t in targets) and cells[1].startswith("`"):
            field = cells[1].split("`")[1]
            for kind in cells[0].split(", "):
                rows.add((kind, field, cells[2]))
    assert rows == {(k.name, r.pattern, " or ".join(r.targets)) for k in KINDS.values() for r in k.references}


# A credential field whose name says "secret" but is not one, with the reason.
NOT_SECRET = {
    "publicKey": "a public key (Langfuse's pk-lf-..., an encryption plan's): public by definition",
}
_SECRET_NAME = re.compile(r"(?i)(key|secret|token|password)$")


def _credential_secret_fields() -> set[tuple[str, paths.Path]]:
    """(DTO, concrete path) of every string field of every Create*CredentialDTO that the spec says is
    "not returned in the API" or whose name looks secret: key, secret, token, password."""
    schemas = vapispec.raw_spec()["components"]["schemas"]
    found: set[tuple[str, paths.Path]] = set()

    def walk(dto: str, node: object, at: paths.Path, seen: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            name = node["$ref"].removeprefix(REF_PREFIX)
            if name not in seen:
                walk(dto, schemas[name], at, seen | {name})
            return
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key) or []:
                walk(dto, sub, at, seen)
        walk(dto, node.get("items"), (*at, 0), seen)
        for prop, sub in (node.get("properties") or {}).items():
            if not isinstance(sub, dict):
                continue
            hidden = "not returned in the API" in (sub.get("description") or "")
            if sub.get("type") == "string" and (hidden or _SECRET_NAME.search(prop)):
                found.add((dto, (*at, prop)))
            walk(dto, sub, (*at, prop), seen)

    for name in schemas:
        if re.fullmatch(r"Create\w+CredentialDTO", name):
            walk(name, schemas[name], (), frozenset({name}))
    return found


def test_every_secret_field_of_every_credential_dto_is_sensitive():
    from vapiops.kinds import is_secret_path

    fields = _credential_secret_fields()
    assert len(fields) >= 40, "the walk found too few fields: it is broken"
    missing = sorted(
        f"{dto}: {paths.format_path(at)}"
        for dto, at in fields
        if not is_secret_path(at) and at[-1] not in NOT_SECRET
    )
    assert not missing, "secret credential fields kinds.SECRET_KEYS misses:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize(
    ("field_path", "secret"),
    [
        ("openAIKey", True),
        ("ocpApimSubscriptionKey", True),
        ("webhookUrl", True),
        ("authenticationPlan.awsAccessKeyId", True),
        ("bucketPlan.hmacAccessKey", True),
        ("gcpKey.privateKey", True),
        ("publicKey", False),
        ("gcpKey.privateKeyId", False),
        ("bucketPlan.accessKeyId", False),
        ("name", False),
    ],
)
def test_credential_secret_fields_table(field_path: str, secret: bool):
    from vapiops.kinds import is_secret_path

    assert is_secret_path(paths.parse_path(field_path)) is secret


@pytest.mark.parametrize(
    ("target_type", "target"),
    [("assistant", "assistant"), ("squad", "squad"), ("workflow", None), (None, None)],
)
def test_a_suite_targets_kind_is_chosen_by_its_target_type(target_type, target):
    assignment = {"targetId": "desk"} | ({"targetType": target_type} if target_type else {})
    found = KINDS["simulation-suite"].find_references({"targetAssignments": [assignment]})
    assert [(ref.target, path, value) for ref, path, value in found] == (
        [(target, ("targetAssignments", 0, "targetId"), "desk")] if target else []
    )


def test_references_to_a_kind_referenced_by_another_field_than_its_id():
    assert KINDS["pronunciation-dictionary"].referenced_by == "resourceId"
    voice = {"voice": {"pronunciationDictionaryLocators": [{"pronunciationDictionaryId": "brand"}]}}
    ((ref, _, value),) = KINDS["assistant"].find_references(voice)
    assert (ref.target, value) == ("pronunciation-dictionary", "brand")


def test_the_pronunciation_dictionary_paths_are_added_once_from_the_published_provider_enum():
    from vapiops.vapispec.wiring_repairs import PRONUNCIATION_PATH, repair_pronunciation_dictionary_paths

    doc = vapispec.raw_spec()
    assert repair_pronunciation_dictionary_paths(doc) == 2
    assert repair_pronunciation_dictionary_paths(doc) == 0  # present already
    provider = doc["components"]["schemas"]["CreatePronunciationDictionaryDTO"]["properties"]["provider"]
    assert sorted(provider["enum"]) == sorted(KINDS["pronunciation-dictionary"].path_params["provider"])
    assert PRONUNCIATION_PATH == KINDS["pronunciation-dictionary"].path
    assert repair_pronunciation_dictionary_paths({"paths": {}, "components": {"schemas": {}}}) == 0


def _request_schema(operation: dict) -> tuple[str, dict]:
    (content_type, media) = next(iter(operation["requestBody"]["content"].items()))
    return content_type, media["schema"]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_what_the_spec_says_of_a_kind_is_what_the_registry_says(kind: Kind):
    """The registry's spec-derived columns (path, list shape, DTO names, discriminated or not,
    multipart or JSON) agree with the spec's operations; only what the spec cannot say is by hand."""
    spec_paths = vapispec.spec()["paths"]
    collection, item = spec_paths[kind.path], spec_paths[kind.path + "/{id}"]
    listed = collection["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert kind.list_shape == ("array" if listed.get("type") == "array" else "paginated")
    for operation, dto_name in ((collection["post"], kind.create_dto), (item["patch"], kind.update_dto)):
        content_type, schema = _request_schema(operation)
        assert (content_type == "multipart/form-data") == (
            kind.upload is not None and operation is collection["post"]
        )
        if "oneOf" in schema:
            assert kind.discriminator is not None  # one DTO per `type`/`provider`, chosen by the body
        else:
            assert schema["$ref"] == REF_PREFIX + dto_name
