"""Real signals and SIGKILLs sent to a real `python -m vapiops apply` against a sandbox with latency: zero duplicates after a re-run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import repo_pythonpath, write_files

from vapiops.sandbox import SandboxServer
from vapiops.state import LocalBackend

pytestmark = pytest.mark.e2e

KEY = "interrupt-key"
LATENCY_MS = 150
TOOLS = 20  # independent tools, then assistants that each reference two of them
ASSISTANTS = 4


def write_project(root: Path) -> int:
    """A project of TOOLS tools and ASSISTANTS assistants; returns how many manifests it has."""
    docs = [
        f"kind: tool\nname: t{i}\nspec:\n  type: function\n  function: {{name: fn_{i}}}\n"
        for i in range(TOOLS)
    ]
    docs += [
        f"kind: assistant\nname: a{j}\nspec:\n  firstMessage: hi {j}\n"
        f"  model: {{provider: openai, model: gpt-4o, toolIds: [t{j}, t{j + 1}]}}\n"
        for j in range(ASSISTANTS)
    ]
    write_files(root, {"resources/all.yaml": "---\n".join(docs)})
    return TOOLS + ASSISTANTS


def start_apply(root: Path, server: SandboxServer) -> subprocess.Popen:
    env = repo_pythonpath(
        {
            **os.environ,
            "VAPI_BASE_URL": server.url,
            "VAPI_API_KEY": KEY,
            "NO_COLOR": "1",
            # A killed run's POST lands within the sandbox's latency: no need to wait the real 30 s.
            "VAPIOPS_POST_SETTLE_SECONDS": "1.5",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "vapiops", "apply", str(root), "--auto-approve", "--parallelism", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def posts(server: SandboxServer) -> int:
    return sum(1 for r in server.requests if r["method"] == "POST")


def wait_for_posts(server: SandboxServer, count: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while posts(server) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the apply never got going"
        time.sleep(0.02)


def live_count(server: SandboxServer) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {KEY}"}
    total = 0
    for path in ("/tool", "/assistant"):
        total += len(
            httpx.get(f"{server.url}{path}", params={"limit": 100}, headers=headers, timeout=10).json()
        )
    return total


def finish(root: Path, server: SandboxServer) -> subprocess.CompletedProcess:
    proc = start_apply(root, server)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_apply_records_what_completed_and_a_fresh_checkout_carries_on(
    tmp_path: Path, signum: int, code: int
):
    root = tmp_path / "runner-1"
    manifests = write_project(root)
    with SandboxServer(latency_ms=LATENCY_MS, api_key=KEY) as server:
        proc = start_apply(root, server)
        wait_for_posts(server, 6, proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        assert f"interrupted by {signal.Signals(signum).name}" in err and "recorded in state" in err
        assert "Traceback" not in err
        store = LocalBackend(root / ".vapiops" / "state" / "default.json", "default")
        assert not store.journal_path.exists()  # folded into the snapshot before exiting
        assert not store.file_lock.holder_path.exists()  # released
        recorded = json.loads(store.path.read_text())["resources"]
        assert 0 < len(recorded) < manifests
        # The next CI run starts from a fresh checkout that has only the committed `<env>.json`.
        fresh = tmp_path / "runner-2"
        write_project(fresh)
        (fresh / ".vapiops" / "state").mkdir(parents=True)
        shutil.copy(store.path, fresh / ".vapiops" / "state" / "default.json")
        finish(fresh, server)
        assert live_count(server) == manifests


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkills_at_random_moments_then_a_final_apply_leave_every_resource_exactly_once(
    tmp_path: Path, seed: int
):
    rng = random.Random(seed)
    root = tmp_path / "proj"
    manifests = write_project(root)
    with SandboxServer(latency_ms=LATENCY_MS, api_key=KEY) as server:
        for _round in range(3):
            proc = start_apply(root, server)
            time.sleep(rng.uniform(0.3, 2.5))  # the interpreter starts in ~0.3 s; an apply takes a few s
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finish(root, server)
        assert live_count(server) == manifests, f"seed {seed}"
        again = finish(root, server)
        assert "No changes" in again.stdout
