"""Adversarial end-to-end sync tests: no perpetual diffs, no wiped settings, no duplicates.

Each test drives the real CLI against the sandbox (a real HTTP server on 127.0.0.1 that fills
schema defaults into what it stores), applies, and then requires `plan --detailed-exitcode` to
exit 0 and the writes sent to be exactly the ones needed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from conftest import PLAN_SCHEMA, sandbox_cli, sandbox_client, state_ids
from conftest import writes as all_writes

from vapiops import paths, vapispec
from vapiops.kinds import KINDS

KEY = "sync-test-key"


# -- helpers ------------------------------------------------------------------------------------


class Project:
    """A project on disk whose manifests are plain dicts, rewritten whole on every change."""

    def __init__(self, root: Path):
        self.root = root
        self.docs: dict[str, dict[str, Any]] = {}  # address -> manifest

    def put(self, *docs: dict[str, Any]) -> Project:
        for doc in docs:
            self.docs[f"{doc['kind']}/{doc['name']}"] = copy.deepcopy(doc)
        return self.save()

    def drop(self, *addresses: str) -> Project:
        for addr in addresses:
            del self.docs[addr]
        return self.save()

    def spec(self, addr: str) -> dict[str, Any]:
        """The manifest's spec, to edit in place (then call save())."""
        return self.docs[addr]["spec"]

    def save(self) -> Project:
        folder = self.root / "resources"
        folder.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump_all(list(self.docs.values()), sort_keys=False, allow_unicode=True)
        (folder / "all.yaml").write_text(text, encoding="utf-8")
        return self

    def ids(self) -> dict[str, str]:
        return state_ids(self.root)


def doc(kind: str, name: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "spec": spec, **extra}


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


@pytest.fixture
def run(sandbox):
    return sandbox_cli(sandbox, KEY)


def apply(run, proj: Project, *extra: str):
    return run("apply", proj.root, "--auto-approve", *extra)


def clean(run, proj: Project) -> None:
    """The plan is empty: `--detailed-exitcode` exits 0 (the assertion prints the plan otherwise)."""
    result = run("plan", proj.root, "--detailed-exitcode", code=None)
    assert result.exit_code == 0, f"plan is not clean:\n{result.stdout}\n{result.stderr}"


def plan_json(run, proj: Project) -> dict[str, Any]:
    """The plan as JSON, checked against the shipped schema (addresses of old copies included)."""
    plan = json.loads(run("plan", proj.root, "--format", "json", code=None).stdout)
    jsonschema.validate(plan, PLAN_SCHEMA)
    return plan


def writes(sandbox) -> list[dict[str, Any]]:
    """The successful POST/PATCH/DELETE requests since the last clear, in order."""
    return all_writes(sandbox, succeeded=True)


def calls(sandbox) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in writes(sandbox)]


def live(sandbox, kind: str, obj_id: str) -> dict[str, Any]:
    (obj,) = [o for o in sandbox.objects(kind, KEY) if o["id"] == obj_id]
    return obj


def api(sandbox) -> httpx.Client:
    """The dashboard: edits the org directly, behind vapiops' back."""
    return sandbox_client(sandbox, KEY)


def dashboard_patch(sandbox, kind: str, obj_id: str, body: dict[str, Any]) -> None:
    path = KINDS[kind].path
    with api(sandbox) as c:
        c.patch(f"{path}/{obj_id}", json=body, params=KINDS[kind].patch_query or None).raise_for_status()


# -- 1. every tool type ---------------------------------------------------------------------------

MESSAGES = [
    {"type": "request-start", "content": "One moment, {{ customer.name }}…", "blocking": True},
    {"type": "request-failed", "content": "Sorry, that did not work."},
    {"type": "request-response-delayed", "content": "Still on it.", "timingMilliseconds": 2000},
]
REJECTION = {"conditions": [{"type": "regex", "regex": "(?i)\\b(bye|goodbye)\\b", "negate": True}]}
SERVER = {"url": "https://hooks.example.com/tools", "timeoutSeconds": 15}
FUNCTION = {
    "name": "lookup_order",
    "description": "Look up an order.",
    "parameters": {"type": "object", "properties": {"orderNumber": {"type": "string"}}, "required": ["orderNumber"]},
}
# Per tool type: the fields its DTO has beyond messages/rejectionPlan, and a (path, new value) edit
# whose top-level key is then removed. Types without their own fields edit rejectionPlan.
TOOL_FIELDS: dict[str, dict[str, Any]] = {
    "apiRequest": {"method": "POST", "url": "https://api.example.com/orders", "name": "create_order",
                   "description": "Create an order.", "timeoutSeconds": 30,
                   "body": {"type": "object", "properties": {"sku": {"type": "string"}}},
                   "backoffPlan": {"type": "exponential", "maxRetries": 3, "baseDelaySeconds": 1}},
    "bash": {"subType": "bash_20241022", "name": "bash", "server": SERVER},
    "code": {"code": "return { ok: true };", "timeoutSeconds": 5, "function": FUNCTION,
             "environmentVariables": [{"name": "REGION", "value": "eu"}]},
    "computer": {"subType": "computer_20241022", "name": "computer", "displayWidthPx": 1024,
                 "displayHeightPx": 768, "server": SERVER},
    "dtmf": {"sipInfoDtmfEnabled": True},
    "function": {"function": FUNCTION, "server": SERVER, "async": False},
    "handoff": {"destinations": [{"type": "assistant", "assistantId": "target", "description": "Billing."}]},
    "mcp": {"server": SERVER, "metadata": {"protocol": "shttp"}},
    "query": {"knowledgeBases": [{"name": "faq", "provider": "google", "description": "FAQ",
                                  "fileIds": ["f1", "f2"]}]},
    "sipRequest": {"verb": "INFO", "body": "hello"},
    "textEditor": {"subType": "text_editor_20241022", "name": "str_replace_editor", "server": SERVER},
    "transferCall": {"destinations": [{"type": "number", "number": "+14155550100", "description": "Front desk."}]},
    "voicemail": {"beepDetectionEnabled": True},
}
TOOL_EDITS: dict[str, tuple[str, Any]] = {
    "apiRequest": ("backoffPlan.maxRetries", 5),
    "bash": ("server.timeoutSeconds", 25),
    "code": ("environmentVariables[0].value", "us"),
    "computer": ("server.url", "https://hooks.example.com/computer"),
    "dtmf": ("sipInfoDtmfEnabled", False),
    "function": ("server.timeoutSeconds", 40),
    "handoff": ("destinations[0].description", "Billing and refunds."),
    "mcp": ("metadata.protocol", "sse"),
    "query": ("knowledgeBases[0].fileIds", ["f1", "f2", "f3"]),
    "sipRequest": ("body", "goodbye"),
    "textEditor": ("server.timeoutSeconds", 5),
    "transferCall": ("destinations[0].number", "+14155550199"),
    "voicemail": ("beepDetectionEnabled", False),
}
TOOL_TYPES = vapispec.discriminator_values(KINDS["tool"])


def function_tool(fn: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": fn, "description": f"Does {fn}."},
            "messages": [{"type": "request-start", "content": "One moment."}]}


def test_every_tool_type_is_covered():
    # A new tool type in Vapi's spec must get a realistic body here, not just `type`.
    assert len(TOOL_TYPES) >= 20
    assert set(TOOL_FIELDS) <= set(TOOL_TYPES) and set(TOOL_EDITS) <= set(TOOL_TYPES)
    for tool_type in TOOL_TYPES:
        body = {"type": tool_type, "messages": MESSAGES, "rejectionPlan": REJECTION, **TOOL_FIELDS.get(tool_type, {})}
        body = json.loads(json.dumps(body).replace('"target"', '"00000000-0000-4000-8000-000000000000"'))
        assert vapispec.check(KINDS["tool"], body) == [], tool_type


def _tool_spec(tool_type: str) -> dict[str, Any]:
    return {"type": tool_type, "messages": copy.deepcopy(MESSAGES), "rejectionPlan": copy.deepcopy(REJECTION),
            **copy.deepcopy(TOOL_FIELDS.get(tool_type, {}))}


def _patches_by_tool(sandbox, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """tool type -> the body of the one PATCH it got (asserting every write is a tool PATCH)."""
    by_id = {ids[f"tool/{t}"]: t for t in TOOL_TYPES}
    out: dict[str, dict[str, Any]] = {}
    for r in writes(sandbox):
        assert r["method"] == "PATCH" and r["path"].startswith("/tool/"), r
        tool_type = by_id[r["path"].rsplit("/", 1)[1]]
        assert tool_type not in out, f"{tool_type} patched twice"
        out[tool_type] = r["body"]
    return out


def test_every_tool_type_applies_edits_and_removes_cleanly(proj, run, sandbox):
    # One tool of each type in one project (one apply for all 23 keeps the file fast); every
    # assertion below is made per type.
    proj.put(doc("assistant", "target", {"firstMessage": "Billing here."}))
    for tool_type in TOOL_TYPES:
        proj.put(doc("tool", tool_type, _tool_spec(tool_type)))
    apply(run, proj)
    ids = proj.ids()
    assert sorted(p for m, p in calls(sandbox) if m == "POST") == ["/assistant"] + ["/tool"] * len(TOOL_TYPES)
    assert all(m == "POST" for m, _ in calls(sandbox))
    for tool_type in TOOL_TYPES:
        stored = live(sandbox, "tool", ids[f"tool/{tool_type}"])
        # The server filled defaults the manifest never declared (else this test would prove little).
        assert stored["messages"][1]["endCallAfterSpokenEnabled"] is False, tool_type
    clean(run, proj)

    # A one-field edit deep in a list of objects: one PATCH each, that key only, server-filled keys kept.
    sandbox.clear_requests()
    for tool_type in TOOL_TYPES:
        proj.spec(f"tool/{tool_type}")["messages"][0]["content"] = f"Hang on — checking {tool_type} ✓"
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        assert sorted(body) == ["messages"], tool_type
        assert body["messages"][0]["content"] == f"Hang on — checking {tool_type} ✓"
        assert body["messages"][1]["endCallAfterSpokenEnabled"] is False
    clean(run, proj)

    # Removing nested fields: the key is sent whole without them; the server re-defaults `blocking`.
    sandbox.clear_requests()
    for tool_type in TOOL_TYPES:
        del proj.spec(f"tool/{tool_type}")["messages"][0]["content"]
        del proj.spec(f"tool/{tool_type}")["messages"][0]["blocking"]
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        assert sorted(body) == ["messages"], tool_type
        assert "content" not in body["messages"][0] and "blocking" not in body["messages"][0]
        assert body["messages"][2]["timingMilliseconds"] == 2000
        stored = live(sandbox, "tool", ids[f"tool/{tool_type}"])
        assert "content" not in stored["messages"][0] and stored["messages"][0]["blocking"] is False
    clean(run, proj)

    # A type-specific edit: one PATCH carrying only its top-level key.
    edits = {t: TOOL_EDITS.get(t, ("rejectionPlan.conditions[0].regex", "(?i)ciao")) for t in TOOL_TYPES}
    tops = {t: dotted.split(".")[0].split("[")[0] for t, (dotted, _) in edits.items()}
    sandbox.clear_requests()
    for tool_type, (dotted, new) in edits.items():
        paths.set_(proj.spec(f"tool/{tool_type}"), paths.parse_path(dotted), new)
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        assert sorted(body) == [tops[tool_type]], tool_type
        dotted, new = edits[tool_type]
        assert paths.get(body, paths.parse_path(dotted)) == new, tool_type
    clean(run, proj)

    # Removing that top-level field sends it as null, and nothing else.
    sandbox.clear_requests()
    for tool_type in TOOL_TYPES:
        del proj.spec(f"tool/{tool_type}")[tops[tool_type]]
    proj.save()
    apply(run, proj)
    patches = _patches_by_tool(sandbox, ids)
    assert sorted(patches) == TOOL_TYPES
    for tool_type, body in patches.items():
        top = tops[tool_type]
        assert body == {top: None}, tool_type
        stored = live(sandbox, "tool", ids[f"tool/{tool_type}"])
        # Gone, or back as the server's own default (voicemail's beepDetectionEnabled: false).
        assert stored.get(top) == vapispec.apply_defaults(KINDS["tool"], {"type": tool_type}).get(top), tool_type
    clean(run, proj)
    assert len(sandbox.objects("tool", KEY)) == len(TOOL_TYPES)


def test_changing_a_list_elements_type_in_place_sends_only_what_the_new_type_accepts(proj, run, sandbox):
    # The live element carries a server default of the old type (`blocking` of a request-start
    # message). Sent back under the new type it is an unknown property: every apply would fail.
    proj.put(doc("tool", "t", function_tool("t")))
    apply(run, proj)
    assert live(sandbox, "tool", proj.ids()["tool/t"])["messages"][0]["blocking"] is False
    proj.spec("tool/t")["messages"] = [{"type": "request-failed", "content": "Sorry."}]
    proj.save()
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox)
    assert patch["body"] == {"messages": [{"type": "request-failed", "content": "Sorry."}]}
    clean(run, proj)


# -- 2. server defaults, numbers, reordered IDs, empty values, unicode -------------------------------

def assistant_spec(first: str = "Hi!", tools: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A realistic assistant: nested objects the server fills defaults into."""
    spec: dict[str, Any] = {
        "firstMessage": first,
        "model": {"provider": "openai", "model": "gpt-4o",
                  "messages": [{"role": "system", "content": "You are helpful."}]},
        "voice": {"provider": "11labs", "voiceId": "burt", "stability": 0.5},
        "transcriber": {"provider": "deepgram", "model": "nova-2", "language": "en"},
        "server": {"url": "https://hooks.example.com/vapi"},
        "stopSpeakingPlan": {"numWords": 2},
    }
    if tools is not None:
        spec["model"]["toolIds"] = tools
    spec.update(extra)
    return spec


def test_server_defaults_in_every_kind_never_show_as_changes(proj, run, sandbox):
    proj.put(
        doc("tool", "lookup", function_tool("lookup")),
        doc("assistant", "a", assistant_spec(
            tools=["lookup"],
            artifactPlan={"structuredOutputIds": ["outcome"]},
            hooks=[{"on": "call.ending", "do": [{"type": "tool", "toolId": "lookup"}]}],
        )),
        doc("assistant", "b", assistant_spec("Billing.")),
        doc("squad", "desk", {"members": [
            {"assistantId": "a", "assistantDestinations": [
                {"type": "assistant", "assistantName": "b", "message": "Transferring you."}]},
            {"assistantId": "b"},
        ], "membersOverrides": {"firstMessage": "Hello from the desk."}}),
        doc("structured-output", "outcome", {"schema": {"type": "object", "properties": {
            "resolved": {"type": "boolean"}}}, "assistantIds": ["a"]}),
        doc("scorecard", "quality", {"metrics": [{"structuredOutputId": "outcome", "conditions": [
            {"type": "comparator", "comparator": "=", "value": True, "points": 100}]}], "assistantIds": ["a"]}),
    )
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    # What the server filled in, nowhere declared: nested objects, and keys added to array elements.
    assert a["model"]["temperature"] == 0.5 and a["voice"]["cachingEnabled"] is True
    assert a["server"]["timeoutSeconds"] == 20 and a["stopSpeakingPlan"]["backoffSeconds"] == 1
    assert a["transcriber"]["confidenceThreshold"] == 0.4 and a["artifactPlan"]["recordingEnabled"] is True
    squad = live(sandbox, "squad", ids["squad/desk"])
    assert squad["members"][0]["assistantDestinations"][0]["transferMode"] == "rolling-history"
    assert squad["membersOverrides"]["maxDurationSeconds"] == 600
    outcome = live(sandbox, "structured-output", ids["structured-output/outcome"])
    assert outcome["type"] == "ai"
    tool = live(sandbox, "tool", ids["tool/lookup"])
    assert tool["messages"][0]["blocking"] is False and tool["function"]["strict"] is False
    sandbox.clear_requests()
    clean(run, proj)
    run("plan", proj.root, "--refresh-only", "--detailed-exitcode", code=0)  # and no drift reported
    apply(run, proj)
    assert writes(sandbox) == []


def test_numbers_by_value_booleans_apart(proj, run, sandbox):
    spec = assistant_spec(stopSpeakingPlan={"numWords": 2, "backoffSeconds": 1.0})
    spec["model"]["temperature"] = 1
    proj.put(
        doc("assistant", "a", spec),
        doc("structured-output", "score", {"schema": {"type": "number"}}),
        doc("structured-output", "flag", {"schema": {"type": "boolean"}}),
        doc("scorecard", "quality", {"metrics": [
            {"structuredOutputId": "score", "conditions": [
                {"type": "comparator", "comparator": ">=", "value": 4, "points": 50}]},
            {"structuredOutputId": "flag", "conditions": [
                {"type": "comparator", "comparator": "=", "value": True, "points": 50}]},
        ]}),
    )
    apply(run, proj)
    ids = proj.ids()
    # The dashboard (or a JavaScript server) writes the same numbers the other way round.
    a = live(sandbox, "assistant", ids["assistant/a"])
    dashboard_patch(sandbox, "assistant", ids["assistant/a"], {
        "model": {**a["model"], "temperature": 1.0},
        "stopSpeakingPlan": {**a["stopSpeakingPlan"], "backoffSeconds": 1},
    })
    card = live(sandbox, "scorecard", ids["scorecard/quality"])
    card["metrics"][0]["conditions"][0]["value"] = 4.0
    dashboard_patch(sandbox, "scorecard", ids["scorecard/quality"], {"metrics": card["metrics"]})
    assert isinstance(live(sandbox, "assistant", ids["assistant/a"])["model"]["temperature"], float)
    sandbox.clear_requests()
    clean(run, proj)
    # A boolean is not a number: `= true` turned into `= 1` in the dashboard is a change.
    card["metrics"][1]["conditions"][0]["value"] = 1
    dashboard_patch(sandbox, "scorecard", ids["scorecard/quality"], {"metrics": card["metrics"]})
    changes = plan_json(run, proj)["changes"]
    assert [(c["address"], [f["path"] for f in c["fields"]]) for c in changes] == [
        ("scorecard/quality", ["metrics[1].conditions[0].value"])]
    before, after = changes[0]["fields"][0]["before"], changes[0]["fields"][0]["after"]
    assert (type(before), before, after) == (int, 1, True) and after is True
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox)
    assert sorted(patch["body"]) == ["metrics"]
    assert patch["body"]["metrics"][1]["conditions"][0]["value"] is True
    assert patch["body"]["metrics"][0]["conditions"][0]["value"] == 4  # the live value, sent back
    clean(run, proj)


def test_reordered_id_arrays_are_no_change(proj, run, sandbox):
    proj.put(
        doc("tool", "t1", function_tool("t1")), doc("tool", "t2", function_tool("t2")),
        doc("tool", "t3", function_tool("t3")),
        doc("assistant", "a", assistant_spec(tools=["t1", "t2", "t3"])),
        doc("assistant", "b", assistant_spec("B.")),
        doc("assistant", "c", assistant_spec("C.")),
        doc("structured-output", "out", {"schema": {"type": "string"}, "assistantIds": ["a", "b", "c"]}),
        doc("scorecard", "card", {"metrics": [{"structuredOutputId": "out", "conditions": [
            {"type": "comparator", "comparator": "=", "value": 1, "points": 10}]}], "assistantIds": ["c", "a"]}),
    )
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    dashboard_patch(sandbox, "assistant", ids["assistant/a"],
                    {"model": {**a["model"], "toolIds": list(reversed(a["model"]["toolIds"]))}})
    out = live(sandbox, "structured-output", ids["structured-output/out"])
    dashboard_patch(sandbox, "structured-output", ids["structured-output/out"],
                    {"assistantIds": out["assistantIds"][1:] + out["assistantIds"][:1], "schema": out["schema"]})
    card = live(sandbox, "scorecard", ids["scorecard/card"])
    dashboard_patch(sandbox, "scorecard", ids["scorecard/card"], {"assistantIds": card["assistantIds"][::-1]})
    sandbox.clear_requests()
    clean(run, proj)
    # A real change to a reordered ID array: one PATCH, the desired set in full.
    proj.spec("assistant/a")["model"]["toolIds"] = ["t3", "t1"]
    proj.save()
    apply(run, proj)
    (patch,) = writes(sandbox)
    assert sorted(patch["body"]) == ["model"]
    assert sorted(patch["body"]["model"]["toolIds"]) == sorted([ids["tool/t3"], ids["tool/t1"]])
    assert patch["body"]["model"]["temperature"] == 0.5  # the server-filled value went back whole
    clean(run, proj)


def test_declared_empty_list_and_dict(proj, run, sandbox):
    proj.put(
        doc("assistant", "a", assistant_spec(tools=[], metadata={}, hooks=[], analysisPlan={},
                                             endCallPhrases=[])),
        doc("structured-output", "out", {"schema": {"type": "string"}, "assistantIds": []}),
    )
    apply(run, proj)
    ids = proj.ids()
    clean(run, proj)
    # A server that drops empty values: still no change.
    dashboard_patch(sandbox, "assistant", ids["assistant/a"], {"metadata": None, "hooks": None,
                                                                "endCallPhrases": None})
    out = live(sandbox, "structured-output", ids["structured-output/out"])
    dashboard_patch(sandbox, "structured-output", ids["structured-output/out"],
                    {"assistantIds": None, "schema": out["schema"]})
    sandbox.clear_requests()
    clean(run, proj)
    # A declared empty list is owned: an element the dashboard adds is taken out again.
    dashboard_patch(sandbox, "assistant", ids["assistant/a"], {"endCallPhrases": ["bye now"]})
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox)
    assert patch["body"] == {"endCallPhrases": []}
    clean(run, proj)


PROMPT = """\
# Rôle
Tu es l'agent de support d'Acme — réponds en {{ customer.language | default: "français" }}.
{% if customer.name %}Appelle le client « {{ customer.name }} ».{% else %}Demande son nom.{% endif %}

日本語のお客様には丁寧語で。 مرحبا 👋🏽  (tab:\t) trailing spaces""" + "   " + """
{% for item in order.items %}- {{ item.sku }} × {{ item.qty }}
{% endfor %}
"""


def test_unicode_multiline_prompt_with_liquid_round_trips(proj, run, sandbox):
    (proj.root / "prompts").mkdir(parents=True)
    (proj.root / "prompts" / "support.md").write_text(PROMPT, encoding="utf-8")
    spec = assistant_spec("¡Hola {{ customer.name }}! ✨")
    spec["model"]["messages"] = [
        {"role": "system", "content": "${{ include('prompts/support.md') }}"},
        {"role": "assistant", "content": PROMPT},  # the same text written inline in the YAML
    ]
    proj.put(doc("assistant", "a", spec))
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["model"]["messages"][0]["content"] == PROMPT  # byte for byte: Liquid untouched
    assert a["model"]["messages"][1]["content"] == PROMPT
    assert a["firstMessage"] == "¡Hola {{ customer.name }}! ✨"
    sandbox.clear_requests()
    clean(run, proj)
    # One changed line of the included prompt: one PATCH of `model`, the rest of the text intact.
    (proj.root / "prompts" / "support.md").write_text(PROMPT.replace("丁寧語", "敬語"), encoding="utf-8")
    result = run("plan", proj.root, code=0)
    assert "敬語" in result.stdout
    apply(run, proj)
    (patch,) = writes(sandbox)
    assert sorted(patch["body"]) == ["model"]
    assert patch["body"]["model"]["messages"][0]["content"] == PROMPT.replace("丁寧語", "敬語")
    assert patch["body"]["model"]["messages"][1]["content"] == PROMPT
    clean(run, proj)


# -- 3. nested removal ------------------------------------------------------------------------------

def test_removal_at_depth_three_keeps_undeclared_siblings(proj, run, sandbox):
    spec = assistant_spec(startSpeakingPlan={"waitSeconds": 0.6, "transcriptionEndpointingPlan": {
        "onPunctuationSeconds": 0.2, "onNoPunctuationSeconds": 1.2}})
    proj.put(
        doc("assistant", "a", spec), doc("assistant", "b", assistant_spec("B.")),
        doc("squad", "desk", {"members": [
            {"assistantId": "a"},
            {"assistantId": "b", "assistantOverrides": {"firstMessage": "Billing desk.",
                                                        "variableValues": {"team": "billing", "tier": "gold"}}},
        ]}),
    )
    apply(run, proj)
    ids = proj.ids()
    # The dashboard sets undeclared siblings at each depth.
    a = live(sandbox, "assistant", ids["assistant/a"])
    ssp = a["startSpeakingPlan"]
    dashboard_patch(sandbox, "assistant", ids["assistant/a"], {"startSpeakingPlan": {
        **ssp, "smartEndpointingEnabled": False,
        "transcriptionEndpointingPlan": {**ssp["transcriptionEndpointingPlan"], "onNumberSeconds": 0.8}}})
    squad = live(sandbox, "squad", ids["squad/desk"])
    squad["members"][1]["assistantOverrides"]["voicemailMessage"] = "Call back later."
    squad["members"][1]["assistantOverrides"]["variableValues"]["region"] = "eu"
    dashboard_patch(sandbox, "squad", ids["squad/desk"], {"members": squad["members"]})
    clean(run, proj)

    del proj.spec("assistant/a")["startSpeakingPlan"]["transcriptionEndpointingPlan"]["onPunctuationSeconds"]
    del proj.spec("squad/desk")["members"][1]["assistantOverrides"]["variableValues"]["tier"]
    proj.save()
    changes = {c["address"]: [(f["path"], f["after"]) for f in c["fields"]] for c in plan_json(run, proj)["changes"]}
    assert changes == {
        "assistant/a": [("startSpeakingPlan.transcriptionEndpointingPlan.onPunctuationSeconds", None)],
        "squad/desk": [("members[1].assistantOverrides.variableValues.tier", None)],
    }
    sandbox.clear_requests()
    apply(run, proj)
    bodies = {r["path"]: r["body"] for r in writes(sandbox)}
    assert sorted(bodies) == sorted([f"/assistant/{ids['assistant/a']}", f"/squad/{ids['squad/desk']}"])
    assert sorted(bodies[f"/assistant/{ids['assistant/a']}"]) == ["startSpeakingPlan"]
    assert sorted(bodies[f"/squad/{ids['squad/desk']}"]) == ["members"]
    sent = bodies[f"/assistant/{ids['assistant/a']}"]["startSpeakingPlan"]["transcriptionEndpointingPlan"]
    assert "onPunctuationSeconds" not in sent and sent["onNumberSeconds"] == 0.8
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["startSpeakingPlan"]["smartEndpointingEnabled"] is False
    assert a["startSpeakingPlan"]["waitSeconds"] == 0.6
    # The removed value is gone: the server put back its own default (0.1), not the 0.2 we had.
    assert a["startSpeakingPlan"]["transcriptionEndpointingPlan"] == {
        "onPunctuationSeconds": 0.1, "onNoPunctuationSeconds": 1.2, "onNumberSeconds": 0.8}
    overrides = live(sandbox, "squad", ids["squad/desk"])["members"][1]["assistantOverrides"]
    assert overrides["variableValues"] == {"team": "billing", "region": "eu"}
    assert overrides["voicemailMessage"] == "Call back later." and overrides["firstMessage"] == "Billing desk."
    clean(run, proj)


# -- 4. ignoreChanges -------------------------------------------------------------------------------

def test_ignored_dashboard_edit_survives_a_sibling_write(proj, run, sandbox):
    proj.put(
        doc("tool", "t1", function_tool("t1")), doc("tool", "t2", function_tool("t2")),
        doc("assistant", "a", assistant_spec(tools=["t1"]),
            lifecycle={"ignoreChanges": ["voice.voiceId", "model.toolIds[]"]}),
    )
    apply(run, proj)
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["voice"]["voiceId"] == "burt" and a["model"]["toolIds"] == [ids["tool/t1"]]  # created with them
    dashboard_patch(sandbox, "assistant", ids["assistant/a"], {
        "voice": {**a["voice"], "voiceId": "dashboard-voice"},
        "model": {**a["model"], "toolIds": [ids["tool/t1"], ids["tool/t2"]]},
    })
    sandbox.clear_requests()
    clean(run, proj)
    # The manifest changes a sibling in each object (and the ignored value too: still ignored).
    spec = proj.spec("assistant/a")
    spec["voice"]["stability"] = 0.9
    spec["voice"]["voiceId"] = "manifest-voice"
    spec["model"]["model"] = "gpt-4.1"
    proj.save()
    changes = plan_json(run, proj)["changes"]
    assert [f["path"] for c in changes for f in c["fields"]] == ["model.model", "voice.stability"]
    apply(run, proj)
    (patch,) = writes(sandbox)
    assert sorted(patch["body"]) == ["model", "voice"]
    assert patch["body"]["voice"]["voiceId"] == "dashboard-voice"
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["voice"]["voiceId"] == "dashboard-voice" and a["voice"]["stability"] == 0.9
    assert a["model"]["toolIds"] == [ids["tool/t1"], ids["tool/t2"]] and a["model"]["model"] == "gpt-4.1"
    clean(run, proj)


# -- 5. replace -------------------------------------------------------------------------------------

def _replace_project(proj: Project) -> None:
    proj.put(
        doc("tool", "hangup", {"type": "endCall", "messages": [{"type": "request-start", "content": "Bye!"}]}),
        doc("tool", "lookup", function_tool("lookup")),
        doc("assistant", "a", assistant_spec("A.", tools=["lookup", "hangup"])),
        doc("assistant", "b", assistant_spec("B.", tools=["hangup"], hooks=[
            {"on": "call.ending", "do": [{"type": "tool", "toolId": "hangup"}]}])),
        doc("assistant", "c", assistant_spec("C.")),
        doc("squad", "desk", {"members": [{"assistantId": "b"}, {"assistantId": "c"}]}),
    )


@pytest.mark.parametrize("parallelism", ["1", "4"])
def test_replace_creates_repoints_every_dependent_then_deletes(proj, run, sandbox, parallelism):
    _replace_project(proj)
    apply(run, proj)
    old = proj.ids()
    spec = proj.spec("tool/hangup")
    spec["type"] = "dtmf"
    proj.save()
    doc_ = plan_json(run, proj)
    actions = {c["address"]: (c["action"], c["reason"]) for c in doc_["changes"]}
    assert actions == {
        "tool/hangup": ("replace", "type cannot change in place"),
        "assistant/a": ("update", "repoint to replaced tool/hangup"),
        "assistant/b": ("update", "repoint to replaced tool/hangup"),
    }
    sandbox.clear_requests()
    apply(run, proj, "--parallelism", parallelism)
    new = proj.ids()
    got = calls(sandbox)
    assert got[0] == ("POST", "/tool") and got[-1] == ("DELETE", f"/tool/{old['tool/hangup']}")
    assert sorted(got[1:-1]) == sorted([("PATCH", f"/assistant/{old['assistant/a']}"),
                                        ("PATCH", f"/assistant/{old['assistant/b']}")])
    bodies = {r["path"]: r["body"] for r in writes(sandbox)}
    assert sorted(bodies[f"/assistant/{old['assistant/a']}"]) == ["model"]
    assert sorted(bodies[f"/assistant/{old['assistant/b']}"]) == ["hooks", "model"]
    assert new["tool/hangup"] != old["tool/hangup"]
    assert {k: v for k, v in new.items() if k != "tool/hangup"} == {k: v for k, v in old.items() if k != "tool/hangup"}
    a = live(sandbox, "assistant", old["assistant/a"])
    assert sorted(a["model"]["toolIds"]) == sorted([old["tool/lookup"], new["tool/hangup"]])
    b = live(sandbox, "assistant", old["assistant/b"])
    assert b["model"]["toolIds"] == [new["tool/hangup"]]
    assert b["hooks"][0]["do"][0]["toolId"] == new["tool/hangup"]
    assert b["model"]["temperature"] == 0.5  # the server-filled model settings were sent back
    assert sorted(t["type"] for t in sandbox.objects("tool", KEY)) == ["dtmf", "function"]
    clean(run, proj)


def test_a_squad_members_transient_assistant_is_repointed_on_replace(proj, run, sandbox):
    proj.put(
        doc("tool", "hangup", {"type": "endCall"}),
        doc("squad", "desk", {"members": [{"assistant": {
            "name": "inline", "model": {"provider": "openai", "model": "gpt-4o", "toolIds": ["hangup"]}}}]}),
    )
    apply(run, proj)
    ids = proj.ids()
    assert live(sandbox, "squad", ids["squad/desk"])["members"][0]["assistant"]["model"]["toolIds"] == [
        ids["tool/hangup"]]
    proj.spec("tool/hangup")["type"] = "dtmf"
    proj.save()
    apply(run, proj)
    new = proj.ids()["tool/hangup"]
    assert live(sandbox, "squad", ids["squad/desk"])["members"][0]["assistant"]["model"]["toolIds"] == [new]
    clean(run, proj)


def test_replace_of_a_prevent_destroy_tool_is_refused(proj, run, sandbox):
    _replace_project(proj)
    proj.docs["tool/hangup"]["lifecycle"] = {"preventDestroy": True}
    proj.save()
    apply(run, proj)
    proj.spec("tool/hangup")["type"] = "dtmf"
    proj.save()
    sandbox.clear_requests()
    result = run("apply", proj.root, "--auto-approve", "--force", code=1)
    assert "preventDestroy" in result.stderr and "tool/hangup" in result.stderr
    assert writes(sandbox) == []
    assert sorted(t["type"] for t in sandbox.objects("tool", KEY)) == ["endCall", "function"]


# -- 6. deleting a referenced assistant ---------------------------------------------------------------

def test_deleting_a_referenced_assistant_patches_every_dependent_first(proj, run, sandbox):
    proj.put(
        doc("assistant", "front", assistant_spec("Front.", tools=["route"])),
        doc("assistant", "billing", assistant_spec("Billing.")),
        doc("assistant", "sales", assistant_spec("Sales.")),
        doc("tool", "route", {"type": "handoff", "destinations": [
            {"type": "assistant", "assistantId": "billing", "description": "Billing."},
            {"type": "assistant", "assistantId": "sales", "description": "Sales."}]}),
        doc("squad", "desk", {"members": [{"assistantId": "front"}, {"assistantId": "billing"},
                                          {"assistantId": "sales"}]}),
        doc("structured-output", "outcome", {"schema": {"type": "boolean"},
                                              "assistantIds": ["front", "billing", "sales"]}),
        doc("scorecard", "card", {"metrics": [{"structuredOutputId": "outcome", "conditions": [
            {"type": "comparator", "comparator": "=", "value": True, "points": 100}]}],
            "assistantIds": ["billing"]}),
    )
    apply(run, proj)
    ids = proj.ids()
    proj.drop("assistant/billing")
    proj.spec("tool/route")["destinations"].pop(0)
    proj.spec("squad/desk")["members"].pop(1)
    proj.spec("structured-output/outcome")["assistantIds"].remove("billing")
    proj.spec("scorecard/card")["assistantIds"] = []
    proj.save()
    sandbox.clear_requests()
    apply(run, proj, "--parallelism", "4")
    got = calls(sandbox)
    assert got[-1] == ("DELETE", f"/assistant/{ids['assistant/billing']}")
    assert sorted(got[:-1]) == sorted([
        ("PATCH", f"/observability/scorecard/{ids['scorecard/card']}"),
        ("PATCH", f"/squad/{ids['squad/desk']}"),
        ("PATCH", f"/structured-output/{ids['structured-output/outcome']}"),
        ("PATCH", f"/tool/{ids['tool/route']}"),
    ])
    assert "assistant/billing" not in proj.ids()
    gone = ids["assistant/billing"]
    for kind in ("tool", "squad", "structured-output", "scorecard"):
        assert gone not in json.dumps(sandbox.objects(kind, KEY)), kind
    route = live(sandbox, "tool", ids["tool/route"])
    assert [d["assistantId"] for d in route["destinations"]] == [ids["assistant/sales"]]
    clean(run, proj)


# -- 7. reference cycles ------------------------------------------------------------------------------

def test_reference_cycles_apply_and_plan_clean(proj, run, sandbox):
    # a -> handoff tool t -> b -> structured output s -> a (four nodes), and
    # a -> scorecard sc -> s -> a (three nodes): one strongly connected component.
    proj.put(
        doc("assistant", "a", assistant_spec("A.", tools=["t"], artifactPlan={"scorecardIds": ["sc"]})),
        doc("tool", "t", {"type": "handoff", "destinations": [
            {"type": "assistant", "assistantId": "b", "description": "To B."}]}),
        doc("assistant", "b", assistant_spec("B.", artifactPlan={"structuredOutputIds": ["s"]})),
        doc("structured-output", "s", {"schema": {"type": "boolean"}, "assistantIds": ["a"]}),
        doc("scorecard", "sc", {"metrics": [{"structuredOutputId": "s", "conditions": [
            {"type": "comparator", "comparator": "=", "value": True, "points": 100}]}]}),
    )
    apply(run, proj)
    ids = proj.ids()
    assert sorted(p for m, p in calls(sandbox) if m == "POST") == sorted(
        ["/assistant", "/assistant", "/tool", "/structured-output", "/observability/scorecard"])
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["model"]["toolIds"] == [ids["tool/t"]] and a["artifactPlan"]["scorecardIds"] == [ids["scorecard/sc"]]
    assert live(sandbox, "tool", ids["tool/t"])["destinations"][0]["assistantId"] == ids["assistant/b"]
    b = live(sandbox, "assistant", ids["assistant/b"])
    assert b["artifactPlan"]["structuredOutputIds"] == [ids["structured-output/s"]]
    assert live(sandbox, "structured-output", ids["structured-output/s"])["assistantIds"] == [ids["assistant/a"]]
    sc = live(sandbox, "scorecard", ids["scorecard/sc"])
    assert sc["metrics"][0]["structuredOutputId"] == ids["structured-output/s"]
    sandbox.clear_requests()
    clean(run, proj)
    # An edit inside the cycle is one plain PATCH.
    proj.spec("assistant/b")["firstMessage"] = "B here."
    proj.save()
    apply(run, proj)
    assert [(r["method"], sorted(r["body"])) for r in writes(sandbox)] == [("PATCH", ["firstMessage"])]
    clean(run, proj)
    sandbox.clear_requests()
    run("destroy", proj.root, "--auto-approve")
    assert sorted(m for m, _ in calls(sandbox)) == ["DELETE"] * 5
    assert all(sandbox.objects(k, KEY) == [] for k in KINDS)


# -- 8. retries ----------------------------------------------------------------------------------------

def _desk(proj: Project) -> None:
    proj.put(
        doc("tool", "lookup", function_tool("lookup")),
        doc("tool", "hangup", {"type": "endCall"}),
        doc("assistant", "support", assistant_spec("Support.", tools=["lookup", "hangup", "route"])),
        doc("assistant", "billing", assistant_spec("Billing.")),
        doc("tool", "route", {"type": "handoff", "destinations": [
            {"type": "assistant", "assistantId": "billing", "description": "Billing."}]}),
        doc("squad", "desk", {"members": [{"assistantId": "support"}, {"assistantId": "billing"}]}),
        doc("structured-output", "outcome", {"schema": {"type": "boolean"}, "assistantIds": ["support"]}),
    )


def _live_ids(sandbox) -> set[str]:
    return {o["id"] for k in KINDS for o in sandbox.objects(k, KEY)}


@pytest.mark.parametrize("parallelism", ["1", "4"])
def test_retries_never_duplicate_and_plan_clean(proj, run, sandbox, parallelism):
    _desk(proj)
    # Listing: a 429 with Retry-After and a 503 without (backoff). Creates: a 502 after the object
    # was made (must be found, not posted again), a 503 and a 429 before anything happened.
    sandbox.inject("GET", "/assistant", 429, retry_after=0.05)
    sandbox.inject("GET", "/tool", 503)
    sandbox.inject("POST", "/tool", 502, after_effect=True)
    sandbox.inject("POST", "/assistant", 503, retry_after=0)
    sandbox.inject("POST", "/squad", 429, retry_after=0)
    sandbox.inject("POST", "/structured-output", 502, after_effect=True, retry_after=0)
    apply(run, proj, "--parallelism", parallelism)
    ids = proj.ids()
    assert len(ids) == 7 and set(ids.values()) == _live_ids(sandbox)  # one object per manifest
    posts: dict[str, list[int]] = {}
    for r in sandbox.requests:
        if r["method"] == "POST":
            posts.setdefault(r["path"], []).append(r["status"])
    # A POST that failed before acting was sent again; one that acted (502) was found by listing.
    assert {path: sorted(statuses) for path, statuses in posts.items()} == {
        "/tool": [201, 201, 502], "/assistant": [201, 201, 503], "/squad": [201, 429], "/structured-output": [502]}
    clean(run, proj)

    # Updates and deletes under 503s and 429s, and a DELETE whose answer is lost after it acted.
    proj.spec("assistant/support")["model"]["toolIds"] = ["lookup", "route"]
    proj.spec("assistant/support")["firstMessage"] = "Support here."
    proj.spec("assistant/billing")["firstMessage"] = "Billing here."
    proj.spec("squad/desk")["membersOverrides"] = {"firstMessage": "Desk."}
    proj.drop("tool/hangup")
    sandbox.clear_requests()
    sandbox.inject("GET", "/squad", 503, retry_after=0)
    sandbox.inject("PATCH", "/assistant", 503, times=2, retry_after=0)
    sandbox.inject("PATCH", "/assistant", 429, retry_after=0.05)
    sandbox.inject("PATCH", "/squad", 502, after_effect=True, retry_after=0)  # acted: repeating is safe
    sandbox.inject("DELETE", "/tool", 502, after_effect=True, retry_after=0)
    apply(run, proj, "--parallelism", parallelism)
    done = [(r["method"], r["path"]) for r in sandbox.requests if r["method"] != "GET" and r["status"] < 300]
    assert sorted(done) == sorted([("PATCH", f"/assistant/{ids['assistant/support']}"),
                                   ("PATCH", f"/assistant/{ids['assistant/billing']}"),
                                   ("PATCH", f"/squad/{ids['squad/desk']}")])
    deletes = [r["status"] for r in sandbox.requests if r["method"] == "DELETE"]
    assert deletes == [502, 404]  # acted, answer lost; the retry finds it gone: success
    assert "tool/hangup" not in proj.ids() and len(_live_ids(sandbox)) == 6
    assert live(sandbox, "assistant", ids["assistant/billing"])["firstMessage"] == "Billing here."
    clean(run, proj)


# -- 9. secrets ----------------------------------------------------------------------------------------

SECRET_1 = "tok-3f9a1c-first-value"
SECRET_2 = "tok-77b2e0-second-value"


def test_secret_rotation_is_one_patch_and_never_shown(proj, run, sandbox, monkeypatch):
    monkeypatch.setenv("HOOKS_TOKEN", SECRET_1)
    spec = assistant_spec("Hi.")
    spec["server"] = {"url": "https://hooks.example.com/vapi",
                      "headers": {"Authorization": "Bearer ${{ secret('HOOKS_TOKEN') }}", "X-Env": "dev"}}
    tool = function_tool("lookup")
    tool["server"] = {"url": "https://hooks.example.com/tools", "headers": {"X-Api-Key": "${{ secret('HOOKS_TOKEN') }}"}}
    proj.put(doc("assistant", "a", spec), doc("tool", "lookup", tool))
    outputs = [apply(run, proj)]
    ids = proj.ids()
    a = live(sandbox, "assistant", ids["assistant/a"])
    assert a["server"]["headers"]["Authorization"] == f"Bearer {SECRET_1}"  # the sandbox returns it as is
    # The dashboard adds a header of its own: undeclared, so it must survive the rotation.
    dashboard_patch(sandbox, "assistant", ids["assistant/a"],
                    {"server": {**a["server"], "headers": {**a["server"]["headers"], "X-Trace": "on"}}})
    sandbox.clear_requests()
    clean(run, proj)  # unchanged secret: no diff

    monkeypatch.setenv("HOOKS_TOKEN", SECRET_2)
    for fmt in ("text", "json", "markdown"):
        outputs.append(run("plan", proj.root, "--format", fmt, "--detailed-exitcode", code=2))
    changes = json.loads(outputs[-2].stdout)["changes"]
    assert {c["address"]: c["fields"] for c in changes} == {
        "assistant/a": [{"path": "server.headers.Authorization", "before": "(sensitive)", "after": "(sensitive)",
                         "sensitive": True}],
        "tool/lookup": [{"path": "server.headers.X-Api-Key", "before": "(sensitive)", "after": "(sensitive)",
                         "sensitive": True}],
    }
    outputs.append(apply(run, proj))
    bodies = {r["path"]: r["body"] for r in writes(sandbox)}
    assert sorted(bodies) == sorted([f"/assistant/{ids['assistant/a']}", f"/tool/{ids['tool/lookup']}"])
    assert bodies[f"/assistant/{ids['assistant/a']}"] == {"server": {
        "url": "https://hooks.example.com/vapi", "timeoutSeconds": 20, "staticIpAddressesEnabled": False,
        "headers": {"Authorization": f"Bearer {SECRET_2}", "X-Env": "dev", "X-Trace": "on"}}}
    assert sorted(bodies[f"/tool/{ids['tool/lookup']}"]) == ["server"]
    clean(run, proj)

    # Removing a secret header sends the object without it; the value is still never shown.
    del proj.spec("tool/lookup")["server"]["headers"]
    proj.save()
    outputs.append(run("plan", proj.root, "--detailed-exitcode", code=2))
    sandbox.clear_requests()
    outputs.append(apply(run, proj))
    (patch,) = writes(sandbox)
    assert "headers" not in patch["body"]["server"]
    assert "headers" not in live(sandbox, "tool", ids["tool/lookup"])["server"]
    clean(run, proj)
    state_text = "".join(p.read_text() for p in (proj.root / ".vapiops/state").iterdir() if p.is_file())
    for text in [state_text] + [o.stdout + o.stderr for o in outputs]:
        assert SECRET_1 not in text and SECRET_2 not in text
    assert "(sensitive)" in outputs[1].stdout


# -- 10. drift: deleted in the dashboard --------------------------------------------------------------

def test_object_deleted_in_dashboard_is_recreated_and_dependents_repointed(proj, run, sandbox):
    _desk(proj)
    proj.put(doc("scorecard", "card", {"metrics": [{"structuredOutputId": "outcome", "conditions": [
        {"type": "comparator", "comparator": "=", "value": True, "points": 100}]}], "assistantIds": ["billing"]}))
    apply(run, proj)
    old = proj.ids()
    with api(sandbox) as c:
        c.delete(f"/assistant/{old['assistant/billing']}").raise_for_status()
        c.delete(f"/tool/{old['tool/lookup']}").raise_for_status()
    doc_ = plan_json(run, proj)
    actions = {c["address"]: (c["action"], c["reason"]) for c in doc_["changes"]}
    assert actions == {
        "assistant/billing": ("create", "deleted outside vapiops"),
        "tool/lookup": ("create", "deleted outside vapiops"),
        "assistant/support": ("update", "repoint to re-created tool/lookup"),
        "tool/route": ("update", "repoint to re-created assistant/billing"),
        "squad/desk": ("update", "repoint to re-created assistant/billing"),
        "scorecard/card": ("update", "repoint to re-created assistant/billing"),
    }
    sandbox.clear_requests()
    apply(run, proj)
    new = proj.ids()
    assert sorted(calls(sandbox)) == sorted([
        ("POST", "/assistant"), ("POST", "/tool"),
        ("PATCH", f"/assistant/{old['assistant/support']}"), ("PATCH", f"/tool/{old['tool/route']}"),
        ("PATCH", f"/squad/{old['squad/desk']}"), ("PATCH", f"/observability/scorecard/{old['scorecard/card']}"),
    ])
    got = calls(sandbox)
    assert got.index(("POST", "/tool")) < got.index(("PATCH", f"/assistant/{old['assistant/support']}"))
    assert got.index(("POST", "/assistant")) < got.index(("PATCH", f"/squad/{old['squad/desk']}"))
    for addr in ("assistant/billing", "tool/lookup"):
        assert new[addr] != old[addr]
    text = json.dumps([sandbox.objects(k, KEY) for k in KINDS])
    assert old["assistant/billing"] not in text and old["tool/lookup"] not in text
    assert new["assistant/billing"] in json.dumps(live(sandbox, "squad", old["squad/desk"]))
    clean(run, proj)


def test_both_ends_of_a_cycle_deleted_in_dashboard_are_recreated_and_linked(proj, run, sandbox):
    proj.put(
        doc("assistant", "a", assistant_spec("A.", tools=["t"], artifactPlan={"structuredOutputIds": ["o"]})),
        doc("tool", "t", {"type": "handoff", "destinations": [{"type": "assistant", "assistantId": "a"}]}),
        doc("structured-output", "o", {"schema": {"type": "boolean"}, "assistantIds": ["a"]}),
        doc("squad", "s", {"members": [{"assistantId": "a"}]}),
    )
    apply(run, proj)
    old = proj.ids()
    with api(sandbox) as c:
        c.delete(f"/assistant/{old['assistant/a']}").raise_for_status()
        c.delete(f"/tool/{old['tool/t']}").raise_for_status()
    sandbox.clear_requests()
    apply(run, proj)
    new = proj.ids()
    got = calls(sandbox)
    assert sorted(got) == sorted([
        ("POST", "/assistant"), ("POST", "/tool"), ("PATCH", f"/assistant/{new['assistant/a']}"),
        ("PATCH", f"/squad/{old['squad/s']}"), ("PATCH", f"/structured-output/{old['structured-output/o']}")])
    assert got[0] == ("POST", "/assistant")  # the handoff destination needs the assistant first
    a = live(sandbox, "assistant", new["assistant/a"])
    assert a["model"]["toolIds"] == [new["tool/t"]]
    assert a["artifactPlan"]["structuredOutputIds"] == [old["structured-output/o"]]
    assert live(sandbox, "tool", new["tool/t"])["destinations"][0]["assistantId"] == new["assistant/a"]
    assert live(sandbox, "structured-output", old["structured-output/o"])["assistantIds"] == [new["assistant/a"]]
    assert len(sandbox.objects("assistant", KEY)) == 1 and len(sandbox.objects("tool", KEY)) == 1
    clean(run, proj)


def test_more_objects_than_one_page_are_all_seen(proj, run, sandbox):
    # A listing that stopped at the first page would read as "deleted outside vapiops": duplicates.
    for i in range(120):
        proj.docs[f"tool/t{i:03d}"] = doc("tool", f"t{i:03d}", {"type": "endCall", "messages": [
            {"type": "request-start", "content": f"Bye {i}."}]})
    for i in range(105):
        proj.docs[f"structured-output/o{i:03d}"] = doc("structured-output", f"o{i:03d}", {"schema": {"type": "number"}})
    proj.save()
    apply(run, proj, "--parallelism", "8")
    sandbox.clear_requests()
    clean(run, proj)
    apply(run, proj)
    assert writes(sandbox) == []
    assert len(sandbox.objects("tool", KEY)) == 120 and len(sandbox.objects("structured-output", KEY)) == 105


# -- crashes in the middle of a replace or a re-create ----------------------------------------------

def _die_after_post(monkeypatch, path: str) -> None:
    """The process dies right after this POST reached Vapi: the object exists, nothing recorded it."""
    from vapiops.client import VapiClient

    real = VapiClient.create

    def create(self, kind, body, **kwargs):
        obj = real(self, kind, body, **kwargs)
        if kind.path == path:
            raise ConnectionAbortedError("killed right after the POST")
        return obj

    monkeypatch.setattr(VapiClient, "create", create)


def _tool_and_assistant(proj: Project, run) -> dict[str, str]:
    proj.put(doc("tool", "t", {"type": "endCall"}), doc("assistant", "a", assistant_spec("A.", tools=["t"])))
    apply(run, proj)
    return proj.ids()


def _tool_to_replace(proj: Project, run) -> dict[str, str]:
    """_tool_and_assistant, then tool/t changes type: the next apply replaces it. Returns the ids before."""
    old = _tool_and_assistant(proj, run)
    proj.spec("tool/t")["type"] = "dtmf"
    proj.save()
    return old


def test_crash_after_a_replacements_post_adopts_it_and_still_deletes_the_old_copy(proj, run, sandbox,
                                                                                   monkeypatch):
    old = _tool_to_replace(proj, run)
    with monkeypatch.context() as patched:
        _die_after_post(patched, "/tool")
        run("apply", proj.root, "--auto-approve", code=1)
    (new_tool,) = [t["id"] for t in sandbox.objects("tool", KEY) if t["type"] == "dtmf"]
    result = run("plan", proj.root, "--format", "json", code=0)
    assert "tool/t: adopted" in result.stderr
    jsonschema.validate(json.loads(result.stdout), PLAN_SCHEMA)
    changes = {c["address"]: (c["action"], c["id"]) for c in json.loads(result.stdout)["changes"]}
    assert changes == {"assistant/a": ("update", old["assistant/a"]),
                       f"tool/t.replaced-{old['tool/t']}": ("delete", old["tool/t"])}
    sandbox.clear_requests()
    apply(run, proj)
    assert calls(sandbox) == [("PATCH", f"/assistant/{old['assistant/a']}"), ("DELETE", f"/tool/{old['tool/t']}")]
    assert [t["id"] for t in sandbox.objects("tool", KEY)] == [new_tool] == [proj.ids()["tool/t"]]
    assert live(sandbox, "assistant", old["assistant/a"])["model"]["toolIds"] == [new_tool]
    clean(run, proj)


def test_crash_after_a_recreates_post_adopts_it(proj, run, sandbox, monkeypatch):
    old = _tool_and_assistant(proj, run)
    with api(sandbox) as c:
        c.delete(f"/tool/{old['tool/t']}").raise_for_status()
    with monkeypatch.context() as patched:
        _die_after_post(patched, "/tool")
        run("apply", proj.root, "--auto-approve", code=1)
    sandbox.clear_requests()
    apply(run, proj)
    assert calls(sandbox) == [("PATCH", f"/assistant/{old['assistant/a']}")]  # no second POST
    (tool,) = sandbox.objects("tool", KEY)
    assert proj.ids()["tool/t"] == tool["id"]
    assert live(sandbox, "assistant", old["assistant/a"])["model"]["toolIds"] == [tool["id"]]
    clean(run, proj)


def test_a_replaced_copy_whose_delete_failed_is_deleted_by_the_next_apply(proj, run, sandbox):
    old = _tool_to_replace(proj, run)
    sandbox.inject("DELETE", "/tool", 400)
    run("apply", proj.root, "--auto-approve", code=1)
    assert len(sandbox.objects("tool", KEY)) == 2
    sandbox.clear_requests()
    apply(run, proj)  # carries on where it stopped
    assert calls(sandbox) == [("DELETE", f"/tool/{old['tool/t']}")]
    assert [t["type"] for t in sandbox.objects("tool", KEY)] == ["dtmf"]
    assert sorted(proj.ids()) == ["assistant/a", "tool/t"]
    clean(run, proj)


def test_a_replacement_the_api_refuses_leaves_the_old_object_in_place(proj, run, sandbox):
    old = _tool_to_replace(proj, run)
    sandbox.inject("POST", "/tool", 400)
    run("apply", proj.root, "--auto-approve", code=1)
    assert proj.ids() == old
    # Changing one's mind after the refusal is no change at all: no create, no delete.
    proj.spec("tool/t")["type"] = "endCall"
    proj.save()
    sandbox.clear_requests()
    clean(run, proj)
    apply(run, proj)
    assert writes(sandbox) == []
    assert [t["id"] for t in sandbox.objects("tool", KEY)] == [old["tool/t"]]
