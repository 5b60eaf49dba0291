"""Manifests: YAML with line numbers, file discovery, wrapper checks, all problems in one error."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import yaml

from vapiops.errors import Location, ManifestError, ValidationError, did_you_mean
from vapiops.model import Lifecycle
from vapiops.project import yamlload
from vapiops.project.config import load_project
from vapiops.project.manifest import find_manifest_files, load_manifests
from vapiops.project.yamlload import MAX_ALIAS_EXPANSION, MAX_DEPTH, load_yaml_with_lines

ENVS = """\
environments:
  staging: {}
  prod: {}
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load_manifests(load_project(root))
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------- YAML with lines


def test_lines_of_keys_and_list_items():
    text = "kind: assistant\nname: a\nspec:\n  model:\n    messages:\n      - role: system\n        content: hi\n"
    [(value, lines)] = load_yaml_with_lines(text, "a.yaml")
    assert value["spec"]["model"]["messages"][0]["content"] == "hi"
    assert lines[("kind",)] == 1
    assert lines[("spec",)] == 3
    assert lines[("spec", "model", "messages")] == 5
    assert lines[("spec", "model", "messages", 0)] == 6
    assert lines[("spec", "model", "messages", 0, "content")] == 7


def test_several_documents_and_empty_ones_skipped():
    text = "---\n---\na: 1\n---\n# only a comment\n---\nb: [x]\n"
    docs = load_yaml_with_lines(text, "m.yaml")
    assert [d[0] for d in docs] == [{"a": 1}, {"b": ["x"]}]
    assert docs[1][1][("b",)] == 7


def test_duplicate_key_is_located():
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines("a: 1\nb:\n  c: 1\n  c: 2\n", "d.yaml")
    assert info.value.where == Location("d.yaml", 4)
    assert "duplicate key 'c' (first at line 3)" in info.value.message


def test_syntax_error_is_located():
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines("a: 1\nb: [1, 2\nc: 3\n", "s.yaml")
    assert info.value.where.file == "s.yaml"
    assert info.value.where.line in (2, 3)
    assert info.value.message.startswith("invalid YAML")


def test_control_character_is_located():
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines("a: 1\nb: \x07\n", "c.yaml")
    assert info.value.where == Location("c.yaml", 2)


def test_scalars_resolve_the_safe_way_and_keys_stay_strings():
    text = "i: 30\nf: 1.5\nb: true\nn: null\ns: '30'\nd: 2024-01-02\non: x\n200: ok\ncomparator: =\n"
    [(value, _)] = load_yaml_with_lines(text, "t.yaml")
    assert value == {
        "i": 30,
        "f": 1.5,
        "b": True,
        "n": None,
        "s": "30",
        "d": "2024-01-02",
        "on": "x",
        "200": "ok",
        "comparator": "=",
    }


@pytest.mark.parametrize(
    "text", ["a: !!python/object:os.system x\n", "a: !custom 1\n", "a: !!set {x}\n", "a: !!binary aGk=\n"]
)
def test_unsafe_or_non_json_tags_are_refused(text):
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines(text, "t.yaml")
    assert "unsupported YAML tag" in info.value.message
    assert info.value.where.line == 1


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf"])
def test_non_json_floats_are_refused(number):
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines(f"a: 1\nb: {number}\n", "f.yaml")
    assert info.value.where == Location("f.yaml", 2)
    assert f"invalid float value '{number}'" in info.value.message


def test_aliases_and_merge_keys_give_independent_copies():
    text = "base: &b {provider: openai, model: gpt-4o}\nx:\n  <<: *b\n  model: gpt-4.1\ny: *b\n"
    [(value, lines)] = load_yaml_with_lines(text, "m.yaml")
    assert value["x"] == {"provider": "openai", "model": "gpt-4.1"}
    assert value["y"] == {"provider": "openai", "model": "gpt-4o"}
    value["y"]["model"] = "changed"
    assert value["base"]["model"] == "gpt-4o"
    assert lines[("x", "model")] == 4


def test_alias_bomb_is_refused():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        levels.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines("\n".join(levels) + "\n", "bomb.yaml")
    assert str(MAX_ALIAS_EXPANSION) in info.value.message


def test_moderate_alias_use_is_fine():
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    [(value, _)] = load_yaml_with_lines(text, "ok.yaml")
    assert value["b"] == [[1, 2, 3]] * 3


def test_recursive_alias_is_refused():
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines("a: &a [1, *a]\n", "r.yaml")
    assert "recursive" in info.value.message


def test_nesting_is_capped_before_libyaml_can_crash():
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert load_yaml_with_lines(ok, "ok.yaml")
    for depth in (MAX_DEPTH, 100_000):  # 100k levels segfaults libyaml's composer if it gets that far
        with pytest.raises(ManifestError) as info:
            load_yaml_with_lines("a: " + "[" * depth + "]" * depth + "\n", "deep.yaml")
        # Refused as one located error (ours, or the YAML library's own limit): never a crash.
        assert info.value.where == Location("deep.yaml", 1)


def test_deep_alias_expansion_is_an_error_not_a_crash():
    inner = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    text = f"a: &a {inner}\nb: {'[' * (MAX_DEPTH - 2)}*a{']' * (MAX_DEPTH - 2)}\n"
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines(text, "deep.yaml")
    assert f"more than {MAX_DEPTH} levels deep (through aliases)" in info.value.message


def test_pure_python_loader_gives_the_same_result(monkeypatch):
    text = "kind: tool\nname: t\nspec:\n  a: [1, {b: 2}]\n---\nx: &x {y: 1}\nz: *x\n"
    fast = load_yaml_with_lines(text, "f.yaml")
    monkeypatch.setattr(yamlload, "_Loader", yaml.SafeLoader)
    assert load_yaml_with_lines(text, "f.yaml") == fast
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines("a: 1\na: 2\n", "d.yaml")
    assert info.value.where == Location("d.yaml", 2)


def _bomb() -> str:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(levels) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        "kind: tool\nname: t\nspec:\n  a: [1, {b: 2}]\n---\nx: &x {y: 1}\nz: *x\n",
        "\n\n# c\n---\n---\nkind: assistant\nspec: {firstMessage: 'hi *there*'}\n",
        "base: &b {provider: openai}\nx:\n  <<: *b\n  model: gpt-4.1\n",
        "a: 1\nb:\n  c: 1\n  c: 2\n",
        "a: &a [1, *a]\n",
        "a: !custom 1\n",
        "a: 1\nb: .nan\n",
        "a: [1, 2\nc: 3\n",
        _bomb(),
    ],
    ids=["aliases", "star-in-text", "merge", "duplicate", "recursive", "tag", "nan", "syntax", "bomb"],
)
def test_loading_without_line_maps_gives_the_same_values_and_errors(text):
    """The cold parse of a manifest file skips per-path lines (parsecache finds them again when
    asked) and, without a `*` in the text, alias bookkeeping: never with another outcome."""

    def outcome(record_lines: bool):
        try:
            docs = load_yaml_with_lines(text, "f.yaml", record_lines=record_lines)
        except ManifestError as exc:
            return ("error", exc.message, exc.where)
        return ("ok", [(value, lines[()]) for value, lines in docs])

    assert outcome(False) == outcome(True)


def test_did_you_mean():
    assert did_you_mean("sepc", ["kind", "name", "spec"]) == " (did you mean 'spec'?)"
    assert (
        did_you_mean("prevent_destroy", ["preventDestroy", "ignoreChanges"])
        == " (did you mean 'preventDestroy'?)"
    )
    assert did_you_mean("zzzz", ["kind", "spec"]) == ""
    assert did_you_mean(3, ["kind"]) == ""


# ---------------------------------------------------------------- discovery


def test_find_manifest_files_skips_hidden_state_and_config(tmp_path):
    write(tmp_path, "b.yaml", "x: 1\n")
    write(tmp_path, "a/c.yml", "x: 1\n")
    write(tmp_path, "a/notes.txt", "x\n")
    write(tmp_path, ".git/x.yaml", "x: 1\n")
    write(tmp_path, "a/.hidden/y.yaml", "x: 1\n")
    write(tmp_path, ".vapiops/state/default.yaml", "x: 1\n")
    write(tmp_path, ".dot.yaml", "x: 1\n")
    write(tmp_path, "vapiops.yaml", "resources: ['.']\n")
    project = load_project(tmp_path)
    rel = [p.relative_to(project.root).as_posix() for p in find_manifest_files(project)]
    assert rel == ["a/c.yml", "b.yaml"]


def test_only_resource_roots_are_scanned(tmp_path):
    write(tmp_path, "vapiops.yaml", "resources: [resources]\n")
    write(tmp_path, "resources/a.yaml", "x: 1\n")
    write(tmp_path, "other/b.yaml", "x: 1\n")
    project = load_project(tmp_path)
    assert [p.name for p in find_manifest_files(project)] == ["a.yaml"]


# ---------------------------------------------------------------- resources


GOOD = """\
kind: assistant
name: support
spec:
  firstMessage: "Hi"
  model:
    provider: openai
    messages:
      - role: system
        content: "${{ vars.x }}"
lifecycle:
  preventDestroy: true
  ignoreChanges: [voice.voiceId]
environments: [staging, prod]
overrides:
  prod:
    model: {model: gpt-4.1}
---
kind: tool
name: lookup
spec: {type: function}
"""


def test_load_a_good_manifest(tmp_path):
    write(tmp_path, "vapiops.yaml", ENVS + "resources: [res]\n")
    write(tmp_path, "res/sub/a.yaml", GOOD)
    first, second = load_manifests(load_project(tmp_path))
    assert first.address == "assistant/support"
    assert first.spec["model"]["messages"][0]["content"] == "${{ vars.x }}"  # raw, unrendered
    assert first.lifecycle == Lifecycle(prevent_destroy=True, ignore_changes=("voice.voiceId",))
    assert first.environments == ("staging", "prod")
    assert first.overrides == {"prod": {"model": {"model": "gpt-4.1"}}}
    assert first.where == Location("res/sub/a.yaml", 1)
    assert first.location(("model", "messages", 0, "content")) == Location("res/sub/a.yaml", 9)
    # a path the manifest does not write falls back to its nearest written ancestor
    assert first.location(("model", "temperature")) == Location("res/sub/a.yaml", 5)
    assert first.location(("nothing",)) == Location("res/sub/a.yaml", 3)
    assert first.override_location("prod", ("model", "model")) == Location("res/sub/a.yaml", 16)
    assert first.override_location("staging") == Location("res/sub/a.yaml", 14)
    assert second.address == "tool/lookup"
    assert second.where == Location("res/sub/a.yaml", 18)
    assert second.environments is None and second.overrides == {} and second.lifecycle == Lifecycle()


@pytest.mark.parametrize(
    ("doc", "line", "expected"),
    [
        ("- a\n- b\n", 1, "must be a mapping with kind, name and spec, not a list"),
        ("name: a\nspec: {}\n", 1, "missing `kind`"),
        ("kind: asistant\nname: a\nspec: {}\n", 1, "unknown kind 'asistant' (did you mean 'assistant'?)"),
        ("kind: assistant\nspec: {}\n", 1, "missing `name`"),
        ("kind: assistant\nname: -bad\nspec: {}\n", 2, "invalid name '-bad'"),
        ("kind: assistant\nname: 'a b'\nspec: {}\n", 2, "invalid name 'a b'"),
        ("kind: assistant\nname: 123\nspec: {}\n", 2, "`name` must be a string, not a number"),
        ("kind: assistant\nname: a\n", 1, "missing `spec`"),
        ("kind: assistant\nname: a\nspec: [1]\n", 3, "`spec` must be a mapping, not a list"),
        ("kind: assistant\nname: a\nspec: {}\nsepc: {}\n", 4, "unknown key 'sepc' (did you mean 'spec'?)"),
        ("kind: assistant\nname: a\nspec: {}\nlifecycle: [x]\n", 4, "`lifecycle` must be a mapping"),
        (
            "kind: assistant\nname: a\nspec: {}\nlifecycle:\n  prevent_destroy: true\n",
            5,
            "unknown lifecycle key 'prevent_destroy' (did you mean 'preventDestroy'?)",
        ),
        (
            "kind: assistant\nname: a\nspec: {}\nlifecycle:\n  preventDestroy: 'yes'\n",
            5,
            "`lifecycle.preventDestroy` must be true or false",
        ),
        (
            "kind: assistant\nname: a\nspec: {}\nlifecycle:\n  ignoreChanges: voice\n",
            5,
            "`lifecycle.ignoreChanges` must be a list",
        ),
        (
            "kind: assistant\nname: a\nspec: {}\nlifecycle:\n  ignoreChanges:\n    - voice\n    - 3\n",
            7,
            "`lifecycle.ignoreChanges[1]` must be a field path",
        ),
        ("kind: assistant\nname: a\nspec: {}\nenvironments: prod\n", 4, "`environments` must be a list"),
        (
            "kind: assistant\nname: a\nspec: {}\nenvironments:\n  - staging\n  - prd\n",
            6,
            "unknown environment 'prd' (did you mean 'prod'?)",
        ),
        ("kind: assistant\nname: a\nspec: {}\noverrides: [prod]\n", 4, "`overrides` must be a mapping"),
        (
            "kind: assistant\nname: a\nspec: {}\noverrides:\n  stagng: {}\n",
            5,
            "unknown environment 'stagng' (did you mean 'staging'?)",
        ),
        (
            "kind: assistant\nname: a\nspec: {}\noverrides:\n  prod: gpt-4.1\n",
            5,
            "`overrides.prod` must be a mapping",
        ),
    ],
)
def test_wrapper_problems_are_located(tmp_path, doc, line, expected):
    write(tmp_path, "vapiops.yaml", ENVS + "resources: [r]\n")
    write(tmp_path, "r/a.yaml", "# leading comment\n" + doc)
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"r/a.yaml:{line + 1}: "), problem
    assert expected in problem


def test_all_problems_of_all_files_at_once(tmp_path):
    write(tmp_path, "a.yaml", "kind: asistant\nname: a\nspec: {}\n---\nkind: tool\nname: 'x y'\nspec: {}\n")
    write(tmp_path, "b.yaml", "kind: tool\nname: t\nspec: {a: [1\n")
    write(tmp_path, "c.yaml", "kind: tool\nname: ok\nspec: {}\nextra: 1\n")
    found = problems_of(tmp_path)
    assert len(found) == 4
    assert found[0].startswith("a.yaml:1: unknown kind")
    assert found[1].startswith("a.yaml:6: invalid name")
    assert found[2].startswith("b.yaml:") and "invalid YAML" in found[2]
    assert found[3].startswith("c.yaml:4: unknown key 'extra'")


def test_duplicate_address_across_files_names_both(tmp_path):
    write(tmp_path, "a.yaml", "kind: tool\nname: t\nspec: {}\n")
    write(tmp_path, "b/c.yaml", "# c\n---\nkind: tool\nname: t\nspec: {}\n")
    write(tmp_path, "d.yaml", "kind: assistant\nname: t\nspec: {}\n")  # same name, other kind: fine
    [problem] = problems_of(tmp_path)
    assert problem == "b/c.yaml:3: duplicate address tool/t: also defined at a.yaml:1"


def test_manifest_dir_without_config_uses_default_environment(tmp_path):
    write(tmp_path, "a.yaml", "kind: tool\nname: t\nspec: {}\noverrides:\n  default: {x: 1}\n")
    [res] = load_manifests(load_project(tmp_path))
    assert res.overrides == {"default": {"x": 1}}


def test_symlinked_manifest_outside_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.yaml", "kind: tool\nname: t\nspec: {}\n")
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    os.symlink(outside / "secret.yaml", project_dir / "link.yaml")
    [problem] = problems_of(project_dir)
    assert problem.startswith("link.yaml: ") and "outside the project root" in problem


def test_non_utf8_manifest_is_a_problem(tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"kind: tool\nname: \xff\n")
    [problem] = problems_of(tmp_path)
    assert "not UTF-8" in problem


def test_empty_project_loads_nothing(tmp_path):
    write(tmp_path, "empty.yaml", "---\n# nothing\n")
    assert load_manifests(load_project(tmp_path)) == []


def _real_depth(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode):
        return 0
    children = node.value if isinstance(node, yaml.SequenceNode) else [v for pair in node.value for v in pair]
    return 1 + max((_real_depth(c) for c in children), default=0)


NESTINGS = {
    "flow": "a: " + "[" * 30 + "]" * 30 + "\n",
    "block mappings": "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n",
    "lists under keys at the keys' column": "a:\n- b:\n  - c:\n    - d:\n      - e\n",
    "compact nested lists": "- " * 60 + "x\n",
    "compact lists of mappings": "".join("  " * i + "- k:\n" for i in range(30)) + "  " * 30 + "- x\n",
    "complex keys": "? " * 20 + "x\n",
    "flow in block": "a:\n  b:\n    - [[{c: [1]}]]\n",
    "documents": "a: [[1]]\n---\n" + "- " * 25 + "x\n...\n--- {a: {b: {c: 1}}}\n",
}


@pytest.mark.parametrize("text", NESTINGS.values(), ids=NESTINGS.keys())
def test_the_cheap_depth_bound_is_never_below_the_real_depth(text):
    from vapiops.project.yamlload import _DOCUMENT_MARKER, _depth_bound

    real = max(_real_depth(n) for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None)
    bound = max(_depth_bound(d) for d in _DOCUMENT_MARKER.split(text))
    assert bound >= real


@pytest.mark.parametrize(
    "text",
    ["- " * (MAX_DEPTH + 5) + "x\n", "".join("  " * i + "k:\n" for i in range(MAX_DEPTH + 5)) + "  v\n"],
)
def test_deep_block_nesting_is_refused_too(text):
    with pytest.raises(ManifestError) as info:
        load_yaml_with_lines(text, "deep.yaml")
    assert "levels deep" in info.value.message or "invalid YAML" in info.value.message
