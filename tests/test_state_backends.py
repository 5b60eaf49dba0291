"""The shared state backends against real servers (moto's S3 server, a PostgreSQL cluster): one test per
guarantee, run for each backend (the guarantees every backend shares also for local files). End to end:
the CLI runs as separate processes (two "runners" with their own project directories), against one
sandbox org and one backend."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SANDBOX_KEY, repo_pythonpath, sandbox_client, write_files, writes
from servers import S3_CREDENTIALS, create_bucket, postgres_server, s3_server

from vapiops.errors import StateError
from vapiops.project.config import load_project
from vapiops.sandbox import SandboxServer
from vapiops.state import StateBackend, open_backend
from vapiops.state.model import ResourceState

pytestmark = pytest.mark.e2e

BACKENDS = ["s3", "postgres"]
EVERY_BACKEND = ["local", *BACKENDS]
BUCKET = "vapiops-state"
TOOLS = 10


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as url:
        create_bucket(url, BUCKET)
        yield url


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


class Setup:
    """One backend's `state:` section and the variables a runner needs to reach it (fresh per test)."""

    def __init__(self, request: pytest.FixtureRequest, backend: str):
        unique = uuid.uuid4().hex[:8]
        if backend == "local":
            self.config = "state: {backend: local}\n"
            self.env: dict[str, str] = {}
        elif backend == "s3":
            endpoint = request.getfixturevalue("s3_endpoint")
            self.config = f"state: {{backend: s3, bucket: {BUCKET}, prefix: t{unique}/, region: us-east-1}}\n"
            self.env = {**S3_CREDENTIALS, "VAPIOPS_S3_ENDPOINT_URL": endpoint}
        else:
            dsn = request.getfixturevalue("postgres_dsn")
            self.config = f"state: {{backend: postgres, dsn_env: VAPIOPS_PG_DSN, schema: t{unique}}}\n"
            self.env = {"VAPIOPS_PG_DSN": dsn}
        self.backend = backend

    def project(self, root: Path, tools: int = TOOLS) -> Path:
        docs = [
            f"kind: tool\nname: t{i}\nspec:\n  type: function\n  function: {{name: fn_{i}}}\n"
            for i in range(tools)
        ]
        write_files(root, {"vapiops.yaml": self.config, "resources/tools.yaml": "---\n".join(docs)})
        return root

    def fresh_checkout(self, root: Path, fresh: Path) -> Path:
        """Another runner's project directory with the state a new CI job would start from: the same
        backend, or (local files) a copy of the committed snapshot `<env>.json` and nothing else."""
        self.project(fresh)
        if self.backend == "local":
            snapshot = Path(".vapiops", "state", "default.json")
            (fresh / snapshot).parent.mkdir(parents=True)
            shutil.copy(root / snapshot, fresh / snapshot)
        return fresh

    def open(self, root: Path) -> StateBackend:
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return open_backend(load_project(root), "default")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest) -> Setup:
    return Setup(request, request.param)


@pytest.fixture(params=EVERY_BACKEND)
def any_setup(request: pytest.FixtureRequest) -> Setup:
    return Setup(request, request.param)


def start(
    setup: Setup, sandbox: SandboxServer, root: Path, *args: str, key: str = SANDBOX_KEY
) -> subprocess.Popen[str]:
    """`python -m vapiops apply ROOT --auto-approve *args` as its own process: one CI runner."""
    return vapiops(setup, sandbox, "apply", str(root), "--auto-approve", *args, key=key)


def vapiops(
    setup: Setup, sandbox: SandboxServer, *argv: str, key: str = SANDBOX_KEY
) -> subprocess.Popen[str]:
    """`python -m vapiops *argv` as its own process, reaching the backend and the sandbox with `key`."""
    env = repo_pythonpath(
        {
            **os.environ,
            **setup.env,
            "VAPI_BASE_URL": sandbox.url,
            "VAPI_API_KEY": key,
            "NO_COLOR": "1",
            # A stopped run's POST lands within the sandbox's latency: no need to wait the real 30 s.
            "VAPIOPS_POST_SETTLE_SECONDS": "1.5",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "vapiops", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """The run's exit code and everything it printed (stdout, then stderr)."""
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def live_tool_names(sandbox: SandboxServer) -> list[str]:
    with sandbox_client(sandbox) as client:
        return sorted(t["function"]["name"] for t in client.get("/tool", params={"limit": 1000}).json())


def expected_names(tools: int = TOOLS) -> list[str]:
    return sorted(f"fn_{i}" for i in range(tools))


def wait_for_posts(sandbox: SandboxServer, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while sum(r["method"] == "POST" for r in sandbox.requests) < count:
        assert proc.poll() is None, f"the run ended early: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "the run sent no POST in 60 s"
        time.sleep(0.02)


def lock_id_in(stderr: str) -> str:
    found = re.search(r"lock ID (\S+)", stderr)
    assert found, f"no lock ID in: {stderr}"
    return found.group(1).rstrip(",")


# ---------------------------------------------------------------------------------------------


def test_two_runners_at_once_create_everything_exactly_once(setup, tmp_path):
    first, second = setup.project(tmp_path / "runner-1"), setup.project(tmp_path / "runner-2")
    with SandboxServer(latency_ms=1000) as sandbox:
        a = start(setup, sandbox, first, "--parallelism", "1")  # about 10 s of creates: B starts well within
        wait_for_posts(sandbox, 1, a)  # the first runner holds the lock and is creating
        b = start(setup, sandbox, second)  # no --lock-timeout: refused at once, naming the holder
        code_b, err_b = finish(b)
        code_a, err_a = finish(a)
        assert code_a == 0, err_a
        assert code_b == 1 and "is locked by" in err_b and "running: apply" in err_b and "lock ID" in err_b
        assert "Traceback" not in err_b
        # The second runner, once the first is done, finds nothing to do.
        c = start(setup, sandbox, second, "--lock-timeout", "30")
        code_c, err_c = finish(c)
        assert code_c == 0 and "No changes" in err_c, err_c
        assert live_tool_names(sandbox) == expected_names()


def test_a_waiting_runner_applies_after_the_holder_finishes(setup, tmp_path):
    first, second = setup.project(tmp_path / "runner-1"), setup.project(tmp_path / "runner-2")
    with SandboxServer(latency_ms=100) as sandbox:
        a = start(setup, sandbox, first, "--parallelism", "2")
        wait_for_posts(sandbox, 1, a)
        b = start(setup, sandbox, second, "--lock-timeout", "60")
        (code_a, err_a), (code_b, err_b) = finish(a), finish(b)
        assert (code_a, code_b) == (0, 0), err_a + err_b
        assert live_tool_names(sandbox) == expected_names()


def test_sigkill_at_a_random_moment_then_a_rerun_converges_without_duplicates(setup, tmp_path):
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    root = setup.project(tmp_path / "runner")
    with SandboxServer(latency_ms=30) as sandbox:
        victim = start(setup, sandbox, root)
        wait_for_posts(sandbox, rng.randint(1, TOOLS - 1), victim)
        time.sleep(rng.uniform(0, 0.03))  # anywhere inside a call: before, during or after its record
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        rerun = start(setup, sandbox, root, "--lock-timeout", "10")
        code, err = finish(rerun)
        if setup.backend == "postgres":
            assert code == 0, f"seed {seed}: {err}"  # the killed run's session ended: its lock with it
        else:
            # An object store cannot tell a dead holder from a slow one: the lock stays until released,
            # by the command the lock error names.
            assert code == 1 and "is locked by" in err, f"seed {seed}: {err}"
            unlock = f"vapiops state unlock {lock_id_in(err)}"
            assert unlock in err, err
            code, err = finish(vapiops(setup, sandbox, *unlock.split()[1:], str(root)))
            assert code == 0, f"seed {seed}: {err}"
            code, err = finish(start(setup, sandbox, root))
            assert code == 0, f"seed {seed}: {err}"
        assert live_tool_names(sandbox) == expected_names(), f"seed {seed}"
        state = setup.open(root).load()
        assert sorted(state.resources) == sorted(f"tool/t{i}" for i in range(TOOLS)) and not state.intents


def test_a_run_that_lost_its_lock_writes_nothing_more(setup, tmp_path):
    root = setup.project(tmp_path / "runner")
    holder, other = setup.open(root), setup.open(root)
    with holder.lock(who="apply") as info:
        state = holder.load()
        state.resources["tool/t0"] = ResourceState("tool", "t0", "id-0", {"type": "function"})
        holder.record(state, "tool/t0")
        other.unlock(info.id)
        before = other.load()
        state.resources["tool/t1"] = ResourceState("tool", "t1", "id-1", {"type": "function"})
        with pytest.raises(StateError, match="lost the lock"):
            holder.record(state, "tool/t1")
        with pytest.raises(StateError, match="lost the lock"):
            holder.save(state)
        after = other.load()
    assert after.to_dict() == before.to_dict() and sorted(after.resources) == ["tool/t0"]


def test_lock_errors_name_the_holder_and_unlock_checks_the_id(setup, tmp_path):
    root = setup.project(tmp_path / "runner")
    backend, other = setup.open(root), setup.open(root)
    with backend.lock(who="apply") as info:
        with pytest.raises(StateError) as refused:
            with other.lock(who="plan"):
                pass
        message = str(refused.value)
        assert f"lock ID {info.id}" in message and f"pid {os.getpid()}" in message and info.host in message
        assert f"vapiops state unlock {info.id}" in message
        with pytest.raises(StateError, match="not"):
            other.unlock("some-other-id")
    with other.lock(who="plan"):  # released on exit
        pass


def test_records_survive_without_a_save_and_a_save_folds_them(setup, tmp_path):
    root = setup.project(tmp_path / "runner")
    backend = setup.open(root)
    assert not backend.exists()
    with backend.lock(who="apply"):
        state = backend.load()
        for i in range(3):
            state.resources[f"tool/t{i}"] = ResourceState("tool", f"t{i}", f"id-{i}", {"n": i})
            backend.record(state, f"tool/t{i}")
        del state.resources["tool/t1"]
        backend.record(state, "tool/t1")
        # A run killed here: a fresh reader sees every record.
        seen = setup.open(root).load()
        assert sorted(seen.resources) == ["tool/t0", "tool/t2"] and seen.lineage == state.lineage
        backend.save(state)
    folded = setup.open(root).load()
    assert folded.to_dict() == state.to_dict() and backend.exists()


def test_state_of_another_environment_is_refused(setup, tmp_path):
    root = setup.project(tmp_path / "runner")
    backend = setup.open(root)
    with backend.lock():
        backend.save(backend.load())
    project = load_project(root)
    os.environ.update(setup.env)
    try:
        other_env = open_backend(project, "prod")
    finally:
        for k in setup.env:
            os.environ.pop(k, None)
    assert not other_env.exists()  # each environment has its own objects/rows


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_apply_then_a_fresh_checkout_creates_nothing_twice(any_setup, tmp_path, signum, code):
    setup = any_setup
    root = setup.project(tmp_path / "runner-1")
    with SandboxServer(latency_ms=150) as sandbox:
        proc = start(setup, sandbox, root, "--parallelism", "2")
        wait_for_posts(sandbox, 3, proc)
        proc.send_signal(signum)
        exit_code, err = finish(proc)
        assert exit_code == code, err
        assert f"interrupted by {signal.Signals(signum).name}" in err and "recorded in state" in err
        assert "Traceback" not in err
        recorded = setup.open(root).load()
        assert 0 < len(recorded.resources) < TOOLS, err  # what completed, folded before the exit
        # The next CI job: a fresh project directory, no --lock-timeout (the stopped run released its lock).
        fresh = setup.fresh_checkout(root, tmp_path / "runner-2")
        exit_code, err = finish(start(setup, sandbox, fresh))
        assert exit_code == 0, err
        assert live_tool_names(sandbox) == expected_names()
        state = setup.open(fresh).load()
        assert sorted(state.resources) == sorted(f"tool/t{i}" for i in range(TOOLS)) and not state.intents


def test_a_key_of_another_org_is_refused_and_nothing_is_written(any_setup, tmp_path):
    setup = any_setup
    root = setup.project(tmp_path / "runner")
    with SandboxServer() as sandbox:
        exit_code, err = finish(start(setup, sandbox, root))
        assert exit_code == 0, err
        before = setup.open(root).load().to_dict()
        assert before["org_id"]  # learned from the objects it created
        with sandbox_client(sandbox, "key-of-another-org") as other_org:  # an org with objects of its own
            other_org.post("/tool", json={"type": "endCall"}).raise_for_status()
        sandbox.clear_requests()
        exit_code, err = finish(start(setup, sandbox, root, key="key-of-another-org"))
        assert exit_code == 1 and f"was made in org {before['org_id']}" in err, err
        assert "Traceback" not in err
        assert writes(sandbox) == []
        assert setup.open(root).load().to_dict() == before  # serial included: not even a save


def test_sandbox_after_a_real_apply_leaves_the_backends_state_untouched(any_setup, tmp_path):
    setup = any_setup
    root = setup.project(tmp_path / "runner")
    with SandboxServer() as sandbox:  # stands in for the real Vapi API
        exit_code, err = finish(start(setup, sandbox, root))
        assert exit_code == 0, err
        before = setup.open(root).load().to_dict()
        sandbox.clear_requests()
        exit_code, err = finish(start(setup, sandbox, root, "--sandbox"))  # vapiops' own in-process sandbox
        assert exit_code == 0, err
        assert writes(sandbox) == []
        assert setup.open(root).load().to_dict() == before
        sandboxed = json.loads((root / ".vapiops" / "sandbox" / "state" / "default.json").read_text())
        real_ids = {e["id"] for e in before["resources"].values()}
        sandbox_ids = {e["id"] for e in sandboxed["resources"].values()}
        assert len(sandbox_ids) == TOOLS and not sandbox_ids & real_ids
        exit_code, err = finish(vapiops(setup, sandbox, "plan", str(root)))
        assert exit_code == 0 and "No changes" in err, err  # the real org still matches its state


def test_local_state_moves_to_the_backend_with_pull_and_push(setup, tmp_path):
    """docs/state.md's move from the git-branch layout: pull from local files, switch `state:`, push."""
    root = setup.project(tmp_path / "runner")
    config = setup.config
    (root / "vapiops.yaml").write_text("state: {backend: local}\n")
    with SandboxServer() as sandbox:
        assert finish(start(setup, sandbox, root))[0] == 0
        pulled = vapiops(setup, sandbox, "state", "pull", str(root))
        document, err = pulled.communicate(timeout=60)
        assert pulled.returncode == 0, err
        (tmp_path / "default.state.json").write_text(document)
        (root / "vapiops.yaml").write_text(config)
        exit_code, out = finish(
            vapiops(setup, sandbox, "state", "push", str(tmp_path / "default.state.json"), str(root))
        )
        assert exit_code == 0 and "Pushed" in out, out
        local = json.loads(document)
        moved = setup.open(root).load()
        assert (moved.lineage, moved.org_id, sorted(moved.resources)) == (
            local["lineage"],
            local["org_id"],
            sorted(local["resources"]),
        )
        exit_code, out = finish(vapiops(setup, sandbox, "plan", str(root), "--detailed-exitcode"))
        assert exit_code == 0 and "No changes" in out, out
        # Pushing the same file again would undo what runs recorded since: refused.
        assert finish(start(setup, sandbox, root))[0] == 0
        exit_code, out = finish(
            vapiops(setup, sandbox, "state", "push", str(tmp_path / "default.state.json"), str(root))
        )
        assert exit_code == 1 and "older than the current state" in out, out
        assert live_tool_names(sandbox) == expected_names()


def test_postgres_works_with_only_the_grants_docs_state_md_lists(postgres_dsn):
    """The `sql` block of docs/state.md, run as written: a role with those grants (no CREATE) records,
    saves, locks and unlocks once an owner's first use has created the tables."""
    import psycopg

    from vapiops.state.postgres import PostgresBackend

    docs = (Path(__file__).resolve().parents[1] / "docs" / "state.md").read_text()
    grants = re.search(r"```sql\n(.*?)```", docs, re.S)
    assert grants, "docs/state.md has no sql block"
    owner = PostgresBackend(postgres_dsn, "vapiops", "dev", where="owner")
    with owner.lock(who="first use"):
        owner.load()  # creates the schema and its tables
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE ROLE vapiops_runner LOGIN")
        for statement in grants.group(1).split(";"):
            lines = [line for line in statement.splitlines() if not line.startswith("--")]
            if "".join(lines).strip():
                conn.execute("\n".join(lines))
    runner_dsn = postgres_dsn.replace("vapiops@", "vapiops_runner@")
    runner, other = (PostgresBackend(runner_dsn, "vapiops", "dev", where="runner") for _ in range(2))
    with runner.lock(who="apply") as info:
        state = runner.load()
        state.resources["tool/a"] = ResourceState("tool", "a", "id-a", {})
        runner.record(state, "tool/a")
        runner.save(state)
        state.resources["tool/b"] = ResourceState("tool", "b", "id-b", {})
        runner.record(state, "tool/b")
    with runner.lock(who="apply") as info:
        other.unlock(info.id)  # ends the holder's session: allowed between sessions of one role
    assert sorted(other.load().resources) == ["tool/a", "tool/b"]


def test_postgres_tables_missing_and_no_right_to_create_them_is_one_located_error(postgres_dsn):
    import psycopg

    from vapiops.state.postgres import PostgresBackend

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE ROLE vapiops_newcomer LOGIN")
    newcomer = PostgresBackend(
        postgres_dsn.replace("vapiops@", "vapiops_newcomer@"),
        "fresh",
        "dev",
        where="postgres fresh.states env dev",
    )
    with pytest.raises(StateError, match="cannot find or create the state tables in schema fresh") as refused:
        newcomer.load()
    assert refused.value.where == "postgres fresh.states env dev" and "docs/state.md" in (
        refused.value.hint or ""
    )
