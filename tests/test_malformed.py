"""The malformed-input corpus (tests/malformed/*.yaml): every bad input is one located error, before any request.

Each case file holds the project files, the command and where its error must point:

    about: what is wrong                       # one line
    files: {path: text, ...}                   # written under the project root ({root})
    before: [[apply, "{root}", --auto-approve]] # optional: commands that must succeed first
    edit: {saved.plan: {targets: [5]}}         # optional: JSON files changed after `before`
    replace: {path: text}                      # optional: files rewritten after `before`
    run: [validate, "{root}"]                  # the command
    where: resources/a.yaml:3                  # the place the one `Error:` line must name
    says: ...                                  # optional: what the error must also say

The runner asserts, for every case: exit 1, exactly one `Error:` line, naming `where` (a file:line,
an address or the option), no traceback, no "unexpected" error, and no request reached the sandbox
(its request log is empty after `before`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import assert_nothing_sent, repo_pythonpath, write_files

CASES = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))
# What "located" means: a file:line, a state or plan file, an address (kind/name), an option, or the
# quoted command-line argument that is wrong.
LOCATED = re.compile(
    r"\S+:\d+|\S+\.(json|plan)\b|\b(assistant|tool|squad|structured-output)/\S+|--[a-z-]+|'[^']+'"
)


def _substitute(value: Any, root: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{root}", str(root))
    return [_substitute(v, root) for v in value]


def _edit_json(path: Path, changes: dict[str, Any]) -> None:
    """Set each dotted key of `changes` in the JSON file (a value of null deletes the key)."""
    doc = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        target = doc
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    path.write_text(json.dumps(doc, indent=2))


def test_the_corpus_is_large_and_every_case_is_well_formed():
    assert len(CASES) >= 60
    allowed = {"about", "files", "before", "edit", "replace", "run", "where", "says"}
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        assert set(case) <= allowed and {"about", "run", "where"} <= set(case), path.name
        assert LOCATED.search(case["where"]), f"{path.name}: {case['where']!r} names no place"


@pytest.mark.e2e
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_a_malformed_input_is_one_located_error_and_no_request(tmp_path, run, sandbox, path):
    case = yaml.safe_load(path.read_text())
    root = tmp_path / "proj"
    root.mkdir()
    write_files(root, case.get("files") or {})
    for command in case.get("before") or []:
        run(*_substitute(command, root))
    for rel, changes in (case.get("edit") or {}).items():
        _edit_json(root / rel, changes)
    write_files(root, case.get("replace") or {})
    sandbox.clear_requests()

    result = run(*_substitute(case["run"], root), code=None)

    err = result.stderr
    assert result.exit_code == 1, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{err}"
    lines = err.splitlines()
    errors = [n for n, line in enumerate(lines) if line.startswith("Error:")]
    assert len(errors) == 1, err
    # The error line, with the problems listed under it (indented) when a validation found several.
    block = [lines[errors[0]]] + list(takewhile(lambda line: line.startswith("  "), lines[errors[0] + 1 :]))
    where = _substitute(case["where"], root)
    assert any(where in line for line in block), f"{where!r} not in the error:\n{err}"
    assert "Traceback" not in err and not re.search(r"unexpected \w+(Error|Exception)\b", err), err
    if "says" in case:
        assert case["says"] in err, err
    assert_nothing_sent(sandbox, case["run"][0])


# A child process whose disk is full for the files named by argv[1]: creating them fails with ENOSPC.
FULL_DISK = """
import errno, os, sys
real_open, full = os.open, sys.argv[1]
def open_on_a_full_disk(path, flags, *args, **kwargs):
    if full in os.fspath(path) and flags & os.O_CREAT:
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path))
    return real_open(path, flags, *args, **kwargs)
os.open = open_on_a_full_disk
from vapiops.cli.commands import cli
cli(sys.argv[2:], prog_name="vapiops")
"""


@pytest.mark.e2e
@pytest.mark.parametrize("full", [".lock", ".lock.holder."], ids=["lock-file", "holder-record"])
def test_a_full_disk_while_locking_is_one_located_state_error_and_no_request(tmp_path, sandbox, full):
    root = tmp_path / "proj"
    write_files(root, {"resources/a.yaml": "kind: tool\nname: hangup\nspec: {type: endCall}\n"})
    env = repo_pythonpath({**os.environ, "VAPI_BASE_URL": sandbox.url, "VAPI_API_KEY": "test-key"})
    args = [sys.executable, "-c", FULL_DISK, full, "apply", str(root), "--auto-approve"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: {root}/.vapiops/state/default.json.lock: cannot lock state:"), error
    assert "No space left on device" in error and "Traceback" not in result.stderr
    assert sandbox.requests == []
    assert not list((root / ".vapiops" / "state").glob("*.tmp"))
