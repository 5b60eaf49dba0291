"""Open-world validation: the catalogue of fields beyond Vapi's spec, dotted allow_fields, typos as
errors, other unknown properties as warnings (errors with --strict), and the wiring repairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_files

from vapiops import vapispec
from vapiops.errors import ManifestError, Problem, ValidationError
from vapiops.kinds import KINDS
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources
from vapiops.vapispec.catalogue import catalogue_fields
from vapiops.vapispec.validators import field_path

ASSISTANT, TOOL, SQUAD, OUTPUT = (KINDS[k] for k in ("assistant", "tool", "squad", "structured-output"))
OPENAI = {"provider": "openai", "model": "gpt-4o"}
UUID = "00000000-0000-4000-8000-000000000000"


def _check(kind, body, **kw):
    return [(i.path, i.warning) for i in vapispec.check(kind, body, **kw)]


# --- the catalogue: fields the real API accepts beyond the spec, at any depth --------------------


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (ASSISTANT, {"model": {**OPENAI, "serviceTier": "priority"}}),  # SDK 3.0.0
        (ASSISTANT, {"silenceTimeoutSeconds": 30, "backgroundDenoisingEnabled": True}),  # legacy
        (ASSISTANT, {"messagePlan": {"idleMessages": ["still there?"], "idleTimeoutSeconds": 8}}),
        (
            ASSISTANT,
            {"hipaaEnabled": False, "numWordsToInterruptAssistant": 2, "endCallFunctionEnabled": True},
        ),
        (ASSISTANT, {"server": {"url": "https://example.com/hook", "secret": "s3cret"}}),
        (ASSISTANT, {"voice": {"provider": "cartesia", "voiceId": "abc", "speed": 1.1}}),
        (ASSISTANT, {"voice": {"provider": "deepgram", "voiceId": "asteria", "speed": 1.2}}),
        (
            ASSISTANT,
            {
                "model": {
                    "provider": "anthropic",
                    "model": "claude-3-5-sonnet-20241022",
                    "serviceTier": "auto",
                }
            },
        ),
        (TOOL, {"type": "transferCall", "function": {"name": "transfer_call"}, "async": False}),
        (TOOL, {"type": "endCall", "function": {"name": "end_call_tool"}}),
        (OUTPUT, {"name": "x", "type": "ai", "target": "messages", "schema": {"type": "string"}}),
        (
            SQUAD,
            {"members": [{"assistantId": UUID, "assistantOverrides": {"backgroundDenoisingEnabled": True}}]},
        ),
    ],
)
def test_catalogue_fields_are_accepted_at_any_depth_even_by_the_closed_sandbox_check(kind, body):
    assert _check(kind, body) == []
    assert _check(kind, body, update=True) == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"silenceTimeoutSeconds": "thirty"}, ("silenceTimeoutSeconds",)),
        ({"model": {**OPENAI, "serviceTier": 3}}, ("model", "serviceTier")),
        ({"server": {"url": "https://x.example", "secret": True}}, ("server", "secret")),
    ],
)
def test_catalogue_fields_are_checked_by_their_type(body, path):
    issues = vapispec.check(ASSISTANT, body, open_world=True)
    assert [(i.path, i.warning) for i in issues] == [(path, False)]


def test_every_catalogued_schema_exists_and_every_legacy_field_says_why():
    names = vapispec.schemas()
    for schema, prop, source, _body in catalogue_fields():
        assert schema in names, f"{source} field {prop} names unknown schema {schema}"
        assert prop in names[schema]["properties"]
    data = json.loads(Path(vapispec.__file__).parent.parent.joinpath("data/legacy_fields.json").read_text())
    assert all(len(entry["reason"]) > 20 for entry in data["fields"])


# --- unknown properties: typo -> error with did-you-mean; other -> warning; closed mode -> error ---


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (
            {"firstMesage": "hi"},
            ("firstMesage",),
            "property firstMesage should not exist (did you mean 'firstMessage'?)",
        ),
        ({"model": {**OPENAI, "temprature": 0.2}}, ("model", "temprature"), "(did you mean 'temperature'?)"),
        ({"silenceTimeoutSecond": 30}, ("silenceTimeoutSecond",), "(did you mean 'silenceTimeoutSeconds'?)"),
        (
            {"model": {**OPENAI, "serviceTeir": "auto"}},
            ("model", "serviceTeir"),
            "(did you mean 'serviceTier'?)",
        ),
    ],
)
def test_a_typo_of_a_known_or_catalogued_field_stays_an_error_with_its_did_you_mean(body, path, message):
    issues = vapispec.check(ASSISTANT, body, open_world=True)
    assert [(i.path, i.warning) for i in issues] == [(path, False)]
    assert message in issues[0].message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"zzzFutureSetting": 1}, ("zzzFutureSetting",)),
        ({"model": {**OPENAI, "qqqReasoningBudget": 5}}, ("model", "qqqReasoningBudget")),
        (
            {"hooks": [{"on": "call.ending", "do": [{"type": "tool", "toolId": UUID}], "priorityXyz": 1}]},
            ("hooks", 0, "priorityXyz"),
        ),
    ],
)
def test_any_other_unknown_property_is_a_warning_open_world_and_an_error_closed(body, path):
    open_issues = vapispec.check(ASSISTANT, body, open_world=True)
    assert [(i.path, i.warning) for i in open_issues] == [(path, True)]
    assert "not in Vapi's published spec; the API will be the judge" in open_issues[0].message
    assert _check(ASSISTANT, body) == [(path, False)]  # the sandbox, like the real whitelist, refuses it


# --- allow_fields: dotted paths at any depth ------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "body"),
    [
        (["zzzFutureSetting"], {"zzzFutureSetting": {"a": 1}}),
        (["model.qqqBudget"], {"model": {**OPENAI, "qqqBudget": 5}}),
        (["messagePlan.zzzNew"], {"messagePlan": {"zzzNew": 1}}),  # inside a catalogued object: not checked
        (["hooks[].priorityXyz"], {"hooks": [{"on": "call.ending", "do": [], "priorityXyz": 1}]}),
        (["hooks.priorityXyz"], {"hooks": [{"on": "call.ending", "do": [], "priorityXyz": 1}]}),
    ],
)
def test_allow_fields_take_dotted_paths_at_any_depth(allow, body):
    assert _check(ASSISTANT, body, allow_extra=allow) == []
    assert _check(ASSISTANT, body, allow_extra=allow, open_world=True) == []


@pytest.mark.parametrize(
    ("allow", "body", "path"),
    [
        (["qqqBudget"], {"model": {**OPENAI, "qqqBudget": 5}}, ("model", "qqqBudget")),  # top level only
        (["model.qqqBudget"], {"qqqBudget": 5}, ("qqqBudget",)),  # that depth only
    ],
)
def test_an_allowed_path_admits_that_path_only(allow, body, path):
    assert _check(ASSISTANT, body, allow_extra=allow) == [(path, False)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("model.serviceTier", ("model", "serviceTier")),
        ("members[].assistantOverrides.x", ("members", "assistantOverrides", "x")),
        (("members", 0, "assistantOverrides", "x"), ("members", "assistantOverrides", "x")),
        ("messagePlan", ("messagePlan",)),
    ],
)
def test_field_paths_leave_list_positions_out(given, expected):
    assert field_path(given) == expected


# --- the wiring repairs, with real configurations' shapes -----------------------------------------


def test_the_low_confidence_hook_the_spec_left_out_of_the_union_is_checked_as_itself():
    # The shape of Vapi's docs (assistant hooks): options are confidence bounds, not a timeout.
    hook = {
        "on": "assistant.transcriber.endpointedSpeechLowConfidence",
        "do": [{"type": "say", "exact": "Sorry, could you repeat that?"}],
        "options": {"confidenceMin": 0.4, "confidenceMax": 0.7},
    }
    assert _check(ASSISTANT, {"hooks": [hook]}) == []
    assert _check(SQUAD, {"members": [{"assistantId": UUID, "assistantOverrides": {"hooks": [hook]}}]}) == []
    wrong = {**hook, "options": {"timeoutSeconds": 5}}  # a speech-timeout option on it: wrong
    assert vapispec.check(ASSISTANT, {"hooks": [wrong]}) != []


def test_a_customer_speech_timeout_hook_from_a_live_org_still_validates():
    # From an assistant pulled by Vapi's gitops tool (tests/corpus/gitops-recording-consent.yaml).
    hook = {
        "on": "customer.speech.timeout",
        "do": [{"type": "tool", "toolId": UUID}],
        "options": {"timeoutSeconds": 5, "triggerResetMode": "onUserSpeech"},
    }
    assert _check(ASSISTANT, {"hooks": [hook]}) == []


@pytest.mark.parametrize(("version", "ok"), [(2, True), (1, True), ("latest", True), ("2", True), (3, False)])
def test_a_numeric_vapi_voice_version_is_accepted_as_the_api_coerces_it(version, ok):
    voice = {"provider": "vapi", "voiceId": "Elliot", "version": version}
    assert (_check(ASSISTANT, {"voice": voice}) == []) is ok


# --- the project: warnings collected, --strict and strict: true make them errors ------------------

MANIFEST = """
    kind: assistant
    name: support
    spec:
      firstMessage: hi
      zzzFutureSetting: 1
      model: {provider: openai, model: gpt-4o, serviceTier: priority}
"""


@pytest.mark.parametrize(
    ("config", "strict", "errors"),
    [("", False, False), ("", True, True), ("strict: true\n", False, True), ("strict: false\n", True, True)],
)
def test_unknown_fields_warn_unless_strict(tmp_path, config, strict, errors):
    write_files(tmp_path, {"vapiops.yaml": "resources: [resources]\n" + config, "resources/a.yaml": MANIFEST})
    project = load_project(tmp_path)
    env = project.environment(None)
    warnings: list[Problem] = []
    if errors:
        with pytest.raises(ValidationError) as caught:
            desired_resources(project, load_manifests(project), env, strict=strict, warnings=warnings)
        (problem,) = caught.value.problems
        assert str(problem.where) == "resources/a.yaml:5" and problem.path == "zzzFutureSetting"
        assert "--strict" in problem.message
    else:
        (desired,) = desired_resources(
            project, load_manifests(project), env, strict=strict, warnings=warnings
        )
        (warning,) = warnings
        assert str(warning) == (
            "resources/a.yaml:5 at zzzFutureSetting: property zzzFutureSetting is not in Vapi's published "
            "spec; the API will be the judge (sent as written)"
        )
        assert desired.spec["zzzFutureSetting"] == 1 and desired.spec["model"]["serviceTier"] == "priority"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("strict: yes please\n", "`strict` must be true or false"),
        ("allow_fields: {assistant: ['model..x']}\n", "is not a field path"),
        ("allow_fields: {assistant: ['model serviceTier']}\n", "is not a field path"),
    ],
)
def test_bad_strict_or_allow_fields_is_a_located_config_error(tmp_path, config, message):
    write_files(tmp_path, {"vapiops.yaml": config, "resources/.keep": ""})
    with pytest.raises(ManifestError) as caught:
        load_project(tmp_path)
    assert message in caught.value.message and caught.value.where.line == 1


def test_dotted_allow_fields_load_from_vapiops_yaml(tmp_path):
    write_files(
        tmp_path,
        {
            "vapiops.yaml": "allow_fields:\n  assistant: [model.serviceTier, 'hooks[].x']\n",
            "resources/.keep": "",
        },
    )
    assert load_project(tmp_path).allow_fields == {"assistant": ("model.serviceTier", "hooks[].x")}
