"""Parsed manifest files remembered across runs (project/parsecache.py): the same values and lines as
a fresh parse, never a stale one, errors never cached."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vapiops.errors import ManifestError, ValidationError
from vapiops.project import parsecache, yamlload
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests

TEXT = textwrap.dedent(
    """\
    kind: assistant
    name: support
    spec:
      firstMessage: Hi
      model:
        provider: openai
        messages: [{role: system, content: "Be brief."}]
    ---
    # an empty document is left out, as by the loader
    ---
    kind: tool
    name: lookup
    spec: {type: function, function: {name: lookup}}
    """
)


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def run(root: Path, text: str) -> list:
    """One run's load of a one-file project, as load_manifests does it: (value, lines) per document."""
    files = parsecache.ParsedFiles(root)
    docs = files.load(text, "m.yaml")
    files.save()
    return docs


def test_a_second_run_reads_the_same_values_and_lines_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = yamlload.load_yaml_with_lines(TEXT, "m.yaml")
    assert [(v, dict(lines)) for v, lines in run(tmp_path, TEXT)] == fresh
    parses: list[str] = []
    real = yamlload.load_yaml_with_lines
    monkeypatch.setattr(yamlload, "load_yaml_with_lines", lambda t, f: parses.append(f) or real(t, f))
    cached = run(tmp_path, TEXT)
    assert [v for v, _ in cached] == [v for v, _ in fresh]
    assert [lines[()] for _, lines in cached] == [lines[()] for _, lines in fresh]
    assert parses == []  # the values and each document's line come from the cache
    assert dict(cached[0][1]) == fresh[0][1]  # a location inside a document: parsed again, once
    assert cached[1][1][("spec", "type")] == fresh[1][1][("spec", "type")]
    assert ("spec", "nope") not in cached[1][1] and cached[1][1].get(("spec", "nope"), 0) == 0
    assert parses == ["m.yaml"]


def test_a_changed_text_is_parsed_again(tmp_path: Path) -> None:
    run(tmp_path, TEXT)
    changed = TEXT.replace("Hi", "Hello")
    assert run(tmp_path, changed)[0][0]["spec"]["firstMessage"] == "Hello"


def test_a_text_that_fails_to_parse_is_never_kept(tmp_path: Path) -> None:
    bad = TEXT.replace("firstMessage: Hi", "firstMessage: [Hi")
    for _ in range(2):
        with pytest.raises(ManifestError):
            run(tmp_path, bad)
    assert parsecache.ParsedFiles(tmp_path).known == {}


def test_a_damaged_or_unwritable_cache_is_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(tmp_path, TEXT)
    files = parsecache.ParsedFiles(tmp_path)
    assert files.path is not None
    files.path.write_text("{not json")
    assert run(tmp_path, TEXT)[0][0]["name"] == "support"
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert run(tmp_path, TEXT)[1][0]["name"] == "lookup"


def test_a_problem_in_a_cached_manifest_is_located_at_its_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "m.yaml").write_text(TEXT.replace("name: lookup", "name: not a valid name"))
    for _ in range(2):  # the first run parses, the second reads the cache: the same error, same line
        with pytest.raises(ValidationError) as exc:
            load_manifests(load_project(root))
        assert [str(p.where) for p in exc.value.problems] == ["m.yaml:12"]
