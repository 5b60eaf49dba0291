"""Untrusted input, bounded: no secret or key in any output or file, keyed hashes, bad options located."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import KEY, write_files, writes

from vapiops import fsio, redact
from vapiops.errors import TemplateError, VapiopsError
from vapiops.flows.export import _Dumper
from vapiops.project.template import TemplateContext, render_string

HOOK = "hk-5f1e9a7c3d"  # a header value
LANG = "lng-0c7d2e94f1"  # an enum field (transcriber.language)
TOOLREF = "trf-8a31b6c0d2"  # a reference field
PIN = "4821"


def _substrings(value: str, run: int = 6) -> set[str]:
    return {value[i : i + run] for i in range(len(value) - run + 1)} | {value}


def _assert_nothing_leaks(texts: list[str], secrets: list[str]) -> None:
    for secret in secrets:
        for part in _substrings(secret):
            for text in texts:
                assert part not in text, f"{part!r} (from a secret) leaked:\n{text[:2000]}"


def _all_files(root: Path) -> list[str]:
    return [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------------------------
# secret values in messages


@pytest.mark.e2e
def test_validate_never_quotes_a_secret_value_whole_or_transformed(tmp_path, run):
    root = tmp_path / "proj"
    write_files(
        root,
        {
            "resources/a.yaml": """
            kind: assistant
            name: lang
            spec:
              transcriber: {provider: deepgram, language: "${{ secret('LANG_S') }}"}
            ---
            kind: assistant
            name: ref
            spec:
              model: {provider: openai, model: gpt-4o, toolIds: ["${{ secret('TOOLREF_S') }}"]}
            ---
            kind: assistant
            name: transformed
            spec:
              firstMessage: "${{ vars[secret('HOOK_S')|lower|list|join(' ')] }}"
            """,
            "resources/t.yaml": """
            kind: tool
            name: hook
            spec: {type: "${{ secret('LANG_S') }}"}
            """,
        },
    )
    env = {"LANG_S": LANG, "TOOLREF_S": TOOLREF, "HOOK_S": HOOK}
    result = run("validate", root, env=env, code=1)
    _assert_nothing_leaks([result.stdout, result.stderr], [LANG, TOOLREF, HOOK])
    assert "the value of secret('TOOLREF_S')" in result.stderr
    assert "the value of secret('LANG_S')" in result.stderr
    assert "the value of secret('HOOK_S')" in result.stderr
    assert "resources/a.yaml:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["VAPI_API_KEY", "VAPI_API_KEY_PROD", "MY_KEY_VAR"])
def test_secret_refuses_api_key_variables(tmp_path, monkeypatch, name):
    monkeypatch.setenv(name, "key-value-123456")
    ctx = TemplateContext("dev", {}, tmp_path, key_vars=frozenset({"MY_KEY_VAR"}))
    with pytest.raises(TemplateError, match="would read an API key"):
        render_string("${{ secret('" + name + "') }}", ctx)


def test_redaction_scrubs_registered_values_and_their_escaped_forms():
    redact.forget_all()
    redact.register('quo"te-secret\n')
    redact.register("abc")  # too short to scrub from free text
    text = json.dumps({"m": 'x quo"te-secret\n y'}) + " abc"
    assert redact.scrub(text) == '{"m": "x (sensitive) y"} abc'
    redact.forget_all()
    assert redact.scrub(text) == text


# ---------------------------------------------------------------------------------------------
# every command, secrets everywhere, a server that echoes request bodies in its errors


LEAK_PROJECT = {
    "resources/tools.yaml": """
    kind: tool
    name: lookup
    spec:
      type: function
      function: {name: lookup, description: Look up an order.}
      server:
        url: https://hooks.example.com/vapi
        headers: {Authorization: "Bearer ${{ secret('HOOK_S') }}", X-Pin: "${{ secret('PIN_S') }}"}
    """,
    "resources/assistant.yaml": """
    kind: assistant
    name: support
    spec:
      firstMessage: Hi
      model:
        provider: openai
        model: gpt-4o
        toolIds: [lookup]
      server: {url: https://hooks.example.com/a, headers: {X-Lang: "${{ secret('LANG_S') }}"}}
    lifecycle:
      ignoreChanges: [server.headers]
    """,
}


@pytest.mark.e2e
def test_no_secret_or_key_in_any_output_or_file(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write_files(root, LEAK_PROJECT)
    env = {"LANG_S": LANG, "HOOK_S": HOOK, "PIN_S": PIN}
    outputs = []

    def cli(*args, code=None):
        result = run(*args, env=env, code=code)
        outputs.extend([result.stdout, result.stderr])
        return result

    cli("validate", root, code=0)
    for fmt in ("text", "markdown", "json"):
        cli("plan", root, "--format", fmt)
    cli("plan", root, "--out", root / "saved.plan", code=0)
    sandbox.echo_errors = True
    sandbox.inject("POST", "/tool", 400)
    failed = cli("apply", root, "--auto-approve", "--debug", code=1)
    assert "request body" in failed.stderr  # the server did echo the body, with the header values
    applied = cli("apply", root, "--auto-approve", "--format", "json", code=0)
    assert json.loads(applied.stdout)  # the JSON report was printed (and scanned)
    # The object holding the secret headers changed outside vapiops: the drift report must not show them.
    (tool,) = sandbox.objects("tool", KEY)
    sandbox.edit(
        "tool", KEY, tool["id"], {"server": {**tool["server"], "url": "https://moved.example.com/x"}}
    )
    for fmt in ("text", "markdown", "json"):
        drift = cli("plan", root, "--refresh-only", "--format", fmt)
        assert "moved.example.com" in drift.stdout  # the drift is reported (and scanned)
    cli("state", "list", root)
    cli("state", "show", "tool/lookup", root)
    cli("state", "show", "assistant/support", root)
    pulled = cli("state", "pull", root)
    assert json.loads(pulled.stdout)["resources"]  # the whole state was printed (and scanned)
    cli("export", root, "--out", tmp_path / "exported")
    cli("diff", "default", "default", root)
    texts = outputs + _all_files(root) + _all_files(tmp_path / "exported")
    _assert_nothing_leaks(texts, [HOOK, LANG, KEY])
    assert not any(f"{PIN}" in t and '"X-Pin": "4821"' in t for t in texts)


# ---------------------------------------------------------------------------------------------
# state and plan file cannot be brute-forced


@pytest.mark.e2e
def test_a_four_digit_secret_cannot_be_recovered_from_state_and_plan_file(tmp_path, run):
    root = tmp_path / "proj"
    write_files(root, {"resources/tools.yaml": LEAK_PROJECT["resources/tools.yaml"]})
    env = {"HOOK_S": HOOK, "PIN_S": PIN}
    run("apply", root, "--auto-approve", env=env)
    run("plan", root, "--out", root / "saved.plan", env=env)
    state_text = (root / ".vapiops" / "state" / "default.json").read_text()
    plan_text = (root / "saved.plan").read_text()
    stored = json.loads(state_text)
    digests = set()
    for text in (state_text, plan_text):
        digests |= {d.split(":")[-1] for d in __import__("re").findall(r"[0-9a-f]{64}", text)}
    assert digests
    # Everything a reader has: the lineage and every other string in the two files.
    keys = {stored["lineage"], ""} | set(__import__("re").findall(r'"([^"]{1,80})"', state_text + plan_text))

    def candidates(pin: str, key: str) -> set[str]:
        text = json.dumps(pin, sort_keys=True)
        return {
            hashlib.sha256((key + text).encode()).hexdigest(),
            hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest(),
        }

    found = [p for p in (f"{i:04d}" for i in range(10_000)) for k in keys if candidates(p, k) & digests]
    assert found == []
    # The check can fail: with the key derived from the API key (which the files do not hold), it is found.
    from vapiops.client import VapiClient
    from vapiops.state import secret_key

    with VapiClient("http://127.0.0.1:1", KEY) as client:
        real_key = secret_key(client.derive_key, stored["lineage"])
    assert candidates(PIN, real_key) & digests


# ---------------------------------------------------------------------------------------------
# options validated before any request; atomic writes


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args, expected",
    [
        (("sandbox", "--port", "99999"), "99999"),
        (("sandbox", "--latency-ms", "-5"), "-5"),
        (("apply", "{root}", "--lock-timeout", "nan", "--auto-approve"), "nan"),
        (("apply", "{root}", "--lock-timeout", "inf", "--auto-approve"), "inf"),
        (("plan", "{root}", "--out", "{root}"), "is a directory"),
    ],
)
def test_bad_options_are_one_error_before_any_request(tmp_path, run, sandbox, args, expected):
    root = tmp_path / "proj"
    write_files(root, {"resources/tools.yaml": "kind: tool\nname: hangup\nspec: {type: endCall}\n"})
    result = run(*[a.format(root=root) for a in args], code=1)
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert sandbox.requests == [] and writes(sandbox) == []
    assert not [p for p in root.iterdir() if p.name.startswith(".proj") or p.suffix == ".tmp"]


def test_atomic_write_refuses_a_directory_and_leaves_no_temp_file(tmp_path):
    with pytest.raises(VapiopsError, match="is a directory"):
        fsio.atomic_write(tmp_path, "x")
    fsio.atomic_write(tmp_path / "sub" / "f.json", "data")
    assert (tmp_path / "sub" / "f.json").read_text() == "data"
    if os.geteuid() == 0:
        return  # root writes into a read-only directory anyway
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(fsio.WriteError):
            fsio.atomic_write(tmp_path / "ro" / "f.json", "data")
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["f.json", "ro", "sub"]


# ---------------------------------------------------------------------------------------------
# export round-trips every string byte for byte


@pytest.mark.parametrize(
    "text",
    [
        "\x85nel",
        "a\u2028b",
        "a\u2029b",
        "x\rdos",
        "multi\nline\x85x\n",
        "tab\there",
        "\ufeffbom",
        " lead",
        "a\x00b",
    ],
)
def test_exported_strings_round_trip_byte_for_byte(text):
    dumped = yaml.dump({"k": text}, Dumper=_Dumper, allow_unicode=True, width=4096)
    assert yaml.safe_load(dumped)["k"] == text


# ---------------------------------------------------------------------------------------------
# a secret in an ignoreChanges path: created with the object, never stored raw


IGNORED_SECRET = """
kind: assistant
name: support
spec:
  firstMessage: Hi
  voicemailMessage: "Quote ${{ secret('HOOK_S') }} when you call back."
lifecycle:
  ignoreChanges: [voicemailMessage]
"""


def _state_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / ".vapiops").rglob("*") if p.is_file()}


@pytest.mark.e2e
def test_a_secret_in_an_ignore_changes_path_is_hashed_in_the_intent_journal_state_and_backup(
    tmp_path, run, sandbox
):
    root = tmp_path / "proj"
    write_files(root, {"resources/a.yaml": IGNORED_SECRET})
    env = {"HOOK_S": HOOK}
    # Every attempt of the POST (one and five retries) fails with a 5xx: its outcome is unknown to
    # apply, so the create intent, holding the body, is kept for the next run to adopt.
    sandbox.inject("POST", "/assistant", 500, times=6, retry_after=0)
    run("apply", root, "--auto-approve", env=env, code=1)
    kept = json.loads((root / ".vapiops" / "state" / "default.json").read_text())
    intent = kept["intents"]["assistant/support"]
    assert intent["sensitive"] == ["voicemailMessage"]
    seen = dict(_state_bytes(root))
    run("apply", root, "--auto-approve", env=env)
    (live,) = sandbox.objects("assistant", KEY)
    assert HOOK in live["voicemailMessage"]  # the API did get the secret
    seen.update({f"after {k}": v for k, v in _state_bytes(root).items()})
    assert {"default.json", "default.json.backup"} <= set(seen)
    _assert_nothing_leaks([b.decode("utf-8", "replace") for b in seen.values()], [HOOK])
