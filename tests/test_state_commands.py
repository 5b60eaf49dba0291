"""`vapiops state pull`, `state push FILE` (lineage and serial checked, --force) and `state unlock LOCK_ID`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, assert_one_error, state_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def applied(support_project, run):
    run("apply", support_project, "--auto-approve")
    return support_project


def test_pull_then_push_moves_state_and_bumps_the_serial(applied, run, tmp_path):
    pulled = json.loads(run("state", "pull", applied).stdout)
    assert pulled == state_of(applied).load().to_dict()
    copy = tmp_path / "moved.json"
    copy.write_text(json.dumps(pulled))
    run("state", "push", str(copy), applied)
    after = state_of(applied).load()
    assert after.lineage == pulled["lineage"] and after.serial == pulled["serial"] + 1
    assert {a: r.id for a, r in after.resources.items()} == {
        a: r["id"] for a, r in pulled["resources"].items()
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"lineage": "another-lineage"}, "lineage another-lineage differs", id="another lineage"),
        pytest.param({"serial": 0}, "serial 0 is older than the current state's", id="an older serial"),
    ],
)
def test_push_refuses_another_lineage_or_an_older_serial_unless_forced(
    applied, run, tmp_path, change, message
):
    pulled = json.loads(run("state", "pull", applied).stdout)
    before = state_of(applied).path.read_bytes()
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({**pulled, **change}))
    assert_one_error(run("state", "push", str(stale), applied, code=1), str(stale), message, "--force")
    assert state_of(applied).path.read_bytes() == before
    run("state", "push", str(stale), applied, "--force")
    after = state_of(applied).load()
    assert after.lineage == {**pulled, **change}["lineage"] and after.serial > pulled["serial"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{not json", "cannot read the state to push", id="not JSON"),
        pytest.param('{"version": 99}', "state format version 99 is not supported", id="a newer format"),
        pytest.param(
            '{"version": 1, "environment": "prod", "lineage": "l", "serial": 1, "resources": {}}',
            "state of environment 'prod', not 'default'",
            id="another environment",
        ),
    ],
)
def test_push_of_a_bad_file_is_one_located_error(applied, run, tmp_path, text, message):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    assert_one_error(run("state", "push", str(bad), applied, code=1), str(bad), message)


HOLD_AND_DIE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from vapiops.state import LocalBackend
    store = LocalBackend(Path(sys.argv[1]), "default")
    with store.lock(who="apply") as info:
        print(info.id, flush=True)
        sys.stdin.readline()
""")


def test_unlock_takes_the_id_the_lock_error_prints(applied, run):
    store = state_of(applied)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_DIE, str(store.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    lock_id = proc.stdout.readline().strip()
    refused = run("apply", applied, "--auto-approve", code=1)
    assert f"vapiops state unlock {lock_id}" in refused.stderr
    assert_one_error(
        run("state", "unlock", "not-the-id", applied, code=1), None, "not locked under ID not-the-id"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert "Released lock" in run("state", "unlock", lock_id, applied).stderr
    assert not store.file_lock.holder_path.exists()
    run("apply", applied, "--auto-approve")
