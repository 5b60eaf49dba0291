"""LocalBackend: round trips, atomic and concurrent saves, corrupt files, versions, and the lock."""

from __future__ import annotations

import json
import os
import stat
import threading
import uuid
from pathlib import Path

import pytest

from vapiops.errors import StateError
from vapiops.state import STATE_VERSION, Intent, LocalBackend, ResourceState, State, hash_secret
from vapiops.timestamps import now_iso

REPO = Path(__file__).resolve().parent.parent


def sample_state() -> State:
    state = State(environment="dev")
    state.resources["assistant/support"] = ResourceState(
        kind="assistant",
        name="support",
        id="a-1",
        applied={
            "firstMessage": "Hi",
            "model": {"toolIds": ["lookup"]},
            "server": {"headers": {"x-key": hash_secret("s3cret", state.lineage)}},
        },
        secrets={"server.headers.x-key": hash_secret("s3cret", state.lineage)},
    )
    state.resources["tool/lookup"] = ResourceState(
        kind="tool", name="lookup", id="t-1", applied={"type": "function"}
    )
    state.intents["squad/team"] = Intent(
        address="squad/team",
        kind="squad",
        started_at="2024-05-01T12:00:00.000Z",
        body={"name": "team", "members": [{"assistantId": "a-1"}]},
        sensitive=[],
    )
    return state


@pytest.fixture
def store(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / ".vapiops" / "state" / "dev.json", "dev")


def test_missing_file_is_an_empty_state_with_a_new_lineage(store: LocalBackend):
    first, second = store.load(), store.load()
    assert (first.environment, first.serial, first.resources, first.intents) == ("dev", 0, {}, {})
    assert uuid.UUID(first.lineage).version == 4
    assert first.lineage != second.lineage  # chosen only once it is saved
    assert not store.path.exists()


def test_round_trip(store: LocalBackend):
    state = sample_state()
    store.save(state)
    assert state.serial == 1
    loaded = LocalBackend(store.path, "dev").load()
    assert loaded == state
    assert loaded.resources["tool/lookup"].id == "t-1"
    assert "tool/missing" not in loaded.resources
    assert loaded.address_of_id("a-1") == "assistant/support"
    assert loaded.address_of_id("nope") is None


def test_file_is_pretty_sorted_private_json(store: LocalBackend):
    store.save(sample_state())
    text = store.path.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["version"] == STATE_VERSION
    assert list(data["resources"]) == ["assistant/support", "tool/lookup"]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert "s3cret" not in text


def test_previous_file_is_kept_as_backup(store: LocalBackend):
    state = sample_state()
    store.save(state)
    assert not store.backup_path.exists()
    del state.resources["tool/lookup"]
    store.save(state)
    backup = json.loads(store.backup_path.read_text())
    assert backup["serial"] == 1 and "tool/lookup" in backup["resources"]
    assert store.load().serial == 2
    assert stat.S_IMODE(store.backup_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("fail_on_call", [1, 2])  # 1: writing the backup, 2: writing the state itself
def test_a_crash_during_save_leaves_the_old_file(store: LocalBackend, monkeypatch, fail_on_call: int):
    state = sample_state()
    store.save(state)
    before = store.path.read_bytes()
    calls = []
    real_replace = os.replace

    def crashing_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_on_call:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    state.resources.clear()
    with pytest.raises(StateError, match="cannot write state file"):
        store.save(state)
    monkeypatch.setattr(os, "replace", real_replace)
    assert store.path.read_bytes() == before
    loaded = store.load()
    assert loaded.serial == 1 and "tool/lookup" in loaded.resources
    assert state.serial == 1  # not saved, so not counted
    assert sorted(p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")) == []


def test_concurrent_saves_from_8_threads(store: LocalBackend):
    state = State(environment="dev")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with store.mutex:
                    state.resources[f"tool/t{n}-{i}"] = ResourceState("tool", f"t{n}-{i}", f"id-{n}-{i}", {})
                    store.save(state)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = json.loads(store.path.read_text())
    assert data["serial"] == 80 == state.serial
    assert len(data["resources"]) == 80
    assert json.loads(store.backup_path.read_text())["serial"] == 79


def test_corrupt_file_names_the_file_and_the_backup(store: LocalBackend):
    store.save(sample_state())
    store.save(sample_state())
    store.path.write_text('{"version": 1, "resources": {')
    with pytest.raises(StateError) as e:
        store.load()
    assert str(store.path) in str(e.value)
    assert "not valid JSON" in str(e.value)
    assert str(store.backup_path) in str(e.value.hint)


def test_binary_garbage_is_a_state_error(store: LocalBackend):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(StateError, match="not UTF-8"):
        store.load()


@pytest.mark.parametrize(("version", "hint"), [(2, "upgrade vapiops"), (None, "restore"), ("1", "restore")])
def test_unknown_version_is_refused(store: LocalBackend, version, hint: str):
    data = sample_state().to_dict()
    data["version"] = version
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps(data))
    with pytest.raises(StateError) as e:
        store.load()
    assert "not supported" in str(e.value)
    assert hint in str(e.value.hint)
    assert e.value.where == str(store.path)


def test_malformed_entries_are_refused(store: LocalBackend):
    data = sample_state().to_dict()
    data["resources"]["tool/lookup"]["id"] = 42
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="malformed"):
        store.load()


def test_state_of_another_environment_is_refused(store: LocalBackend):
    store.save(sample_state())
    with pytest.raises(StateError, match="belongs to environment 'dev', not 'prod'"):
        LocalBackend(store.path, "prod").load()


def test_hash_secret_is_salted_and_stable():
    h = hash_secret("s3cret", "lineage-a")
    assert h.startswith("hmac-sha256:") and len(h) == len("hmac-sha256:") + 64
    assert "s3cret" not in h
    assert h == hash_secret("s3cret", "lineage-a")
    assert h != hash_secret("s3cret", "lineage-b")
    assert h != hash_secret("s3cret2", "lineage-a")
    assert hash_secret({"b": 1, "a": 2}, "x") == hash_secret({"a": 2, "b": 1}, "x")


def test_now_iso_format():
    now = now_iso()
    assert len(now) == len("2024-05-01T12:00:00.123Z") and now.endswith("Z")
