"""The repaired spec cached in the user's cache directory: same content, reused, never in the way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vapiops
from vapiops.vapispec import cache
from vapiops.vapispec.loading import build_spec, spec


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "vapiops"


class Builds:
    """A spec builder that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"openapi": "3.0.0", "components": {"schemas": {"A": {"type": "object"}}}, "n": self.calls}


def test_the_cached_spec_is_the_repaired_spec(cache_home: Path) -> None:
    first = cache.cached_spec(build_spec)
    assert [p.name for p in cache_home.iterdir()] == [f"spec-{cache.spec_key()}.json"]
    again = cache.cached_spec(build_spec)
    assert again == first == spec()


def test_a_second_command_reads_the_cache_instead_of_building(cache_home: Path) -> None:
    build = Builds()
    assert cache.cached_spec(build)["n"] == 1
    assert cache.cached_spec(build)["n"] == 1
    assert build.calls == 1


@pytest.mark.parametrize(
    "damage",
    [b"", b"{not json", b'{"openapi": "3.0.0"}', b"[]", b"\xff\xfe"],
    ids=["empty", "torn", "no components", "not an object", "not utf-8"],
)
def test_a_damaged_cache_file_is_rebuilt(cache_home: Path, damage: bytes) -> None:
    cache_home.mkdir(parents=True)
    (cache_home / f"spec-{cache.spec_key()}.json").write_bytes(damage)
    build = Builds()
    assert cache.cached_spec(build)["n"] == 1
    assert json.loads((cache_home / f"spec-{cache.spec_key()}.json").read_text())["n"] == 1


def test_an_unwritable_cache_is_silently_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    build = Builds()
    assert cache.cached_spec(build)["n"] == 1
    assert cache.cached_spec(build)["n"] == 2  # built each time, no error
    assert blocker.read_text() == "not a directory"


def test_the_cache_lives_in_the_users_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "vapiops"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "vapiops"


def test_another_version_has_another_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache.spec_key()
    assert key == cache.spec_key()
    monkeypatch.setattr(vapiops, "__version__", vapiops.__version__ + ".post1")
    assert cache.spec_key() != key


def test_long_unused_versions_are_pruned_and_recent_ones_kept(cache_home: Path) -> None:
    import os
    import time

    cache_home.mkdir(parents=True)
    old, recent = cache_home / "spec-old.json", cache_home / "spec-recent.json"
    for path in (old, recent):
        path.write_text("{}")
    long_ago = time.time() - 31 * 24 * 3600
    os.utime(old, (long_ago, long_ago))
    cache.cached_spec(Builds())
    assert not old.exists() and recent.exists()


def test_building_twice_in_one_process_gives_the_same_spec() -> None:
    """Repairs change the document they are given, never data it was built from (the catalogue, a
    schema a repair adds): else a later build, the one a cache miss makes, differs from the first."""
    assert build_spec() == build_spec()
