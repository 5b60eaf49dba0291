"""LocalBackend hardened: the flock and its holder record, unlock, the journal's complete-or-fail appends, torn records, a lost snapshot."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from vapiops.errors import StateError
from vapiops.state import Intent, LocalBackend, LockLost, ResourceState, State
from vapiops.state.backend import ci_run_url

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / ".vapiops" / "state" / "dev.json", "dev")


# -- the lock --------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from vapiops.state import LocalBackend
    store = LocalBackend(Path(sys.argv[1]), "dev")
    with store.lock(who="apply (test holder)") as info:
        print(info.id, flush=True)
        sys.stdin.readline()
    print("released", flush=True)
""")


def start_holder(store: LocalBackend) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def release_holder(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "released"
    proc.wait(timeout=10)


def holder_record(store: LocalBackend) -> dict:
    return json.loads(store.file_lock.holder_path.read_text())


@pytest.mark.e2e
def test_lock_held_by_another_process_names_the_holder_and_its_lock_id(store: LocalBackend):
    proc, lock_id = start_holder(store)
    try:
        holder = holder_record(store)
        assert (
            holder["pid"] == proc.pid and holder["who"] == "apply (test holder)" and holder["id"] == lock_id
        )
        with pytest.raises(StateError) as e:
            with store.lock(who="plan"):
                pytest.fail("got a lock another process holds")
        assert str(e.value.message).startswith(
            f"state for env dev is locked by {holder['user']}@{socket.gethostname()} pid {proc.pid} "
            f"since {holder['since']} (running: apply (test holder)), lock ID {lock_id}"
        )
        assert f"vapiops state unlock {lock_id}" in str(e.value.hint)
    finally:
        release_holder(proc)
    assert not store.file_lock.holder_path.exists()
    with store.lock(who="plan"):
        assert holder_record(store)["pid"] == os.getpid()


@pytest.mark.e2e
def test_lock_waits_up_to_timeout_for_the_holder(store: LocalBackend):
    proc, _ = start_holder(store)
    releaser = threading.Timer(0.5, release_holder, args=(proc,))
    started = time.monotonic()
    releaser.start()
    try:
        with store.lock(timeout=10):
            waited = time.monotonic() - started
            assert holder_record(store)["pid"] == os.getpid()
    finally:
        releaser.join()
    assert 0.4 < waited < 10


@pytest.mark.e2e
def test_lock_timeout_expires(store: LocalBackend):
    proc, _ = start_holder(store)
    try:
        started = time.monotonic()
        with pytest.raises(StateError, match=f"pid {proc.pid}"):
            with store.lock(timeout=0.5):
                pass
        assert time.monotonic() - started >= 0.5
    finally:
        release_holder(proc)


@pytest.mark.e2e
def test_a_killed_holder_leaves_no_lock_behind(store: LocalBackend):
    proc, lock_id = start_holder(store)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert holder_record(store)["id"] == lock_id  # its holder record stays: it names nobody who holds
    with store.lock(who="apply") as mine:
        assert holder_record(store)["id"] == mine.id


@pytest.mark.parametrize(
    "holder_text",
    [
        pytest.param("", id="empty (a crash between create and write)"),
        pytest.param('{"id": "x", "pid"', id="torn"),
        pytest.param(
            '{"id": "x", "who": "apply", "user": "bob", "host": "elsewhere", "pid": 1, "since": "s"}',
            id="of a host that is gone",
        ),
        pytest.param("\x00\xff", id="binary"),
    ],
)
def test_a_stale_or_unreadable_holder_record_never_blocks(store: LocalBackend, holder_text: str):
    store.lock_path.parent.mkdir(parents=True)
    store.file_lock.holder_path.write_text(holder_text, encoding="latin-1")
    store.lock_path.write_text("")
    with store.lock(who="apply") as mine:
        assert holder_record(store)["id"] == mine.id


def test_two_holds_in_one_process_exclude_each_other(store: LocalBackend):
    other = LocalBackend(store.path, "dev")  # another open file description: flock conflicts
    with store.lock(who="apply"):
        with pytest.raises(StateError, match="locked by"):
            with other.lock(who="apply"):
                pytest.fail("two holds at once")
    with other.lock(who="apply"):
        pass


def test_lock_is_released_on_exceptions(store: LocalBackend):
    with pytest.raises(ZeroDivisionError):
        with store.lock(who="apply"):
            1 / 0  # noqa: B018
    assert not store.file_lock.holder_path.exists()
    with LocalBackend(store.path, "dev").lock():
        pass


def test_lock_files_sit_beside_the_state_file_private(store: LocalBackend):
    with store.lock():
        assert store.lock_path == store.path.with_name("dev.json.lock")
        assert store.file_lock.holder_path == store.path.with_name("dev.json.lock.holder")
        for p in (store.lock_path, store.file_lock.holder_path):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        (
            {
                "GITHUB_RUN_ID": "7",
                "GITHUB_REPOSITORY": "acme/voice",
                "GITHUB_SERVER_URL": "https://gh.example",
            },
            "https://gh.example/acme/voice/actions/runs/7",
        ),
        (
            {"GITHUB_RUN_ID": "7", "GITHUB_REPOSITORY": "acme/voice"},
            "https://github.com/acme/voice/actions/runs/7",
        ),
        ({"CI_JOB_URL": "https://gitlab.example/j/9"}, "https://gitlab.example/j/9"),
    ],
)
def test_the_holder_names_its_ci_run(environ: dict, expected: str | None):
    assert ci_run_url(environ) == expected


# -- unlock ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_unlock_of_a_killed_run_removes_its_holder_record(store: LocalBackend):
    proc, lock_id = start_holder(store)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    store.unlock(lock_id)
    assert not store.file_lock.holder_path.exists()


def test_unlock_with_another_id_releases_nothing(store: LocalBackend):
    with store.lock(who="apply") as mine:
        with pytest.raises(StateError, match=f"not locked under ID nope .it is held under ID {mine.id}"):
            LocalBackend(store.path, "dev").unlock("nope")
        assert holder_record(store)["id"] == mine.id


def test_a_run_whose_lock_was_revoked_stops_writing(store: LocalBackend):
    state = store.load()
    with store.lock(who="apply") as mine:
        store.save(state)
        LocalBackend(store.path, "dev").unlock(mine.id)  # another terminal: `vapiops state unlock ID`
        state.resources["tool/t"] = _entry(1)
        with pytest.raises(LockLost, match="lost the lock"):
            store.record(state, "tool/t")
        with pytest.raises(LockLost):
            store.save(state)
    assert store.load().resources == {}
    with store.lock():  # the revoked run has let go
        pass


# -- the per-call journal -------------------------------------------------------------------


def _entry(i: int) -> ResourceState:
    return ResourceState(kind="tool", name=f"t{i}", id=f"id-{i}", applied={"type": "function"})


def _journaled(tmp_path) -> tuple[LocalBackend, State]:
    """A store with an empty snapshot, and tool/t1 recorded in its journal since."""
    store = LocalBackend(tmp_path / "dev.json", "dev")
    state = store.load()
    store.save(state)
    state.resources["tool/t1"] = _entry(1)
    store.record(state, "tool/t1")
    return store, state


def test_record_appends_and_load_replays(tmp_path):
    store, state = _journaled(tmp_path)
    state.resources["tool/t2"] = _entry(2)
    store.record(state, "tool/t2")
    del state.resources["tool/t1"]
    store.record(state, "tool/t1")
    # The snapshot was not rewritten: the journal carries the three calls.
    assert json.loads(store.path.read_text())["resources"] == {}
    again = store.load()
    assert sorted(again.resources) == ["tool/t2"]
    assert again.resources["tool/t2"].id == "id-2"
    assert again.serial == state.serial


def test_a_torn_last_record_is_skipped_with_a_warning(tmp_path):
    store, _ = _journaled(tmp_path)
    with open(store.journal_path, "a") as fh:
        fh.write('{"serial": 99, "address": "tool/t9", "reso')  # a crash mid-append
    reader = LocalBackend(store.path, "dev")
    assert sorted(reader.load().resources) == ["tool/t1"]
    assert reader.warnings == [
        f"{store.journal_path}:2: skipped a torn last record "
        "(an interrupted write); its create, if any, is found again by its intent"
    ]


def test_the_next_record_cuts_a_torn_tail_off_instead_of_fusing_with_it(tmp_path):
    store, state = _journaled(tmp_path)
    with open(store.journal_path, "a") as fh:
        fh.write('{"serial": 99, "address": "tool/t9", "reso')  # the last run was killed mid-append
    state = store.load()
    state.resources["tool/t2"] = _entry(2)
    store.record(state, "tool/t2")
    assert store.journal_path.read_text().count("\n") == 2
    assert sorted(LocalBackend(store.path, "dev").load().resources) == ["tool/t1", "tool/t2"]


def test_a_malformed_middle_record_is_a_located_error_that_does_not_advise_deleting(tmp_path):
    store, state = _journaled(tmp_path)
    state.resources["tool/t2"] = _entry(2)
    store.record(state, "tool/t2")
    lines = store.journal_path.read_text().splitlines()
    store.journal_path.write_text(lines[0][:20] + "\n" + lines[1] + "\n")
    with pytest.raises(StateError) as e:
        store.load()
    assert e.value.where == f"{store.journal_path}:1"
    assert "delete line 1 only" in str(e.value.hint) and "deleting the journal would create" in str(
        e.value.hint
    )
    # The documented repair: remove that line only; the record after it survives.
    store.journal_path.write_text(lines[1] + "\n")
    assert sorted(store.load().resources) == ["tool/t2"]


def test_a_short_write_is_an_error_and_leaves_the_journal_whole(tmp_path, monkeypatch):
    store, state = _journaled(tmp_path)
    before = store.journal_path.read_bytes()
    real_pwrite = os.pwrite

    def disk_full(fd, data, offset):  # the kernel writes part of the record, then the disk is full
        if len(data) > 10:
            return real_pwrite(fd, data[:10], offset)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", disk_full)
    state.resources["tool/t2"] = _entry(2)
    serial = state.serial
    with pytest.raises(StateError, match="cannot write state journal.*No space left"):
        store.record(state, "tool/t2")
    monkeypatch.undo()
    assert store.journal_path.read_bytes() == before and state.serial == serial
    assert sorted(store.load().resources) == ["tool/t1"]


def test_save_folds_the_journal_into_the_snapshot(tmp_path):
    store = LocalBackend(tmp_path / "dev.json", "dev")
    state = store.load()
    state.resources["tool/t1"] = _entry(1)
    store.record(state, "tool/t1")  # no snapshot yet: record writes one
    assert not store.journal_path.exists()
    state.intents["tool/t2"] = Intent(
        address="tool/t2", kind="tool", started_at="2026-01-01T00:00:00.000Z", body={"type": "function"}
    )
    store.record(state, "tool/t2")
    store.save(state)
    assert not store.journal_path.exists()
    loaded = store.load()
    assert sorted(loaded.resources) == ["tool/t1"] and sorted(loaded.intents) == ["tool/t2"]


def test_journal_lines_already_in_the_snapshot_are_skipped(tmp_path):
    store, state = _journaled(tmp_path)
    journal = store.journal_path.read_text()
    # A crash after the snapshot was written but before the journal was removed:
    del state.resources["tool/t1"]
    store.save(state)
    store.journal_path.write_text(journal)
    assert store.load().resources == {}


@pytest.mark.parametrize("left", [["journal"], ["backup"], ["journal", "backup"]])
def test_a_missing_snapshot_beside_its_journal_or_backup_is_refused_not_a_new_lineage(tmp_path, left):
    store, state = _journaled(tmp_path)
    store.save(state)  # now a .backup exists too
    state.resources["tool/t2"] = _entry(2)
    store.record(state, "tool/t2")
    for name in ("journal", "backup"):
        if name not in left:
            getattr(store, f"{name}_path").unlink()
    store.path.unlink()
    with pytest.raises(StateError, match="state file is missing, but") as e:
        store.load()
    assert e.value.where == str(store.path) and "docs/state.md" in str(e.value.hint)


def test_concurrent_records_share_appends_and_all_replay(tmp_path, monkeypatch):
    """Group commit: records made while an append is under way go out together in the next one."""
    store, state = _journaled(tmp_path)
    real_fsync, fsyncs = os.fsync, []

    def slow_fsync(fd):  # a disk that takes a while: other threads queue records meanwhile
        fsyncs.append(fd)
        time.sleep(0.02)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)

    def one(i: int) -> None:
        state.resources[f"tool/t{i}"] = _entry(i)
        store.record(state, f"tool/t{i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2, 34)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.undo()
    assert len(fsyncs) < 32
    lines = [json.loads(line) for line in store.journal_path.read_text().splitlines()]
    assert [line["serial"] for line in lines] == sorted(line["serial"] for line in lines)  # in call order
    again = LocalBackend(store.path, "dev").load()
    assert sorted(again.resources) == sorted(f"tool/t{i}" for i in range(1, 34))
    assert again.serial == state.serial


def test_a_failed_group_append_fails_every_record_in_it(tmp_path, monkeypatch):
    store, state = _journaled(tmp_path)
    before = store.journal_path.read_bytes()
    gate, errors = threading.Event(), []
    real_fsync = os.fsync

    def full_disk(fd):
        gate.wait(5)  # hold the first append until the others have queued behind it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)

    def one(i: int) -> None:
        state.resources[f"tool/t{i}"] = _entry(i)
        try:
            store.record(state, f"tool/t{i}")
        except StateError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2, 6)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert len(errors) == 4 and all("No space left" in str(e) for e in errors)
    assert store.journal_path.read_bytes() == before
    assert sorted(LocalBackend(store.path, "dev").load().resources) == ["tool/t1"]
