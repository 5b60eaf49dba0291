"""Shared test fixtures and helpers: a live sandbox (the local Vapi API) on 127.0.0.1, the CLI run against it.

Plain helpers are imported by test modules with `from conftest import ...` (pytest puts tests/ on sys.path).

    python -m pytest -m "not e2e"   # the unit suite, in seconds
    python -m pytest                # everything, e2e included (about a minute)

A test that starts a sandbox server, runs the CLI end to end or spawns a process is marked
`@pytest.mark.e2e` (or its file sets `pytestmark = pytest.mark.e2e`); the fixtures here cannot mark
the tests that use them, so a new test of that sort must be marked by hand.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

SANDBOX_KEY = "test-key"
REPO = Path(__file__).resolve().parents[1]
WRITES = ("POST", "PATCH", "DELETE")
PLAN_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
)


@pytest.fixture(scope="session", autouse=True)
def isolated_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The run's own user cache dir (the repaired spec, remembered schema checks): tests never read
    or write the developer's ~/.cache, and every CLI process the suite spawns shares this one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        yield


def time_budget(seconds: float) -> float:
    """A timing limit for this run: code runs about 3x slower under coverage's tracer (CI measures
    coverage), and a limit meant to catch a quadratic algorithm must not fail a linear one there."""
    return seconds * (3 if sys.gettrace() is not None else 1)


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
    return (
        bool(args) and args[0] == "plan" and ("--format=json" in args or ("--format", "json") in neighbours)
    )


def run_cli(
    *args: Any, code: int | None = 0, env: dict[str, str | None] | None = None, color: bool = False
) -> Result:
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
            f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    if is_json_plan(words) and result.exit_code in (0, 2):
        jsonschema.validate(json.loads(result.stdout), PLAN_SCHEMA)
    return result


def sandbox_cli(
    sandbox, key: str = SANDBOX_KEY, env: dict[str, str | None] | None = None
) -> Callable[..., Result]:
    """`invoke(*args, code=0, env=None, color=False)`: run_cli against `sandbox` with `key`, no colour.

    `env` here changes the defaults of every call (a module's own variables to unset, say); `env` of one
    call is laid over those.
    """
    defaults: dict[str, str | None] = {
        "VAPI_BASE_URL": sandbox.url,
        "VAPI_API_KEY": key,
        "NO_COLOR": "1",
        **(env or {}),
    }

    def invoke(
        *args: Any, code: int | None = 0, env: dict[str, str | None] | None = None, color: bool = False
    ) -> Result:
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


def assert_nothing_sent(sandbox, command: str) -> None:
    """A refused command sent no request; `plan` may have read (GETs only: it lists while it
    validates, docs/performance.md), never written."""
    if command == "plan":
        assert [r["method"] for r in sandbox.requests if r["method"] != "GET"] == []
    else:
        assert sandbox.requests == []


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


def repo_pythonpath(env: dict[str, str]) -> dict[str, str]:
    """`env` with this checkout first on PYTHONPATH: a child `python -m vapiops` started in another
    directory must run the code under test, not whatever copy the interpreter has installed."""
    rest = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": f"{REPO}{os.pathsep}{rest}" if rest else str(REPO)}


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


# ---------------------------------------------------------------------------------------------
# Projects and helpers the CLI-against-sandbox tests share

# Distinctive values, so a scan of outputs and files for them cannot match anything by accident.
KEY = "vapi-key-3b9d41f0c7e2"  # the API key `run` passes; no error message or file may hold it
HOOK_TOKEN = "hook-tok-91c2e7a4d05b"
HOOK_TOKEN_2 = "hook-tok-5fe0a8b3c617"
OPENAI_KEY = "sk-openai-6d2f8b0e4a19"
PIN = "pin-7731a0c4e9"
OUTSIDE_TEXT = "outside-the-project-3a6f"  # in a file outside support_project, reached only by mistake

# Two tools, two assistants each referencing one of them.
BASE = """
kind: tool
name: lookup
spec:
  type: function
  function:
    name: lookup
    description: Look up an order.
  server:
    url: https://hooks.example.com/lookup
---
kind: tool
name: hangup
spec:
  type: endCall
---
kind: assistant
name: support
spec:
  firstMessage: Hi, support here.
  model:
    provider: openai
    model: gpt-4o
    toolIds: [lookup]
---
kind: assistant
name: sales
spec:
  firstMessage: Hi, sales here.
  model:
    provider: openai
    model: gpt-4o
    toolIds: [hangup]
"""

# A tool and an assistant whose values come from secret(): HOOK_TOKEN, PIN, OPENAI_KEY.
SECRETS = """
kind: tool
name: hook
spec:
  type: function
  function:
    name: hook
  server:
    url: https://hooks.example.com/hook
    headers:
      Authorization: "Bearer ${{ secret('HOOK_TOKEN') }}"
---
kind: assistant
name: agent
spec:
  firstMessage: Hello.
  voicemailMessage: "Call back and quote ${{ secret('PIN') }} please."
  credentials:
    - provider: openai
      apiKey: "${{ secret('OPENAI_KEY') }}"
  model:
    provider: openai
    model: gpt-4o
    toolIds: [hook]
"""

TOOLS = """
kind: tool
name: hangup
spec:
  type: endCall
---
kind: tool
name: lookup
spec:
  type: function
  function:
    name: lookup
    description: Look up an order.
"""

ASSISTANT = """
kind: assistant
name: support
spec:
  firstMessage: Hi, this is support.
  model:
    provider: openai
    model: gpt-4o
    toolIds: [hangup, lookup]
"""


@pytest.fixture
def base_project(tmp_path: Path) -> Path:
    """A project of BASE in one file, resources/base.yaml (no vapiops.yaml: one `default` environment)."""
    root = tmp_path / "proj"
    write_file(root, "resources/base.yaml", BASE)
    return root


@pytest.fixture
def support_project(tmp_path: Path) -> Path:
    """Two tools and the assistant using them in two files (no vapiops.yaml: one `default` environment).

    Beside it, outside the project, lies outside.md holding OUTSIDE_TEXT.
    """
    root = tmp_path / "proj"
    write_files(root, {"resources/tools.yaml": TOOLS, "resources/assistant.yaml": ASSISTANT})
    (tmp_path / "outside.md").write_text(OUTSIDE_TEXT)
    return root


@pytest.fixture
def run(sandbox) -> Callable[..., Result]:
    """`run(*args, code=0, env=None, color=False)`: the CLI against the sandbox with KEY (see sandbox_cli).

    NO_COLOR is unset (the colour tests decide it per call), and so are variables a developer may have
    set that would change what the tests see.
    """
    return sandbox_cli(
        sandbox,
        KEY,
        env={
            "NO_COLOR": None,
            "VAPIOPS_DEBUG": None,
            "VAPI_API_KEY_DEV": None,
            "VAPI_API_KEY_PROD": None,
            "VAPIOPS_UNSET_SECRET": None,
        },
    )


def write_file(root: Path, rel: str, text: str) -> None:
    """write_files for one file."""
    write_files(root, {rel: text})


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must be there) with `new` in the file."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def error_lines(result: Result) -> list[str]:
    """The non-blank lines of stderr."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_error(result: Result, where: str | None, *expected: str) -> str:
    """Exit 1, nothing on stdout, one error block on stderr naming `where` and saying each of `expected`."""
    assert result.exit_code == 1, result.stderr
    assert result.stdout == "", result.stdout
    err = result.stderr
    assert err.startswith("Error: "), err
    lines = err.rstrip("\n").split("\n")
    # One logical block: further lines (several problems of one validation) are indented under it.
    assert all(line.startswith("  ") for line in lines[1:]), err
    assert "Traceback" not in err
    if where is not None:
        assert where in lines[0] or any(line.lstrip().startswith(where) for line in lines[1:]), err
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    assert KEY not in err
    return err


def state_of(root: Path, env: str = "default"):
    """The project's LocalBackend of this environment."""
    from vapiops.state import LocalBackend

    return LocalBackend(root / ".vapiops" / "state" / f"{env}.json", env)


def live_ids(sandbox, kind: str) -> set[str]:
    """The ids of the live objects of this kind in KEY's org."""
    return {o["id"] for o in sandbox.objects(kind, KEY)}


def live(sandbox, kind: str, obj_id: str) -> dict[str, Any]:
    """The live object of this kind and id in KEY's org, as the sandbox stores it."""
    (obj,) = [o for o in sandbox.objects(kind, KEY) if o["id"] == obj_id]
    return obj


def calls(sandbox) -> list[tuple[str, str]]:
    """(method, path) of the successful writes since the last clear, in order."""
    return [(r["method"], r["path"]) for r in writes(sandbox, succeeded=True)]


def dashboard_patch(sandbox, kind: str, obj_id: str, body: dict[str, Any]) -> None:
    """Edit a live object the way the dashboard does: directly, behind vapiops' back."""
    from vapiops.kinds import KINDS

    with sandbox_client(sandbox, KEY) as c:
        c.patch(
            f"{KINDS[kind].path}/{obj_id}", json=body, params=KINDS[kind].patch_query or None
        ).raise_for_status()


# -- Projects as plain dicts (`proj`), for tests that rewrite manifests between applies


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


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    """An empty Project under tmp_path."""
    return Project(tmp_path / "proj")


def doc(kind: str, name: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A manifest as a dict (extra: lifecycle=...)."""
    return {"kind": kind, "name": name, "spec": spec, **extra}


def apply(run, proj: Project, *extra: str) -> Result:
    """`vapiops apply --auto-approve` of the project, which must succeed."""
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


def function_tool(fn: str) -> dict[str, Any]:
    """The spec of a function tool with one message (the server fills defaults into it)."""
    return {
        "type": "function",
        "function": {"name": fn, "description": f"Does {fn}."},
        "messages": [{"type": "request-start", "content": "One moment."}],
    }


def assistant_spec(first: str = "Hi!", tools: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A realistic assistant: nested objects the server fills defaults into."""
    spec: dict[str, Any] = {
        "firstMessage": first,
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": "You are helpful."}],
        },
        "voice": {"provider": "11labs", "voiceId": "burt", "stability": 0.5},
        "transcriber": {"provider": "deepgram", "model": "nova-2", "language": "en"},
        "server": {"url": "https://hooks.example.com/vapi"},
        "stopSpeakingPlan": {"numWords": 2},
    }
    if tools is not None:
        spec["model"]["toolIds"] = tools
    spec.update(extra)
    return spec
