"""Independent writes run in parallel (--parallelism), dependents wait; `vapiops sandbox` serves the API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, repo_pythonpath, sandbox_cli, write_files, writes

from vapiops.sandbox import SandboxServer

pytestmark = pytest.mark.e2e

LATENCY_MS = 300
TOOLS = 6


def project_with_independent_tools(root: Path) -> None:
    docs = [
        f"kind: tool\nname: t{i}\nspec:\n  type: function\n  function: {{name: fn_{i}}}\n"
        for i in range(TOOLS)
    ]
    docs.append(
        "kind: assistant\nname: a\nspec:\n  model: {provider: openai, model: gpt-4o, toolIds: [t0, t5]}\n"
    )
    write_files(root, {"resources/all.yaml": "---\n".join(docs)})


def timed_apply(tmp_path: Path, parallelism: int) -> tuple[float, list[dict]]:
    root = tmp_path / f"p{parallelism}"
    project_with_independent_tools(root)
    with SandboxServer(latency_ms=LATENCY_MS) as server:
        started = time.monotonic()
        sandbox_cli(server)("apply", root, "--auto-approve", "--parallelism", str(parallelism))
        return time.monotonic() - started, writes(server)


def test_independent_creates_run_in_parallel_and_dependents_wait(tmp_path):
    serial, _ = timed_apply(tmp_path, 1)
    parallel, calls = timed_apply(tmp_path, TOOLS)
    # Six tool POSTs then the assistant's: serially at least 7 x latency; in parallel the tools
    # overlap, so about 2 x latency plus the listing. Compared with each other, not with a clock bound.
    assert serial >= (TOOLS + 1) * LATENCY_MS / 1000
    assert parallel < serial - (TOOLS - 2) * LATENCY_MS / 1000
    # The assistant references tools: its POST is sent only after every tool POST was answered.
    assert [c["path"] for c in calls][-1] == "/assistant" and len(calls) == TOOLS + 1


def test_sandbox_command_serves_the_api_on_loopback(tmp_path):
    port = free_port()
    data = tmp_path / "data.json"
    env = repo_pythonpath({**os.environ, "NO_COLOR": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "vapiops", "sandbox", "--port", str(port), "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": "Bearer k"}
        for _ in range(100):  # up to ~10 s for the interpreter to start
            try:
                httpx.get(f"{url}/assistant", headers=headers, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        created = httpx.post(f"{url}/assistant", json={"name": "x"}, headers=headers, timeout=5)
        assert created.status_code == 201 and created.json()["name"] == "x"
        assert (
            httpx.get(f"{url}/assistant", headers=headers, timeout=5).json()[0]["id"] == created.json()["id"]
        )
        bad = httpx.post(f"{url}/assistant", json={"nmae": "x"}, headers=headers, timeout=5)
        assert bad.status_code == 400 and "property nmae should not exist" in str(bad.json()["message"])
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert f"VAPI_BASE_URL=http://127.0.0.1:{port}" in err
    assert "POST /assistant 201" in err  # one log line per request
    assert data.exists() and created.json()["id"] in data.read_text()  # --data persisted it
