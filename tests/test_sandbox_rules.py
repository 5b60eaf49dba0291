"""The sandbox's server rules (kinds.ServerRule: what the real API refuses beyond its schemas) and its
real-API options on the command line: --mask-secrets, --ignore-field, --strict-real (docs/sandbox.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest
from conftest import free_port, repo_pythonpath, run_cli

from vapiops.sandbox.api import Api
from vapiops.sandbox.store import Store

ORG = "org-1"
SO_ID = str(uuid.uuid4())


def scorecard(*points: float) -> dict[str, Any]:
    """A scorecard body with one metric per number, each one condition of those points."""
    condition = {"type": "comparator", "comparator": "=", "value": True}
    metrics = [{"structuredOutputId": SO_ID, "conditions": [{**condition, "points": p}]} for p in points]
    return {"metrics": metrics}


def hook(timeout: float) -> dict[str, Any]:
    return {"on": "customer.speech.timeout", "options": {"timeoutSeconds": timeout}, "do": [{"type": "say"}]}


# (path, body, the 400 message or None when accepted)
CREATE_CASES = [
    ("/assistant", {"silenceTimeoutSeconds": 9}, "silenceTimeoutSeconds must not be less than 10"),
    ("/assistant", {"silenceTimeoutSeconds": 10}, None),
    ("/assistant", {"hooks": [hook(1)]}, "hooks[0].options.timeoutSeconds must not be less than 2"),
    ("/assistant", {"hooks": [hook(2)]}, None),
    (
        "/assistant",
        {"artifactPlan": {"scorecards": [scorecard(30, 60)]}},
        "artifactPlan.scorecards[0].metrics: the points of all conditions must sum to 100 (they sum to 90)",
    ),
    ("/assistant", {"artifactPlan": {"scorecards": [scorecard(30, 70)]}}, None),
    (
        "/squad",
        {"members": [{"assistant": {"name": "a"}, "assistantOverrides": {"silenceTimeoutSeconds": 5}}]},
        "members[0].assistantOverrides.silenceTimeoutSeconds must not be less than 10",
    ),
    (
        "/squad",
        {"members": [{"assistant": {"name": "a"}}], "membersOverrides": {"silenceTimeoutSeconds": 5}},
        "membersOverrides.silenceTimeoutSeconds must not be less than 10",
    ),
    (
        "/observability/scorecard",
        scorecard(60, 40, 20),
        "metrics: the points of all conditions must sum to 100 (they sum to 120)",
    ),
    ("/observability/scorecard", scorecard(60, 30, 10), None),
    ("/observability/scorecard", scorecard(33.5, 66.5), None),
    (
        "/observability/scorecard",
        scorecard(),
        "metrics: the points of all conditions must sum to 100 (they sum to 0)",
    ),
]


@pytest.mark.parametrize("path, body, message", CREATE_CASES)
def test_server_rules_on_create(path: str, body: dict[str, Any], message: str | None):
    api = Api(Store())
    response = api.handle("POST", path, {}, body, ORG)
    if message is None:
        assert response.status == 201, response.body
    else:
        assert (response.status, response.body["message"]) == (400, [message])
        assert api.store.collection(ORG, path.rsplit("/", 1)[-1]) == []


# (PATCH body, the 400 message or None): only what the PATCH sends is judged.
PATCH_CASES = [
    ({"name": "renamed"}, None),
    (scorecard(50), "metrics: the points of all conditions must sum to 100 (they sum to 50)"),
    (scorecard(50, 50), None),
]


@pytest.mark.parametrize("body, message", PATCH_CASES)
def test_server_rules_on_patch_judge_what_is_sent(body: dict[str, Any], message: str | None):
    api = Api(Store())
    created = api.handle("POST", "/observability/scorecard", {}, scorecard(100), ORG).body
    response = api.handle("PATCH", f"/observability/scorecard/{created['id']}", {}, body, ORG)
    assert (response.status, None if message is None else response.body["message"]) == (
        (200, None) if message is None else (400, [message])
    )


# ---------------------------------------------------------------------------------------------
# vapiops sandbox --mask-secrets / --ignore-field / --strict-real


@pytest.mark.e2e
@pytest.mark.parametrize(
    "value", ["silenceTimeoutSeconds", "robot:silenceTimeoutSeconds", "assistant:", ":x"]
)
def test_a_malformed_ignore_field_is_one_error(value: str):
    result = run_cli("sandbox", "--ignore-field", value, code=1)
    assert "KIND:PATH" in result.stderr and "Traceback" not in result.stderr


def serve(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vapiops", "sandbox", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=repo_pythonpath({**os.environ, "NO_COLOR": "1"}),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):  # up to ~10 s for the interpreter to start
        try:
            httpx.get(f"{url}/tool", headers=AUTH, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, url


AUTH = {"Authorization": "Bearer k"}
HOOK_TOOL = {
    "type": "function",
    "function": {"name": "hook"},
    "server": {"url": "https://hooks.example.com", "headers": {"Authorization": "Bearer secret-1"}},
}


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args, masked, oldest_first",
    [
        ((), False, False),
        (("--mask-secrets",), True, False),
        (("--strict-real",), True, True),
        (("--strict-real", "--list-order", "desc"), True, False),
    ],
)
def test_real_api_options_on_the_command_line(args: tuple[str, ...], masked: bool, oldest_first: bool):
    proc, url = serve(*args, "--ignore-field", "assistant:silenceTimeoutSeconds")
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=5) as c:
            tools = [
                c.post("/tool", json={**HOOK_TOOL, "function": {"name": f"t{i}"}}).json() for i in range(2)
            ]
            headers = c.get(f"/tool/{tools[0]['id']}").json()["server"]["headers"]
            assert headers == {"Authorization": "****" if masked else "Bearer secret-1"}
            listed = [t["id"] for t in c.get("/tool").json()]
            assert listed == [t["id"] for t in (tools if oldest_first else tools[::-1])]
            created = c.post("/assistant", json={"name": "a", "silenceTimeoutSeconds": 30})
            assert created.status_code == 201 and "silenceTimeoutSeconds" not in created.json()
            refused = c.post("/assistant", json={"name": "b", "silenceTimeoutSeconds": 5}).json()
            assert refused["message"] == ["silenceTimeoutSeconds must not be less than 10"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
