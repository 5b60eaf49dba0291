"""End to end, per new kind (issue 14), as a table: create, plan clean, one-field PATCH, replace,
delete in dependency order, export round trip; lookups per environment; routing warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KEY, Project, apply, calls, clean, doc, live, plan_json, sandbox_client, state_ids
from kind_samples import ASSISTANT, SAMPLES, SQUAD, Sample

from vapiops.kinds import KINDS
from vapiops.paths import get as live_value

pytestmark = pytest.mark.e2e


def _ids(samples: tuple[Sample, ...]) -> list[str]:
    return [s.kind + ("-with-files" if s.files and s.kind != "file" else "") for s in samples]


def _put_sample(proj: Project, sample: Sample) -> None:
    for path, text in sample.files.items():
        (proj.root / path).parent.mkdir(parents=True, exist_ok=True)
        (proj.root / path).write_text(text)
    for kind, name, spec in sample.needs:
        proj.put(doc(kind, name, spec))
    proj.put(doc(sample.kind, "it", sample.spec))


@pytest.mark.parametrize("sample", SAMPLES, ids=_ids(SAMPLES))
def test_create_plan_clean_one_field_patch_replace_and_delete(sample: Sample, run, sandbox, proj):
    _put_sample(proj, sample)
    apply(run, proj)
    ids = proj.ids()
    created = live(sandbox, sample.kind, ids[f"{sample.kind}/it"])
    for ref, at, name in KINDS[sample.kind].find_references(sample.spec):  # names reach the API as IDs
        if at[0] in KINDS[sample.kind].unsent_fields:  # an attached set: read through its own endpoint
            assert _attached(sandbox, sample.kind, ids[f"{sample.kind}/it"]) == [ids[f"{ref.target}/{name}"]]
        else:
            assert live_value(created, at) == ids[f"{ref.target}/{name}"]
    clean(run, proj)

    field, value = sample.change
    proj.spec(f"{sample.kind}/it")[field] = value
    proj.save()
    sandbox.clear_requests()
    apply(run, proj)
    kind = KINDS[sample.kind]
    path = f"{kind.collection({p: sample.spec[p] for p in kind.path_params})}/{ids[f'{sample.kind}/it']}"
    assert calls(sandbox) == [("PATCH", path)]
    (patch,) = [r for r in sandbox.requests if r["method"] == "PATCH"]
    assert set(patch["body"]) <= {field, KINDS[sample.kind].discriminator}  # only the changed field
    assert live(sandbox, sample.kind, ids[f"{sample.kind}/it"])[field] == value
    clean(run, proj)

    if sample.replace is not None:
        field, value = sample.replace
        spec = proj.spec(f"{sample.kind}/it")
        spec[field] = value
        if sample.kind == "credential":  # the table's other provider takes its own key
            spec["apiKey"] = "dg-sample-not-a-real-key-0002"
        if value == "byo-phone-number":
            spec.update(number="+14155550100", credentialId="trunk")
            proj.put(
                doc("credential", "trunk", {"provider": "byo-sip-trunk", "gateways": [{"ip": "10.0.0.1"}]})
            )
        proj.save()
        changes = plan_json(run, proj)["changes"]
        assert {c["address"]: c["action"] for c in changes}[f"{sample.kind}/it"] == "replace"
        apply(run, proj)
        assert proj.ids()[f"{sample.kind}/it"] != ids[f"{sample.kind}/it"]
        assert ids[f"{sample.kind}/it"] not in {o["id"] for o in sandbox.objects(sample.kind, KEY)}
        clean(run, proj)

    # Delete everything: dependents first (the sandbox keeps what it stored, so order shows in calls).
    proj.docs.clear()
    proj.save()
    sandbox.clear_requests()
    apply(run, proj)
    deleted = [p for m, p in calls(sandbox) if m == "DELETE"]
    owners = {i: a.split("/")[0] for a, i in proj.ids().items()} if proj.ids() else {}
    assert not owners
    order = [p.rsplit("/", 1)[0] for p in deleted]
    if sample.needs:
        assert order.index(KINDS[sample.kind].path) < order.index(KINDS[sample.needs[0][0]].path)
    assert all(not sandbox.objects(k, KEY) for k in {sample.kind, *(n[0] for n in sample.needs)})


@pytest.mark.parametrize("sample", SAMPLES, ids=_ids(SAMPLES))
def test_import_adopts_a_live_object_of_every_kind(sample: Sample, run, sandbox, proj):
    """`vapiops import ADDRESS ID` for each new kind: forgotten by state, adopted again by ID (a
    dictionary found under its provider's path, a file taken to hold the declared content), and the
    next plan is clean: nothing re-created."""
    _put_sample(proj, sample)
    apply(run, proj)
    ids = proj.ids()
    for address in ids:
        run("state", "rm", address, proj.root)
    assert proj.ids() == {}
    for address, obj_id in ids.items():
        run("import", address, obj_id, proj.root)
    assert proj.ids() == ids
    sandbox.clear_requests()
    clean(run, proj)
    assert not [c for c in calls(sandbox) if c[0] != "GET"]


@pytest.mark.parametrize("sample", SAMPLES, ids=_ids(SAMPLES))
def test_export_round_trip(sample: Sample, run, sandbox, proj, tmp_path: Path):
    _put_sample(proj, sample)
    apply(run, proj)
    other = tmp_path / "exported-project"
    other.mkdir()
    run("export", other, "--adopt", env={"VAPIOPS_EXPORT_SECRETS": None})
    exported = {
        (d["kind"], d["name"])
        for p in (other / "resources").rglob("*.yaml")
        for d in yaml.safe_load_all(p.read_text())
    }
    assert sample.kind in {k for k, _ in exported}
    for path, text in sample.files.items():  # export downloads no content: the user puts it back
        (other / path).parent.mkdir(parents=True, exist_ok=True)
        (other / path).write_text(text)
    secret_env = _exported_secret_env(run, other, sample)
    result = run("plan", other, "--detailed-exitcode", code=None, env=secret_env)
    assert result.exit_code == 0, result.stdout + result.stderr


def _attached(sandbox, kind: str, obj_id: str) -> list[str]:
    aset = KINDS[kind].attached_sets[0]
    with sandbox_client(sandbox, KEY) as client:
        listed = client.get(f"{KINDS[kind].path}/{obj_id}/{aset.path}").json()
    return [x[aset.id_field] for x in listed]


def _exported_secret_env(run, root: Path, sample: Sample) -> dict[str, Any]:
    """export writes secret(...) for secret values and names the variables on stderr: set them."""
    env: dict[str, Any] = {}
    for p in (root / "resources").rglob("*.yaml"):
        for name in set(__import__("re").findall(r"secret\('([A-Z0-9_]+)'\)", p.read_text())):
            env[name] = sample.spec.get("apiKey", "")
    return env


def test_a_phone_number_moves_between_squads_with_one_patch(run, sandbox, proj):
    proj.put(
        doc(*ASSISTANT), doc(*SQUAD), doc("squad", "night", {"members": [{"assistantId": "front-desk"}]})
    )
    proj.put(doc("phone-number", "line", {"provider": "vapi", "squadId": "desk"}))
    apply(run, proj)
    ids = proj.ids()
    proj.spec("phone-number/line")["squadId"] = "night"
    proj.save()
    sandbox.clear_requests()
    apply(run, proj)
    assert calls(sandbox) == [("PATCH", f"/phone-number/{ids['phone-number/line']}")]
    assert live(sandbox, "phone-number", ids["phone-number/line"])["squadId"] == ids["squad/night"]
    clean(run, proj)


def test_an_assistant_names_a_pronunciation_dictionary_and_vapi_gets_its_provider_id(run, sandbox, proj):
    """The locator holds the provider's dictionary ID (resourceId), written as the manifest name; a
    literal provider ID that names no manifest is sent as written; a provider change repoints."""
    proj.put(
        doc("pronunciation-dictionary", "brand", {"provider": "11labs", "name": "Brand", "rules": []}),
        doc(
            "assistant",
            "voice",
            {
                "voice": {
                    "provider": "11labs",
                    "voiceId": "sarah",
                    "pronunciationDictionaryLocators": [
                        {"pronunciationDictionaryId": "brand"},
                        {"pronunciationDictionaryId": "made-at-elevenlabs-0001"},
                    ],
                }
            },
        ),
    )
    apply(run, proj)  # one apply: the dictionary is created first, its resourceId sent
    ids = proj.ids()
    dictionary = live(sandbox, "pronunciation-dictionary", ids["pronunciation-dictionary/brand"])
    assistant = live(sandbox, "assistant", ids["assistant/voice"])
    held = [loc["pronunciationDictionaryId"] for loc in assistant["voice"]["pronunciationDictionaryLocators"]]
    assert held == [dictionary["resourceId"], "made-at-elevenlabs-0001"]
    assert dictionary["resourceId"] != dictionary["id"]
    clean(run, proj)  # the live resourceId reads back as the name

    proj.spec("pronunciation-dictionary/brand").update(provider="cartesia", items=[], rules=None)
    del proj.spec("pronunciation-dictionary/brand")["rules"]
    proj.save()
    changes = {c["address"]: c["action"] for c in plan_json(run, proj)["changes"]}
    assert changes["pronunciation-dictionary/brand"] == "replace"
    apply(run, proj)
    new = live(sandbox, "pronunciation-dictionary", proj.ids()["pronunciation-dictionary/brand"])
    assert new["provider"] == "cartesia"
    assistant = live(sandbox, "assistant", ids["assistant/voice"])
    assert (
        assistant["voice"]["pronunciationDictionaryLocators"][0]["pronunciationDictionaryId"]
        == new["resourceId"]
    )
    clean(run, proj)

    # A later apply names the existing dictionary: its resourceId is the one the plan listed,
    # never read with a GET of the dictionary.
    cartesia_voice = {"provider": "cartesia", "voiceId": "sonic-voice", "pronunciationDictId": "brand"}
    proj.put(doc("assistant", "sonic", {"voice": cartesia_voice}))
    sandbox.clear_requests()
    apply(run, proj)
    sonic = live(sandbox, "assistant", proj.ids()["assistant/sonic"])
    assert sonic["voice"]["pronunciationDictId"] == new["resourceId"]
    item_gets = [r for r in sandbox.requests if r["method"] == "GET" and new["id"] in r["path"]]
    assert item_gets == []
    clean(run, proj)


def test_a_looked_up_dictionary_is_sent_and_read_back_as_its_provider_id(run, sandbox, proj):
    """A `lookup:` of a kind referenced by another field than its ID resolves to that field (the
    dictionary's resourceId), both in the body sent and when the live value is read back as the name."""
    with sandbox_client(sandbox, KEY) as c:
        made = c.post("/provider/11labs/pronunciation-dictionary", json={"name": "Brand", "rules": []}).json()
    locators = [{"pronunciationDictionaryId": "brand"}]
    voice = {"provider": "11labs", "voiceId": "sarah", "pronunciationDictionaryLocators": locators}
    proj.put(
        {"kind": "pronunciation-dictionary", "name": "brand", "lookup": {"name": "Brand"}},
        doc("assistant", "voice", {"voice": voice}),
    )
    apply(run, proj)
    assistant = live(sandbox, "assistant", proj.ids()["assistant/voice"])
    assert assistant["voice"]["pronunciationDictionaryLocators"] == [
        {"pronunciationDictionaryId": made["resourceId"]}
    ]
    clean(run, proj)  # the live resourceId reads back as the lookup's name: no perpetual diff


@pytest.mark.parametrize("target_type", ["assistant", "squad"])
def test_a_suite_target_is_a_name_of_the_kind_its_target_type_says(run, sandbox, proj, target_type: str):
    scenario = {"name": "Refund", "instructions": "Ask for a refund.", "evaluations": []}
    personality = {"name": "Calm", "assistant": {"firstMessage": "Hi."}}
    proj.put(
        doc(*ASSISTANT),
        doc(*SQUAD),
        doc("simulation-scenario", "refund", scenario),
        doc("simulation-personality", "calm", personality),
        doc("simulation", "sim", {"scenarioId": "refund", "personalityId": "calm"}),
    )
    target = {"assistant": ASSISTANT[1], "squad": SQUAD[1]}[target_type]
    assignment = {"targetType": target_type, "targetId": target}
    proj.put(
        doc("simulation-suite", "nightly", {"simulationIds": ["sim"], "targetAssignments": [assignment]})
    )
    apply(run, proj)
    ids = proj.ids()
    suite = live(sandbox, "simulation-suite", ids["simulation-suite/nightly"])
    assert suite["targetAssignments"][0]["targetId"] == ids[f"{target_type}/{target}"]
    clean(run, proj)
    proj.docs.clear()
    proj.save()
    sandbox.clear_requests()
    apply(run, proj)
    order = [p.split("/")[1:-1] for m, p in calls(sandbox) if m == "DELETE"]
    assert order.index(["eval", "simulation", "suite"]) < order.index([target_type])  # dependents first


def _dashboard_create(sandbox, key: str, kind: str, body: dict[str, Any]) -> str:
    with sandbox_client(sandbox, key) as c:
        response = c.post(KINDS[kind].path, json=body)
        response.raise_for_status()
        return response.json()["id"]


LOOKUP_PROJECT = {
    "vapiops.yaml": "environments:\n  dev: {api_key_env: KEY_DEV}\n  prod: {api_key_env: KEY_PROD}\n",
    "resources/cred.yaml": "kind: credential\nname: voice\nlookup: {name: Voice Key}\n",
    "resources/tool.yaml": (
        "kind: tool\nname: hook\nspec:\n  type: function\n  function: {name: hook}\n"
        "  server: {url: 'https://h.example.com', credentialId: voice}\n"
    ),
}


def test_a_lookup_resolves_to_different_ids_in_two_environments(run, sandbox, tmp_path: Path):
    from conftest import write_files

    root = tmp_path / "proj"
    write_files(root, LOOKUP_PROJECT)
    keys = {"dev": "key-dev-lookup", "prod": "key-prod-lookup"}
    found = {
        env: _dashboard_create(
            sandbox,
            key,
            "credential",
            {"provider": "11labs", "name": "Voice Key", "apiKey": "sk-looked-up-0001"},
        )
        for env, key in keys.items()
    }
    env_vars = {"KEY_DEV": keys["dev"], "KEY_PROD": keys["prod"]}
    for env in keys:
        plan = json.loads(run("plan", root, "--env", env, "--format", "json", env=env_vars).stdout)
        assert plan["lookups"] == [{"address": "credential/voice", "id": found[env]}]
        assert [c["address"] for c in plan["changes"]] == ["tool/hook"]  # the lookup is data, not a change
        run("apply", root, "--env", env, "--auto-approve", env=env_vars)
        (tool,) = sandbox.objects("tool", keys[env])
        assert tool["server"]["credentialId"] == found[env]
        assert "credential/voice" not in state_ids(root, env)  # never written, never recorded
        again = run("plan", root, "--env", env, "--detailed-exitcode", code=None, env=env_vars)
        assert again.exit_code == 0, again.stdout
    assert len(sandbox.objects("credential", keys["dev"])) == 1  # nothing created


@pytest.mark.parametrize(
    ("live_names", "message"),
    [
        ((), "no live credential named 'Voice Key'"),
        (("Voice Key", "Voice Key"), "2 live credential named 'Voice Key'"),
    ],
)
def test_a_missing_or_ambiguous_lookup_is_a_located_error(run, sandbox, tmp_path: Path, live_names, message):
    from conftest import assert_one_error, write_files

    root = tmp_path / "proj"
    write_files(root, LOOKUP_PROJECT)
    for name in live_names:
        _dashboard_create(
            sandbox,
            "key-dev-lookup",
            "credential",
            {"provider": "11labs", "name": name, "apiKey": "sk-looked-up-0001"},
        )
    sandbox.clear_requests()
    result = run("plan", root, "--env", "dev", code=1, env={"KEY_DEV": "key-dev-lookup", "KEY_PROD": "x"})
    assert_one_error(result, "resources/cred.yaml:1", message)
    assert {r["method"] for r in sandbox.requests} == {"GET"}


def test_deleting_a_squad_an_unmanaged_phone_number_routes_to_warns(run, sandbox, proj):
    proj.put(doc(*ASSISTANT), doc(*SQUAD))
    apply(run, proj)
    squad_id = proj.ids()["squad/desk"]
    number = _dashboard_create(
        sandbox, KEY, "phone-number", {"provider": "vapi", "name": "Bought", "squadId": squad_id}
    )
    proj.drop("squad/desk")
    plan = plan_json(run, proj)
    (warning,) = [w for w in plan["warnings"] if w.startswith("squad/desk:")]
    assert "'Bought'" in warning and number in warning and "squadId" in warning and "deletes it" in warning
    managed_only = plan_json(run, proj.put(doc("squad", "desk", SQUAD[2])))
    assert not any("still uses it" in w for w in managed_only["warnings"])


@pytest.mark.parametrize(
    ("spec", "secret_at"),
    [
        (
            {
                "provider": "webhook",
                "name": "Signed hooks",
                "authenticationPlan": {
                    "type": "hmac",
                    "secretKey": "hmac-secret-0001",
                    "algorithm": "sha256",
                },
            },
            ("authenticationPlan", "secretKey"),
        ),
        (
            {
                "provider": "slack-webhook",
                "name": "Alerts",
                "webhookUrl": "https://hooks.slack.com/T0/B0/secret01",
            },
            ("webhookUrl",),
        ),
    ],
    ids=["webhook-hmac", "slack-webhook"],
)
def test_credential_secrets_come_back_masked_never_drift_and_are_still_sent(
    run, sandbox, proj, spec, secret_at
):
    """The API never returns a credential's secrets: the sandbox answers them masked. A plan shows
    no diff for them, and an update that must send the object holding one sends the manifest's value."""
    proj.put(doc("credential", "cred", spec))
    apply(run, proj)
    cred_id = proj.ids()["credential/cred"]
    secret = live_value(spec, secret_at)
    assert live_value(live(sandbox, "credential", cred_id), secret_at) == secret  # stored in clear
    with sandbox_client(sandbox, KEY) as c:
        answered = c.get(f"/credential/{cred_id}").json()
    assert live_value(answered, secret_at) != secret and secret not in json.dumps(answered)
    clean(run, proj)  # masked live secret: no drift, no diff

    if secret_at[0] == "authenticationPlan":  # a sibling change sends the plan whole, secret included
        proj.spec("credential/cred")["authenticationPlan"]["algorithm"] = "sha512"
        proj.save()
        sandbox.clear_requests()
        apply(run, proj)
        (patch,) = [r for r in sandbox.requests if r["method"] == "PATCH"]
        assert patch["body"]["authenticationPlan"]["secretKey"] == secret
        assert live(sandbox, "credential", cred_id)["authenticationPlan"]["secretKey"] == secret
        clean(run, proj)


def test_a_fresh_client_finds_a_dictionarys_provider_for_item_calls(sandbox):
    """A plan applied by a later process has not listed: the item path's provider is found by a GET
    per provider, then remembered; an object in no provider's collection is gone (no DELETE sent)."""
    from vapiops.client import VapiClient

    kind = KINDS["pronunciation-dictionary"]
    with VapiClient(sandbox.url, KEY) as first:
        made = first.create(kind, {"provider": "cartesia", "name": "Brand", "items": []})
    (post,) = [r for r in sandbox.requests if r["method"] == "POST"]
    assert post["path"] == "/provider/cartesia/pronunciation-dictionary" and "provider" not in post["body"]
    sandbox.clear_requests()
    with VapiClient(sandbox.url, KEY) as later:
        assert (
            later.update(kind, made["id"], {"name": "Brand 2", "provider": "cartesia"})["name"] == "Brand 2"
        )
        later.delete(kind, made["id"])
        later.delete(kind, made["id"])  # gone: found in no collection
    cartesia = f"/provider/cartesia/pronunciation-dictionary/{made['id']}"
    assert [(r["method"], r["path"].split("/")[2], r["status"]) for r in sandbox.requests] == [
        ("GET", "11labs", 404),
        ("GET", "cartesia", 200),
        ("PATCH", "cartesia", 200),
        ("DELETE", "cartesia", 200),
        ("DELETE", "cartesia", 404),
    ]
    assert sandbox.requests[2]["body"] == {"name": "Brand 2"} and sandbox.requests[2]["path"] == cartesia
    with VapiClient(sandbox.url, KEY) as fresh:
        sandbox.clear_requests()
        fresh.delete(kind, made["id"])
    assert {r["method"] for r in sandbox.requests} == {"GET"}


@pytest.mark.parametrize("how", ["delete", "replace"])
def test_dropping_an_assistant_an_unmanaged_phone_number_routes_to_warns(run, sandbox, proj, how: str):
    proj.put(doc(*ASSISTANT))
    apply(run, proj)
    assistant_id = proj.ids()["assistant/front-desk"]
    _dashboard_create(
        sandbox, KEY, "phone-number", {"provider": "vapi", "name": "Bought", "assistantId": assistant_id}
    )
    if how == "delete":
        proj.drop("assistant/front-desk")
        plan = plan_json(run, proj)
    else:
        plan = json.loads(
            run("plan", proj.root, "--format", "json", "--replace", "assistant/front-desk").stdout
        )
    (warning,) = [w for w in plan["warnings"] if w.startswith("assistant/front-desk:")]
    assert "'Bought'" in warning and "assistantId" in warning


def test_export_names_a_dictionary_a_live_assistant_holds_by_its_provider_id(run, sandbox, tmp_path: Path):
    with sandbox_client(sandbox, KEY) as c:
        made = c.post("/provider/11labs/pronunciation-dictionary", json={"name": "Brand", "rules": []}).json()
        locators = [
            {"pronunciationDictionaryId": made["resourceId"]},
            {"pronunciationDictionaryId": "elsewhere-01"},
        ]
        voice = {"provider": "11labs", "voiceId": "sarah", "pronunciationDictionaryLocators": locators}
        c.post("/assistant", json={"name": "Voice", "voice": voice}).raise_for_status()
    out = tmp_path / "exported"
    out.mkdir()
    run("export", out, "--adopt")
    docs = [d for p in (out / "resources").rglob("*.yaml") for d in yaml.safe_load_all(p.read_text())]
    (dictionary,) = [d for d in docs if d["kind"] == "pronunciation-dictionary"]
    (assistant,) = [d for d in docs if d["kind"] == "assistant"]
    held = [
        loc["pronunciationDictionaryId"]
        for loc in assistant["spec"]["voice"]["pronunciationDictionaryLocators"]
    ]
    assert held == [dictionary["name"], "elsewhere-01"]
    assert run("plan", out, "--detailed-exitcode", code=None).exit_code == 0  # and it plans clean


def test_deleting_a_dictionary_an_unmanaged_assistant_holds_by_provider_id_warns(run, sandbox, proj):
    """An unmanaged voice locator holds the dictionary's resourceId, not its Vapi ID: still a user."""
    proj.put(doc("pronunciation-dictionary", "brand", {"provider": "11labs", "name": "Brand", "rules": []}))
    apply(run, proj)
    made = live(sandbox, "pronunciation-dictionary", proj.ids()["pronunciation-dictionary/brand"])
    locators = [{"pronunciationDictionaryId": made["resourceId"]}]
    voice = {"provider": "11labs", "voiceId": "sarah", "pronunciationDictionaryLocators": locators}
    _dashboard_create(sandbox, KEY, "assistant", {"name": "Dashboard voice", "voice": voice})
    proj.drop("pronunciation-dictionary/brand")
    (warning,) = [w for w in plan_json(run, proj)["warnings"] if "still uses it" in w]
    assert warning.startswith("pronunciation-dictionary/brand:") and "'Dashboard voice'" in warning
