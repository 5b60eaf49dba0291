"""The GCS backend at unit level, and the one error of a backend whose optional library is missing.

GCS: google-cloud-storage's client is replaced by an in-memory bucket that keeps
GCS's generation rules, because the emulator PyPI offers (gcp-storage-emulator) ignores generation
preconditions and so cannot show a lock working. The object-store logic itself is the S3 backend's,
tested against a real S3 server in test_state_backends.py."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from typing import Any

import pytest
from google.api_core import exceptions

from vapiops.errors import StateError
from vapiops.state.gcs import gcs_backend
from vapiops.state.model import ResourceState


class Bucket:
    """Objects by name with GCS's generation preconditions, each write decided atomically."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.generations = itertools.count(1_700_000_000_000_000)
        self.mutex = threading.Lock()

    def check(self, name: str, if_generation_match: int | None) -> None:
        current = self.objects.get(name, (b"", 0))[1]
        if if_generation_match is not None and if_generation_match != current:
            raise exceptions.PreconditionFailed(f"generation {current} != {if_generation_match}")

    def blob(self, name: str) -> Blob:
        return Blob(self, name)

    def get_blob(self, name: str) -> Blob | None:
        with self.mutex:
            if name not in self.objects:
                return None
            blob = Blob(self, name)
            blob.generation = self.objects[name][1]
            return blob


class Blob:
    def __init__(self, bucket: Bucket, name: str):
        self.bucket, self.name, self.generation = bucket, name, None

    def upload_from_string(
        self, data: bytes, content_type: str, if_generation_match: int | None = None
    ) -> None:
        with self.bucket.mutex:
            self.bucket.check(self.name, if_generation_match)
            self.generation = next(self.bucket.generations)
            self.bucket.objects[self.name] = (data, self.generation)

    def download_as_bytes(self, if_generation_match: int | None = None) -> bytes:
        with self.bucket.mutex:
            if self.name not in self.bucket.objects:
                raise exceptions.NotFound(self.name)
            self.bucket.check(self.name, if_generation_match)
            return self.bucket.objects[self.name][0]

    def delete(self, if_generation_match: int | None = None) -> None:
        with self.bucket.mutex:
            if self.name not in self.bucket.objects:
                raise exceptions.NotFound(self.name)
            self.bucket.check(self.name, if_generation_match)
            del self.bucket.objects[self.name]


class Client:
    def __init__(self) -> None:
        self.the_bucket = Bucket()

    def bucket(self, name: str) -> Bucket:
        return self.the_bucket

    def list_blobs(self, bucket: str, prefix: str) -> list[Any]:
        with self.the_bucket.mutex:
            return [Blob(self.the_bucket, n) for n in sorted(self.the_bucket.objects) if n.startswith(prefix)]


def test_records_locks_and_saves_keep_generation_rules():
    client = Client()
    backend, other = (
        gcs_backend("b", "voice/", "dev", client=client),
        gcs_backend("b", "voice/", "dev", client=client),
    )
    assert backend.describe() == "gs://b/voice/dev.json" and not backend.exists()
    with backend.lock(who="apply") as info:
        with pytest.raises(StateError, match=f"lock ID {info.id}"):
            with other.lock(who="plan"):
                pass
        state = backend.load()
        state.resources["tool/a"] = ResourceState("tool", "a", "id-a", {})
        backend.record(state, "tool/a")  # the first record makes the snapshot
        state.resources["tool/b"] = ResourceState("tool", "b", "id-b", {})
        backend.record(state, "tool/b")
        assert "voice/dev.journal/000000000002.json" in client.the_bucket.objects
        assert sorted(other.load().resources) == ["tool/a", "tool/b"]
        backend.save(state)
    assert sorted(client.the_bucket.objects) == ["voice/dev.json", "voice/dev.json.backup"]
    assert other.load().to_dict() == state.to_dict()


def test_a_run_whose_lock_was_released_writes_nothing_more():
    client = Client()
    backend, other = gcs_backend("b", "", "dev", client=client), gcs_backend("b", "", "dev", client=client)
    with backend.lock(who="apply") as info:
        state = backend.load()
        backend.save(state)
        other.unlock(info.id)
        before = dict(client.the_bucket.objects)
        with pytest.raises(StateError, match="lost the lock"):
            backend.record(state, "tool/a")
        assert client.the_bucket.objects == before


def test_a_missing_snapshot_beside_its_backup_is_never_a_new_lineage():
    client = Client()
    backend = gcs_backend("b", "", "dev", client=client)
    with backend.lock():
        state = backend.load()
        backend.save(state)
        backend.save(state)
    del client.the_bucket.objects["dev.json"]
    with pytest.raises(StateError, match="snapshot is missing") as refused:
        gcs_backend("b", "", "dev", client=client).load()
    assert "gs://b/dev.json.backup" in str(refused.value)


@pytest.mark.parametrize(
    ("section", "module", "extra"),
    [
        ("state: {backend: s3, bucket: acme-state}\n", "boto3", "s3"),
        ("state: {backend: gcs, bucket: acme-state}\n", "google.cloud", "gcs"),
        ("state: {backend: postgres, dsn_env: PG_DSN}\n", "psycopg", "postgres"),
    ],
)
def test_a_missing_extra_is_one_error_naming_the_pip_command(tmp_path, monkeypatch, section, module, extra):
    from vapiops.project.config import load_project
    from vapiops.state import open_backend

    (tmp_path / "resources").mkdir()
    (tmp_path / "vapiops.yaml").write_text(section)
    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees when the package is not installed
    monkeypatch.setenv("PG_DSN", "postgresql://127.0.0.1:1/x")
    with pytest.raises(StateError) as missing:
        open_backend(load_project(tmp_path), "dev")
    assert missing.value.hint == f"pip install 'vapiops[{extra}]'"


class SlowBucket(Bucket):
    """A bucket whose journal writes take a while (a network round trip), or fail when told to."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.fail_journal = False


class SlowBlob(Blob):
    bucket: SlowBucket

    def upload_from_string(
        self, data: bytes, content_type: str, if_generation_match: int | None = None
    ) -> None:
        if ".journal/" in self.name:
            time.sleep(self.bucket.delay)
            if self.bucket.fail_journal:
                raise exceptions.ServiceUnavailable("journal write failed")
        super().upload_from_string(data, content_type, if_generation_match)


class SlowClient(Client):
    def __init__(self, delay: float) -> None:
        self.the_bucket = SlowBucket(delay)
        self.the_bucket.blob = lambda name: SlowBlob(self.the_bucket, name)  # type: ignore[method-assign]


def _record_concurrently(backend: Any, state: Any, names: list[str]) -> dict[str, BaseException | None]:
    """Each name recorded by its own thread, all at once (as the applier's parallel calls do)."""
    outcome: dict[str, BaseException | None] = {}
    mutex = threading.Lock()

    def one(name: str) -> None:
        with mutex:  # the applier changes state under its own lock, then records outside it
            state.resources[f"tool/{name}"] = ResourceState("tool", name, f"id-{name}", {})
        try:
            backend.record(state, f"tool/{name}")
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def test_concurrent_records_are_written_together_and_each_returns_once_durable():
    client = SlowClient(delay=0.05)
    backend = gcs_backend("b", "", "dev", client=client)
    names = [f"t{i}" for i in range(16)]
    with backend.lock(who="apply"):
        state = backend.load()
        backend.save(state)
        outcome = _record_concurrently(backend, state, names)
        assert outcome == dict.fromkeys(names)
        journal = [n for n in client.the_bucket.objects if ".journal/" in n]
        # Group commit: fewer journal objects than records, every record in exactly one of them.
        assert len(journal) < len(names)
        lines = [line for n in journal for line in client.the_bucket.objects[n][0].splitlines()]
        assert len(lines) == len(names)
        # A run killed now: a fresh reader sees every record, in serial order.
        seen = gcs_backend("b", "", "dev", client=client).load()
        assert sorted(seen.resources) == sorted(f"tool/{n}" for n in names) and seen.serial == state.serial
        backend.save(state)
    assert not [n for n in client.the_bucket.objects if ".journal/" in n]  # folded and deleted


def test_a_failed_journal_write_fails_every_record_it_held_and_later_ones_still_land():
    client = SlowClient(delay=0.05)
    backend = gcs_backend("b", "", "dev", client=client)
    with backend.lock(who="apply"):
        state = backend.load()
        backend.save(state)
        client.the_bucket.fail_journal = True
        failed = _record_concurrently(backend, state, [f"t{i}" for i in range(6)])
        assert all(isinstance(e, StateError) for e in failed.values()), failed
        client.the_bucket.fail_journal = False
        assert _record_concurrently(backend, state, ["late"]) == {"late": None}
        # The serials of the failed records are never reused; the gap is harmless to a reader.
        seen = gcs_backend("b", "", "dev", client=client).load()
        assert sorted(seen.resources) == ["tool/late"] and seen.serial == state.serial
