"""vapiops.apispec: each repair of Vapi's spec (raw rejects, repaired accepts), messages, DTO helpers."""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib.util
import json
import re
import time
from importlib import resources
from pathlib import Path

import pytest
from conftest import time_budget
from jsonschema import Draft4Validator, Draft7Validator

from vapiops import vapispec
from vapiops.kinds import KINDS
from vapiops.vapispec.defaults import _NO_DEFAULT
from vapiops.vapispec.messages import _show
from vapiops.vapispec.pattern_repairs import _translate_unicode

ASSISTANT = KINDS["assistant"]
TOOL = KINDS["tool"]
SQUAD = KINDS["squad"]
STRUCTURED_OUTPUT = KINDS["structured-output"]
SCORECARD = KINDS["scorecard"]


def realistic_assistant() -> dict:
    return {
        "name": "support",
        "firstMessage": "Thanks for calling Acme{% if customer.name %}, {{ customer.name }}{% endif %}.",
        "firstMessageMode": "assistant-speaks-first",
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "temperature": 0.3,
            "maxTokens": 300,
            "messages": [{"role": "system", "content": "You are Riley, Acme's support agent."}],
            "toolIds": ["3f1c7d2e-0000-4000-8000-000000000001"],
        },
        "voice": {"provider": "11labs", "voiceId": "burt", "stability": 0.5, "similarityBoost": 0.75},
        "transcriber": {"provider": "deepgram", "model": "nova-3", "language": "en", "keywords": ["Acme:2"]},
        "serverMessages": ["end-of-call-report", "status-update", "tool-calls"],
        "endCallPhrases": ["goodbye"],
        "maxDurationSeconds": 900,
        "artifactPlan": {
            "recordingEnabled": True,
            "structuredOutputIds": ["3f1c7d2e-0000-4000-8000-000000000002"],
        },
        "analysisPlan": {"summaryPlan": {"enabled": True}},
        "server": {"url": "https://example.com/vapi", "timeoutSeconds": 20},
        "metadata": {"team": "support"},
        "hooks": [
            {"on": "call.ending", "do": [{"type": "tool", "toolId": "3f1c7d2e-0000-4000-8000-000000000003"}]}
        ],
        "backgroundSound": "office",
    }


def accepted(doc: dict, schema: str, body: object) -> bool:
    return vapispec.compile_validator(doc, schema).is_valid(body)


def with_repairs(*fixes) -> dict:
    """The raw spec with only these repairs applied."""
    doc = vapispec.raw_spec()
    for fix in fixes:
        assert fix(doc) > 0, f"{fix.__name__} found nothing to repair"
    return doc


# --- vendoring ------------------------------------------------------------------------------


def test_vendored_spec_matches_its_source_note():
    data = resources.files("vapiops").joinpath("data")
    raw = gzip.decompress(data.joinpath("openapi.json.gz").read_bytes())
    note = data.joinpath("SOURCE.md").read_text()
    assert hashlib.sha256(raw).hexdigest() in note
    assert f"Size {len(raw):,} bytes" in note
    assert "gzip" in note


def test_refresh_script_revendors_and_counts_changed_schemas(tmp_path):
    module_spec = importlib.util.spec_from_file_location(
        "refresh_openapi", Path(__file__).resolve().parent.parent / "scripts" / "refresh_openapi.py"
    )
    refresh = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(refresh)
    data = resources.files("vapiops").joinpath("data")
    for name in ("openapi.json.gz", "SOURCE.md"):
        (tmp_path / name).write_bytes(data.joinpath(name).read_bytes())
    newer = vapispec.raw_spec()
    newer["components"]["schemas"]["OpenAIMessage"]["description"] = "changed"
    newer["components"]["schemas"]["BrandNewDTO"] = {"type": "object"}
    del newer["components"]["schemas"]["TransferPlan"]
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(newer))
    assert refresh.refresh(source, tmp_path) == (1, 1, 1)
    raw = source.read_bytes()
    assert gzip.decompress((tmp_path / "openapi.json.gz").read_bytes()) == raw
    assert hashlib.sha256(raw).hexdigest() in (tmp_path / "SOURCE.md").read_text()
    first = (tmp_path / "openapi.json.gz").read_bytes()
    assert refresh.refresh(source, tmp_path) == (0, 0, 0)
    assert (tmp_path / "openapi.json.gz").read_bytes() == first  # deterministic gzip


def test_every_repair_is_counted_and_finds_its_defect():
    counts = vapispec.spec()["x-vapiops-repairs"]
    assert set(counts) == {fix.__name__ for fix in vapispec.REPAIRS}
    assert counts["repair_js_regex_literals"] >= 8
    assert counts["repair_oneof"] >= 100
    assert counts["repair_nullable"] >= 7


# --- each repair: a body the real API accepts, rejected by the raw spec -------------------------


def test_js_regex_literal_patterns():
    body = {"name": "lookup_order"}
    assert not accepted(vapispec.raw_spec(), "OpenAIFunction", body)
    doc = with_repairs(vapispec.repair_js_regex_literals)
    assert accepted(doc, "OpenAIFunction", body)
    assert not accepted(doc, "OpenAIFunction", {"name": "look up order!"})
    assert (
        doc["components"]["schemas"]["OpenAIFunction"]["properties"]["name"]["pattern"]
        == "^[a-zA-Z0-9_-]{1,64}$"
    )


def test_unicode_property_classes():
    body = {"provider": "deepgram", "keywords": ["Zoë:2", "Acme", "Müller:-1"]}
    with pytest.raises(re.error):  # Python's re has no \p{L}: the raw spec cannot even be applied
        accepted(with_repairs(vapispec.repair_js_regex_literals), "DeepgramTranscriber", body)
    doc = with_repairs(vapispec.repair_js_regex_literals, vapispec.repair_unicode_classes)
    assert accepted(doc, "DeepgramTranscriber", body)
    for bad in ("9lives", "two words", "Acme:x", "_under"):
        assert not accepted(doc, "DeepgramTranscriber", {"provider": "deepgram", "keywords": [bad]}), bad


def test_translate_unicode_keeps_meaning_and_refuses_what_it_cannot_say():
    assert _translate_unicode(r"^\p{L}+$") == r"^[^\W\d_]+$"
    assert re.fullmatch(_translate_unicode(r"[\p{L}\d-]+"), "ß9-é")
    assert _translate_unicode(r"[^\p{L}]") is None
    assert _translate_unicode(r"\p{Greek}") is None


def test_placeholder_patterns():
    body = {"emails": ["ada@example.com"], "role": "editor"}
    assert not accepted(
        vapispec.raw_spec(), "InviteUserDTO", body
    )  # pattern "ORG_ROLE_OR_CUSTOM_ROLE_PATTERN"
    doc = with_repairs(vapispec.repair_placeholder_patterns)
    assert accepted(doc, "InviteUserDTO", body)
    assert accepted(doc, "InviteUserDTO", {"emails": ["ada@example.com"], "role": "org-custom-1"})


def test_uncompilable_patterns():
    # JavaScript's named group syntax; Python spells it (?P<name>...).
    doc = {"components": {"schemas": {"Code": {"type": "string", "pattern": "^(?<area>\\d{3})-\\d{4}$"}}}}
    with pytest.raises(re.error):
        accepted(doc, "Code", "555-1234")
    assert vapispec.repair_uncompilable_patterns(doc) == 1
    assert accepted(doc, "Code", "555-1234")


def test_oneof_where_a_value_fits_two_branches():
    body = {"provider": "11labs", "voiceId": "burt"}  # a preset name, and so also "any string"
    assert not accepted(vapispec.raw_spec(), "ElevenLabsVoice", body)
    doc = with_repairs(vapispec.repair_oneof)
    assert accepted(doc, "ElevenLabsVoice", body)
    assert accepted(doc, "ElevenLabsVoice", {"provider": "11labs", "voiceId": "my-cloned-voice"})
    assert not accepted(doc, "ElevenLabsVoice", {"provider": "11labs", "voiceId": 5})


def test_oneof_with_a_discriminator_becomes_a_union_that_picks_one_branch():
    model = vapispec.schemas()["CreateAssistantDTO"]["properties"]["model"]
    assert model["required"] == ["provider"] and "openai" in model["properties"]["provider"]["enum"]
    issues = vapispec.check(ASSISTANT, {"model": {"provider": "openai", "model": "gpt-4o", "bogus": 1}})
    assert [i.path for i in issues] == [("model", "bogus")]  # only the OpenAI branch speaks


def test_tool_discriminator_mappings_are_derived_from_the_dtos():
    raw = vapispec.raw_spec()
    raw_post = raw["paths"]["/tool"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "code" not in raw_post["discriminator"]["mapping"]  # raw: a code tool has no DTO
    code_tool = {"type": "code", "code": "return {ok: true}"}
    assert vapispec.dto_name(TOOL, code_tool) == "CreateCodeToolDTO"
    assert vapispec.dto_name(TOOL, code_tool, update=True) == "UpdateCodeToolDTO"
    assert vapispec.check(TOOL, code_tool) == []
    assert "knowledgeBase" in vapispec.discriminator_values(TOOL, update=True)
    assert "knowledgeBase" not in vapispec.discriminator_values(TOOL)


def test_enum_on_an_array_moves_to_its_items():
    body = {"serverMessages": ["end-of-call-report", "tool-calls"]}
    assert not accepted(vapispec.raw_spec(), "CreateAssistantDTO", body)
    doc = with_repairs(vapispec.repair_array_enums)
    assert accepted(doc, "CreateAssistantDTO", body)
    assert not accepted(doc, "CreateAssistantDTO", {"serverMessages": ["end-of-cal-report"]})


def test_enum_type_contradicting_its_values():
    body = {"mode": "blind-transfer", "sipVerb": "refer"}  # declared `type: object`
    assert not accepted(vapispec.raw_spec(), "TransferPlan", body)
    doc = with_repairs(vapispec.repair_enum_types)
    assert accepted(doc, "TransferPlan", body)
    assert not accepted(doc, "TransferPlan", {"mode": "blind-transfer", "sipVerb": "invite"})


def test_known_type_errors():
    body = {"provider": "neuphonic", "voiceId": "any-voice", "language": "en"}
    assert not accepted(vapispec.raw_spec(), "NeuphonicVoice", body)  # declared `type: object`
    doc = with_repairs(vapispec.repair_known_type_errors)
    assert accepted(doc, "NeuphonicVoice", body)
    assert not accepted(doc, "NeuphonicVoice", {**body, "language": {"code": "en"}})


def test_nullable_allows_null():
    body = {"role": "assistant", "content": None}
    assert not accepted(vapispec.raw_spec(), "OpenAIMessage", body)
    doc = with_repairs(vapispec.repair_nullable)
    assert accepted(doc, "OpenAIMessage", body)
    assert not accepted(doc, "OpenAIMessage", {"role": "assistant", "content": 7})


def test_duplicate_and_empty_enums_are_normalised():
    # jsonschema tolerates both, but OAS 3.0 schemas follow Draft 4, which forbids them (editors
    # and strict validators built on it refuse the whole schema).
    raw = vapispec.raw_spec()["components"]["schemas"]
    dup = raw["DeepgramVoice"]["properties"]["voiceId"]
    empty = raw["NeuphonicVoice"]["properties"]["voiceId"]["oneOf"][0]
    assert not Draft4Validator(Draft4Validator.META_SCHEMA).is_valid(dup)
    assert not Draft4Validator(Draft4Validator.META_SCHEMA).is_valid(empty)
    doc = with_repairs(vapispec.repair_duplicate_enums, vapispec.repair_empty_enums)
    fixed = doc["components"]["schemas"]
    assert Draft4Validator.check_schema(fixed["DeepgramVoice"]["properties"]["voiceId"]) is None
    assert set(fixed["DeepgramVoice"]["properties"]["voiceId"]["enum"]) == set(dup["enum"])
    assert "enum" not in fixed["NeuphonicVoice"]["properties"]["voiceId"]["oneOf"][0]
    assert (
        vapispec.check(
            ASSISTANT, {"voice": {"provider": "neuphonic", "voiceId": "any-voice", "language": "en"}}
        )
        == []
    )


def test_unknown_properties_are_refused_except_in_user_json_schema():
    body = {"role": "system", "content": "hi", "bogus": 1}
    assert accepted(vapispec.raw_spec(), "OpenAIMessage", body)  # the raw spec lets it through
    assert not accepted(vapispec.spec(), "OpenAIMessage", body)  # Vapi answers 400
    # A structured output's own JSON Schema may use any keyword.
    output = {
        "name": "csat",
        "schema": {
            "type": "object",
            "properties": {"score": {"type": "number", "minimum": 1}},
            "additionalProperties": False,
        },
    }
    assert vapispec.check(STRUCTURED_OUTPUT, output) == []


def test_openapi_only_keywords_are_gone_and_dtos_are_valid_json_schema():
    leftovers = {
        key
        for schema in vapispec.schemas().values()
        for node in vapispec.walk(schema)
        for key in ("example", "nullable", "discriminator", "xml")
        if key in node
    }
    assert leftovers == set()
    for name in ("CreateAssistantDTO", "CreateSquadDTO", "CreateStructuredOutputDTO", "CreateScorecardDTO"):
        Draft7Validator.check_schema({"$ref": f"#/$defs/{name}", "$defs": vapispec.bundle([name])})


# --- check() messages -------------------------------------------------------------------------


def test_realistic_assistant_passes():
    assert vapispec.check(ASSISTANT, realistic_assistant()) == []


def test_bad_enum_names_the_path_and_a_close_value():
    body = realistic_assistant()
    body["model"]["messages"][0]["role"] = "sytem"
    [issue] = vapispec.check(ASSISTANT, body)
    assert issue.path == ("model", "messages", 0, "role")
    assert "'sytem'" in issue.message and "did you mean 'system'?" in issue.message
    assert issue.unknown_property is None


def test_unknown_property_with_did_you_mean():
    body = realistic_assistant()
    body["firstMesage"] = "hello"
    body["model"]["temprature"] = 0.2
    issues = vapispec.check(ASSISTANT, body)
    assert [(i.path, i.unknown_property) for i in issues] == [
        (("firstMesage",), "firstMesage"),
        (("model", "temprature"), "temprature"),
    ]
    assert issues[0].message == "property firstMesage should not exist (did you mean 'firstMessage'?)"
    assert issues[1].message == "property temprature should not exist (did you mean 'temperature'?)"
    assert vapispec.check(ASSISTANT, {"zzzqqq": 1})[0].message == "property zzzqqq should not exist"


def test_missing_required_field():
    issues = vapispec.check(STRUCTURED_OUTPUT, {"name": "csat"})
    assert [(i.path, i.message) for i in issues] == [((), "missing required property 'schema'")]
    hook = {"hooks": [{"on": "call.ending", "do": [{"toolId": "x"}]}]}
    assert [(i.path, i.message) for i in vapispec.check(ASSISTANT, hook)] == [
        (("hooks", 0, "do", 0), "missing required property 'type'")
    ]


def test_wrong_tool_variant():
    [issue] = vapispec.check(TOOL, {"type": "functoin", "function": {"name": "x"}})
    assert issue.path == ("type",)
    assert "'functoin'" in issue.message and "did you mean 'function'?" in issue.message
    assert "apiRequest" in issue.message and "transferCall" in issue.message
    [missing] = vapispec.check(TOOL, {"function": {"name": "x"}})
    assert missing.path == () and "missing required property 'type'" in missing.message
    assert vapispec.dto_name(TOOL, {"type": "functoin"}) is None


def test_over_long_structured_output_name():
    limit = vapispec.schemas()["CreateStructuredOutputDTO"]["properties"]["name"]["maxLength"]
    schema = {"type": "boolean"}
    assert vapispec.check(STRUCTURED_OUTPUT, {"name": "n" * limit, "schema": schema}) == []
    [issue] = vapispec.check(STRUCTURED_OUTPUT, {"name": "n" * (limit + 1), "schema": schema})
    assert issue.path == ("name",)
    assert issue.message == f"is {limit + 1} characters long; at most {limit} allowed"


def test_all_issues_at_once_sorted_by_path():
    body = realistic_assistant()
    body["voice"]["voiceId"] = 5
    body["model"]["messages"][0]["role"] = "sytem"
    body["transcriber"]["keywords"] = ["9lives"]
    body["maxDurationSeconds"] = "long"
    paths = [i.path for i in vapispec.check(ASSISTANT, body)]
    assert paths == [
        ("maxDurationSeconds",),
        ("model", "messages", 0, "role"),
        ("transcriber", "keywords", 0),
        ("voice", "voiceId"),
    ]


def test_update_uses_the_update_dto():
    assert vapispec.check(STRUCTURED_OUTPUT, {"description": "x"}, update=True) == []
    assert vapispec.check(STRUCTURED_OUTPUT, {"description": "x"})  # create needs name and schema
    assert [i.message for i in vapispec.check(SQUAD, {"name": "desk"}, update=True)] == [
        "missing required property 'members'"
    ]


def test_secret_values_never_reach_messages():
    assert _show("sk-live-123", ("credentials", 0, "apiKey")) == "(sensitive)"
    assert _show("x" * 500, ("firstMessage",)).endswith("...'")


def test_not_an_object():
    assert vapispec.check(ASSISTANT, ["x"]) == [vapispec.SchemaIssue((), "expected an object, got array")]


# --- tools ------------------------------------------------------------------------------------

MINIMAL_TOOLS = {
    "apiRequest": {"method": "POST", "url": "https://example.com/orders"},
    "bash": {"subType": "bash_20241022", "name": "bash"},
    "code": {"code": "return {ok: true};"},
    "computer": {
        "subType": "computer_20241022",
        "name": "computer",
        "displayWidthPx": 1024,
        "displayHeightPx": 768,
    },
    "dtmf": {},
    "endCall": {},
    "function": {},
    "gohighlevel.calendar.availability.check": {},
    "gohighlevel.calendar.event.create": {},
    "gohighlevel.contact.create": {},
    "gohighlevel.contact.get": {},
    "google.calendar.availability.check": {},
    "google.calendar.event.create": {},
    "google.sheets.row.append": {},
    "handoff": {},
    "mcp": {},
    "query": {},
    "sipRequest": {"verb": "INFO"},
    "slack.message.send": {},
    "sms": {},
    "textEditor": {"subType": "text_editor_20241022", "name": "str_replace_editor"},
    "transferCall": {},
    "voicemail": {},
}


def test_every_tool_type_has_a_minimal_valid_body():
    assert sorted(MINIMAL_TOOLS) == vapispec.discriminator_values(TOOL)
    for tool_type, fields in MINIMAL_TOOLS.items():
        body = {"type": tool_type, **fields}
        assert vapispec.check(TOOL, body) == [], tool_type
        assert vapispec.check(TOOL, {"type": tool_type}, update=True) == [], tool_type
        required = vapispec.schemas()[vapispec.dto_name(TOOL, body)].get("required", [])
        assert sorted(required) == sorted(["type", *fields]), tool_type  # truly minimal


def test_realistic_tools_pass():
    function = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order",
            "parameters": {
                "type": "object",
                "properties": {"orderId": {"type": "string"}},
                "required": ["orderId"],
            },
        },
        "server": {"url": "https://example.com/tools"},
        "messages": [{"type": "request-start", "content": "One moment."}],
    }
    transfer = {
        "type": "transferCall",
        "destinations": [{"type": "number", "number": "+14155550100", "message": "Transferring you now."}],
    }
    handoff = {
        "type": "handoff",
        "destinations": [{"type": "assistant", "assistantId": "3f1c7d2e-0000-4000-8000-000000000009"}],
    }
    for body in (function, transfer, handoff):
        assert vapispec.check(TOOL, body) == [], body["type"]


def test_dto_names_of_plain_kinds():
    assert vapispec.dto_name(ASSISTANT, {}) == "CreateAssistantDTO"
    assert vapispec.dto_name(ASSISTANT, {}, update=True) == "UpdateAssistantDTO"
    assert vapispec.discriminator_values(ASSISTANT) == []


# --- accepts, filter_to_update --------------------------------------------


def test_accepts():
    assert vapispec.accepts(ASSISTANT, {}, "name")
    assert not vapispec.accepts(ASSISTANT, {}, "id")
    assert vapispec.accepts(TOOL, {"type": "apiRequest"}, "name")
    assert not vapispec.accepts(TOOL, {"type": "function"}, "name")  # its name is function.name
    assert not vapispec.accepts(TOOL, {"type": "nope"}, "name")


def _accepts_by_walking(kind, body, prop, update):
    """accepts() without its per-DTO shortcuts: the DTO's shape for this body, walked."""
    from vapiops.vapispec import shapes

    name = vapispec.dto_name(kind, body, update=update)
    return name is not None and prop in shapes._shape([{"$ref": "#/components/schemas/" + name}], body)[0]


@pytest.mark.parametrize("kind", sorted(KINDS.values(), key=lambda k: k.name), ids=lambda k: k.name)
def test_accepts_shortcuts_agree_with_walking_the_dto_for_every_kind_body_and_property(kind):
    from vapiops.vapispec import shapes

    bodies = [{}] + [{kind.discriminator: value} for value in vapispec.discriminator_values(kind)]
    for update in (False, True):
        for body in bodies:
            name = vapispec.dto_name(kind, body, update=update)
            props = sorted(shapes._possible(name)) if name else []
            for prop in [*props, "name", "notAField"]:
                assert vapispec.accepts(kind, body, prop, update=update) == _accepts_by_walking(
                    kind, body, prop, update
                ), (kind.name, body, prop, update)


def test_filter_to_update_strips_read_only_fields_and_passes_everything_else_through():
    live = realistic_assistant()
    live.update(
        id="a1",
        orgId="o1",
        createdAt="2026-01-01T00:00:00Z",
        updatedAt="2026-01-02T00:00:00Z",
        isServerUrlSecretSet=False,
        latestVersion="v3",
    )
    live["model"]["serviceTier"] = "priority"  # in Vapi's SDK, not in its published spec
    live["voice"]["chunkPlan"] = {"enabled": True, "internalScore": 3}
    live["messagePlan"] = {"idleMessages": ["hello?"]}
    live["silenceTimeoutSeconds"] = 30
    filtered = vapispec.filter_to_update(ASSISTANT, live)
    assert set(live) - set(filtered) == {
        "id",
        "orgId",
        "createdAt",
        "updatedAt",
        "isServerUrlSecretSet",
        "latestVersion",
    }
    assert filtered["model"]["serviceTier"] == "priority"
    assert filtered["voice"]["chunkPlan"] == {"enabled": True, "internalScore": 3}
    assert filtered["messagePlan"] == {"idleMessages": ["hello?"]}
    assert filtered["silenceTimeoutSeconds"] == 30
    assert filtered["metadata"] == {"team": "support"}
    assert "id" in live  # input untouched


def test_read_only_fields_are_derived_from_response_minus_request_schemas_plus_the_table():
    derived = vapispec.read_only_fields(ASSISTANT)
    assert {"id", "orgId", "createdAt", "updatedAt", "latestVersion"} <= derived  # from the spec
    assert {"isServerUrlSecretSet", "isDeleted"} <= derived  # the registry's named table
    assert not derived & {"name", "model", "voice", "firstMessage", "server"}
    assert "type" not in vapispec.read_only_fields(TOOL)


@pytest.mark.parametrize(
    "body, unknown",
    [
        ({"name": "a"}, []),
        ({"zzzDashboardOnly": 30}, [("zzzDashboardOnly",)]),
        (
            {"model": {"provider": "openai", "model": "gpt-4o", "zzzDashboardOnly": "priority"}},
            [("model", "zzzDashboardOnly")],
        ),
        # Known beyond the published spec (the catalogue): not unknown.
        ({"silenceTimeoutSeconds": 30}, []),
        ({"model": {"provider": "openai", "model": "gpt-4o", "serviceTier": "priority"}}, []),
        (
            {"voice": {"provider": "11labs", "voiceId": "v", "chunkPlan": {"enabled": True, "x": 1}}},
            [("voice", "chunkPlan", "x")],
        ),
        ({"metadata": {"anything": {"goes": 1}}}, []),  # a free-form object knows every key
    ],
)
def test_unknown_paths_names_what_the_spec_does_not_know_at_any_depth(body, unknown):
    assert vapispec.unknown_paths(ASSISTANT, body) == unknown


def test_filter_to_update_leaves_behind_a_key_of_another_union_alternative():
    # The message's type changed; `blocking` belongs to the old type (the spec knows it there).
    live = {
        "type": "function",
        "function": {"name": "f"},
        "messages": [{"type": "request-complete", "blocking": False, "content": "ok", "extra": 1}],
    }
    filtered = vapispec.filter_to_update(TOOL, live)
    assert filtered["messages"] == [{"type": "request-complete", "content": "ok", "extra": 1}]


def test_filter_to_update_for_a_tool():
    live = {
        "id": "t1",
        "orgId": "o1",
        "type": "function",
        "createdAt": "x",
        "function": {"name": "lookup_order", "parameters": {"type": "object", "properties": {}}},
    }
    assert vapispec.filter_to_update(TOOL, live) == {
        "type": "function",
        "function": {"name": "lookup_order", "parameters": {"type": "object", "properties": {}}},
    }


def test_described_default_parsing():
    parse = vapispec.described_default
    assert parse("Mode.\n\n@default 'assistant-speaks-first'") == "assistant-speaks-first"
    assert parse("@default 600 (10 minutes)") == 600
    assert parse("@default 0.4") == 0.4
    assert parse("@default false") is False
    assert parse("@default fixed", ["fixed", "exponential"]) == "fixed"
    for none in ("@default fixed", "@default []", "@default undefined (no retry)", "@default UUID", "no tag"):
        assert parse(none) is _NO_DEFAULT, none


def test_apply_defaults_fills_top_level_and_nested_and_still_passes_check():
    body = realistic_assistant()
    del body["firstMessageMode"], body["model"]["temperature"]
    filled = vapispec.apply_defaults(ASSISTANT, body)
    assert filled["firstMessageMode"] == "assistant-speaks-first"  # "@default" in the description
    assert filled["modelOutputInMessagesEnabled"] is False
    assert filled["model"]["temperature"] == 0.5  # EXTRA_MODEL_DEFAULTS
    assert filled["transcriber"]["confidenceThreshold"] == 0.4  # nested, present object
    assert filled["maxDurationSeconds"] == 900  # declared values are never replaced
    assert "compliancePlan" not in filled  # absent objects are not invented
    assert vapispec.check(ASSISTANT, filled) == []
    assert "firstMessageMode" not in body  # input untouched


def test_apply_defaults_passes_check_for_every_kind():
    bodies = [
        (ASSISTANT, realistic_assistant()),
        (SQUAD, {"name": "desk", "members": [{"assistantId": "3f1c7d2e-0000-4000-8000-000000000001"}]}),
        (STRUCTURED_OUTPUT, {"name": "csat", "schema": {"type": "number"}}),
        (
            SCORECARD,
            {
                "name": "quality",
                "metrics": [
                    {
                        "structuredOutputId": "s1",
                        "conditions": [{"type": "comparator", "comparator": ">=", "value": 3, "points": 100}],
                    }
                ],
            },
        ),
    ] + [(TOOL, {"type": t, **fields}) for t, fields in MINIMAL_TOOLS.items()]
    for kind, body in bodies:
        assert vapispec.check(kind, body) == [], (kind.name, body)
        assert vapispec.check(kind, vapispec.apply_defaults(kind, body)) == [], (kind.name, body)
    assert vapispec.apply_defaults(STRUCTURED_OUTPUT, bodies[2][1])["type"] == "ai"  # JSON `default`


# --- performance ------------------------------------------------------------------------------


def test_a_thousand_checks_take_well_under_two_seconds():
    body = realistic_assistant()
    vapispec.check(ASSISTANT, body)  # compile once
    bodies = [copy.deepcopy(body) for _ in range(1000)]
    start = time.perf_counter()
    for each in bodies:
        assert not vapispec.check(ASSISTANT, each)
    assert time.perf_counter() - start < time_budget(2.0)


def test_apply_defaults_never_takes_a_default_from_the_wrong_union_branch():
    # A handoff destination inside a squad member: `transferMode` belongs to the *transfer* branch
    # of the same union; filling it made the stored object fail its own Create DTO.
    squad = KINDS["squad"]
    body = {
        "members": [
            {
                "assistantId": "00000000-0000-4000-8000-000000000000",
                "assistantDestinations": [
                    {
                        "type": "assistant",
                        "assistantName": "billing",
                        "assistantId": "00000000-0000-4000-8000-000000000001",
                    }
                ],
            }
        ]
    }
    assert vapispec.check(squad, body) == []
    filled = vapispec.apply_defaults(squad, body)
    assert vapispec.check(squad, filled) == []
    assert "transferMode" not in filled["members"][0]["assistantDestinations"][0]
