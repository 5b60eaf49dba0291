"""Shared test fixtures and helpers: a live sandbox (the local Vapi API) on 127.0.0.1, the CLI run against it.

Plain helpers are imported by test modules with `from conftest import ...` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import json
import re
import socket
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from click.testing import CliRunner, Result

SANDBOX_KEY = "test-key"
WRITES = ("POST", "PATCH", "DELETE")
PLAN_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "schemas" / "plan.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def sandbox() -> Iterator:
    """A started SandboxServer on a free port, stopped after the test."""
    # Imported here so test modules that never use the sandbox do not depend on it importing.
    from vapiops.sandbox import SandboxServer

    server = SandboxServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox_env(sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The sandbox, with VAPI_BASE_URL and VAPI_API_KEY pointing vapiops at it."""
    monkeypatch.setenv("VAPI_BASE_URL", sandbox.url)
    monkeypatch.setenv("VAPI_API_KEY", SANDBOX_KEY)
    yield sandbox


# ---------------------------------------------------------------------------------------------
# The CLI


def is_json_plan(args: Sequence[str]) -> bool:
    """Whether these CLI arguments ask `plan` for its JSON document."""
    neighbours = zip(args, args[1:], strict=False)  # args[1:] is one shorter
    return bool(args) and args[0] == "plan" and (
        "--format=json" in args or ("--format", "json") in neighbours)


def run_cli(*args: Any, code: int | None = 0, env: dict[str, str | None] | None = None,
            color: bool = False) -> Result:
    """Run `vapiops *args` in-process with these environment changes (None unsets a variable).

    Asserts the exit code unless code is None. Every JSON plan (`plan --format json` exiting 0 or 2)
    must be a valid document of the shipped schemas/plan.schema.json.
    """
    # Imported here, like the sandbox, so a module that never runs the CLI does not depend on it.
    from vapiops.cli.commands import cli

    words = [str(a) for a in args]
    result = CliRunner().invoke(cli, words, env=env, catch_exceptions=False, color=color)
    if code is not None:
        assert result.exit_code == code, (
            f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    if is_json_plan(words) and result.exit_code in (0, 2):
        jsonschema.validate(json.loads(result.stdout), PLAN_SCHEMA)
    return result


def sandbox_cli(sandbox, key: str = SANDBOX_KEY,
                env: dict[str, str | None] | None = None) -> Callable[..., Result]:
    """`invoke(*args, code=0, env=None, color=False)`: run_cli against `sandbox` with `key`, no colour.

    `env` here changes the defaults of every call (a module's own variables to unset, say); `env` of one
    call is laid over those.
    """
    defaults: dict[str, str | None] = {"VAPI_BASE_URL": sandbox.url, "VAPI_API_KEY": key, "NO_COLOR": "1",
                                       **(env or {})}

    def invoke(*args: Any, code: int | None = 0, env: dict[str, str | None] | None = None,
               color: bool = False) -> Result:
        return run_cli(*args, code=code, env={**defaults, **(env or {})}, color=color)

    return invoke


@pytest.fixture
def cli(sandbox) -> Callable[..., Result]:
    """`cli(*args, code=0, env=None, color=False)`: the real CLI against the sandbox (see sandbox_cli)."""
    return sandbox_cli(sandbox)


# ---------------------------------------------------------------------------------------------
# The sandbox and the project, seen from the outside


def writes(sandbox, *, succeeded: bool = False) -> list[dict[str, Any]]:
    """The POST/PATCH/DELETE requests the sandbox received since its last clear, in order.

    succeeded=True keeps only those that succeeded (status below 300).
    """
    return [r for r in sandbox.requests if r["method"] in WRITES and (not succeeded or r["status"] < 300)]


def sandbox_client(sandbox, key: str | None = SANDBOX_KEY, timeout: float = 5.0) -> httpx.Client:
    """An HTTP client for the sandbox's API, as the dashboard or a script would use it (key=None: no key)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=sandbox.url, headers=headers, timeout=timeout)


def state_ids(root: Path, env: str = "default") -> dict[str, str]:
    """address -> live id, from the project's state snapshot of this environment."""
    data = json.loads((root / ".vapiops" / "state" / f"{env}.json").read_text())
    return {addr: entry["id"] for addr, entry in data["resources"].items()}


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write dedented files under root; a value starting with '->' makes a symlink to that target."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            path.symlink_to(text[2:].strip())
        else:
            path.write_text(textwrap.dedent(text).lstrip())


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_markdown_balanced(text: str, fence_info: str = r"\w*") -> None:
    """Every fence closes with its own fence; <details> and <summary> pair up outside fences.

    A fence opens with three or more backticks and an info string matching `fence_info`; any other line
    starting with ``` outside a fence is a stray fence.
    """
    fence: str | None = None
    depth = 0
    for line in text.split("\n"):
        if fence is None:
            opening = re.fullmatch(rf"(`{{3,}}){fence_info}", line)
            if opening:
                fence = opening.group(1)
                continue
            assert not line.startswith("```"), f"stray fence line {line!r}"
            depth += line.count("<details>") - line.count("</details>")
            assert depth in (0, 1), f"nested or unbalanced <details> at {line!r}"
            assert line.count("<summary>") == line.count("</summary>"), line
        elif line == fence:
            fence = None
    assert fence is None, "a fence was left open"
    assert depth == 0, "a <details> was left open"
