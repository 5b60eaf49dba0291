"""Schema-check results remembered across runs and projects (project/checked.py): only clean bodies, never stale."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vapiops import vapispec
from vapiops.errors import ValidationError
from vapiops.project import checked
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources

GOOD = """
kind: assistant
name: support
spec:
  firstMessage: Hi
  model: {provider: openai, model: gpt-4o}
"""
TYPO = GOOD.replace("firstMessage: Hi", "firstMesage: Hi")  # a misspelling: an error
UNKNOWN = GOOD.replace("firstMessage: Hi", "firstMessage: Hi\n  zzSomethingNew: 1")  # a warning


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    checked.shared.cache_clear()  # each validate below is a new run (a new process)


def validate(root: Path, text: str, config: str = "") -> list:
    """One run of validate over a project holding one manifest: (problems, warnings)."""
    checked.shared.cache_clear()
    root.mkdir(exist_ok=True)
    (root / "m.yaml").write_text(textwrap.dedent(text).lstrip())
    if config:
        (root / "vapiops.yaml").write_text(config)
    project = load_project(root)
    warnings: list = []
    try:
        desired_resources(project, load_manifests(project), project.environment(None), warnings=warnings)
    except ValidationError as exc:
        return [[str(p) for p in exc.problems], [str(w) for w in warnings]]
    return [[], [str(w) for w in warnings]]


def remembered() -> dict[str, int]:
    return checked.CheckedBodies().known


def test_a_clean_body_is_remembered_for_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert validate(root, GOOD) == [[], []]
    assert len(remembered()) == 1
    assert validate(root, GOOD) == [[], []]
    assert not any((root / p).is_file() for p in ("checked", ".cache")), "never under the project"


@pytest.mark.parametrize(
    ("first", "then", "expect_problem", "expect_warning"),
    [
        (GOOD, TYPO, "did you mean", None),  # a changed body is checked again
        (TYPO, TYPO, "did you mean", None),  # a body with an error is never remembered
        (UNKNOWN, UNKNOWN, None, "zzSomethingNew"),  # nor one with a warning
    ],
    ids=["changed body", "error kept", "warning kept"],
)
def test_every_problem_is_reported_on_every_run(
    tmp_path: Path, first: str, then: str, expect_problem: str | None, expect_warning: str | None
) -> None:
    root = tmp_path / "p"
    validate(root, first)
    problems, warnings = validate(root, then)
    assert any(expect_problem in p for p in problems) if expect_problem else problems == []
    assert any(expect_warning in w for w in warnings) if expect_warning else warnings == []


def test_allow_fields_are_part_of_the_key(tmp_path: Path) -> None:
    root = tmp_path / "p"
    allowed = "resources: [.]\nallow_fields:\n  assistant: [zzSomethingNew]\n"
    assert validate(root, UNKNOWN, allowed) == [[], []]
    (root / "vapiops.yaml").unlink()
    problems, warnings = validate(root, UNKNOWN)
    assert any("zzSomethingNew" in w for w in warnings)


def test_the_same_manifest_in_another_project_is_not_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_check = vapispec.check
    monkeypatch.setattr(
        vapispec, "check", lambda kind, *a, **k: checks.append(kind.name) or real_check(kind, *a, **k)
    )
    assert validate(tmp_path / "checkout", GOOD) == [[], []]
    assert validate(tmp_path / "worktree", GOOD) == [[], []]  # another path, the same body
    assert checks == ["assistant"]


def test_a_body_unused_for_the_keep_days_is_dropped(tmp_path: Path) -> None:
    validate(tmp_path / "p", GOOD.replace("Hi", "old"))
    (digest,) = remembered()
    record = checked.CheckedBodies()
    record.known[digest] -= checked.CheckedBodies.KEEP_DAYS  # as if last used a month ago
    record.remember("0" * 32)
    record.save()
    assert set(remembered()) == {"0" * 32}
    validate(tmp_path / "p", GOOD)  # a recent one stays
    assert len(remembered()) == 2


def test_an_unwritable_cache_is_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    root = tmp_path / "p"
    assert validate(root, GOOD) == [[], []]
    assert validate(root, TYPO)[0]


def test_records_of_projects_long_unused_are_pruned(tmp_path: Path) -> None:
    import os
    import time

    cache_home = tmp_path / "xdg" / "vapiops"
    cache_home.mkdir(parents=True)
    gone, recent = cache_home / "checked-oldspec.txt", cache_home / "checked-recentspec.txt"
    for path in (gone, recent):
        path.write_text("")
    long_ago = time.time() - 31 * 24 * 3600
    os.utime(gone, (long_ago, long_ago))
    validate(tmp_path / "p", GOOD)
    assert not gone.exists() and recent.exists()
