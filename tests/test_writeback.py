"""Round-trip edits of manifest files: the edited value keeps its style, and no other byte moves."""

from __future__ import annotations

import pytest

from vapiops.flows.pull import owning_layer
from vapiops.project.writeback import WritebackError, YamlFile, guess_indent

HEAD = "kind: assistant\nname: a\nspec:\n"

# (what is tested, spec lines before, path under spec, new value, spec lines expected)
CASES = [
    ("single quotes kept", "  m: 'old'  # why\n", ("m",), "new", "  m: 'new'  # why\n"),
    ("double quotes kept", '  m: "old"\n', ("m",), "new", '  m: "new"\n'),
    ("plain stays plain", "  m: old\n", ("m",), "new", "  m: new\n"),
    ("plain that needs quoting gets it", "  m: old\n", ("m",), "a: b", "  m: 'a: b'\n"),
    (
        "literal block kept",
        "  m: |\n    one\n    two\n",
        ("m",),
        "one\nthree\n",
        "  m: |\n    one\n    three\n",
    ),
    ("literal block, no final newline", "  m: |\n    one\n", ("m",), "uno", "  m: |-\n    uno\n"),
    (
        "plain becoming multi-line is a literal block",
        "  m: one\n",
        ("m",),
        "a\nb\n",
        "  m: |\n    a\n    b\n",
    ),
    ("number", "  n: 600       # ten minutes\n", ("n",), 1200, "  n: 1200      # ten minutes\n"),
    ("boolean", "  b: true\n", ("b",), False, "  b: false\n"),
    ("flow list element", '  l: [a, "b"]\n', ("l", 1), "c", '  l: [a, "c"]\n'),
    ("list grows", "  l:\n    - a\n", ("l",), ["a", "b"], "  l:\n    - a\n    - b\n"),
    (
        "dashes at the key's indent",
        "  l:\n  - x: 1\n    y: 2\n",
        ("l", 0, "y"),
        3,
        "  l:\n  - x: 1\n    y: 3\n",
    ),
    (
        "nested map, comments kept",
        "  o:  # c1\n    k: 1  # c2\n    j: 2\n",
        ("o", "j"),
        5,
        "  o:  # c1\n    k: 1  # c2\n    j: 5\n",
    ),
    (
        "a merge key gets an explicit key, the anchor stays",
        "  b: &b {x: 1}\n  o:\n    <<: *b\n    y: 2\n",
        ("o", "x"),
        9,
        "  b: &b {x: 1}\n  o:\n    <<: *b\n    y: 2\n    x: 9\n",
    ),
    ("a new key is appended", "  a: 1\n", ("name",), "support", "  a: 1\n  name: support\n"),
]


@pytest.mark.parametrize(("what", "before", "path", "value", "after"), CASES, ids=[c[0] for c in CASES])
def test_an_edit_changes_only_its_value(what, before, path, value, after):
    file = YamlFile("a.yaml", HEAD + before)
    file.set(file.document("assistant", "a"), ("spec",) + path, value)
    assert file.text() == HEAD + after


def test_lines_the_dumper_would_reformat_stay_as_written():
    # ruamel would write `{a: 1}` and re-indent the list: the splice keeps both as the user wrote them.
    text = (
        HEAD
        + "  f: { a: 1 }\n  l:\n      -   x\n  m: old   # keep\n---\nkind: tool\nname: t\nspec: {type: endCall}\n"
    )
    file = YamlFile("a.yaml", text)
    file.set(file.document("assistant", "a"), ("spec", "m"), "new")
    assert file.text() == text.replace("m: old", "m: new")


def test_a_line_that_cannot_be_placed_is_refused_not_reformatted():
    file = YamlFile("a.yaml", HEAD + "  f: { a: 1 }\n")
    file.set(file.document("assistant", "a"), ("spec", "f", "a"), 2)
    with pytest.raises(WritebackError, match=r"a.yaml: cannot rewrite 'f: \{a: 1\}'.*no file was written"):
        file.text()


def test_delete_removes_only_that_key():
    file = YamlFile("a.yaml", HEAD + "  a: 1\n  b: 2  # two\n")
    file.delete(file.document("assistant", "a"), ("spec", "a"))
    assert file.text() == HEAD + "  b: 2  # two\n"


def test_an_unedited_file_is_returned_as_it_was():
    text = HEAD + "  f: { a: 1 }\n"
    assert YamlFile("a.yaml", text).text() == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  b:\n    - x\n", (2, 2)),
        ("a:\n    b:\n    - x\n", (4, 0)),
        ("a:\n  - x\n", (2, 2)),
        ("a:\n- x\n", (2, 0)),
        ("a: 1\n", (2, 0)),
    ],
)
def test_guess_indent(text, expected):
    assert guess_indent(text) == expected


# (what is tested, spec, overrides.<env>, drifted path, the layer pull writes into)
LAYERS = [
    ("only spec sets it", {"a": 1}, {}, ("a",), "spec"),
    ("the override sets the path", {"a": 1}, {"a": 2}, ("a",), "overrides"),
    ("the override sets a sibling only", {"m": {"a": 1, "b": 1}}, {"m": {"b": 2}}, ("m", "a"), "spec"),
    ("the override sets that nested path", {"m": {"a": 1}}, {"m": {"a": 2}}, ("m", "a"), "overrides"),
    (
        "the override replaces a list above it",
        {"l": [{"a": 1}]},
        {"l": [{"a": 2}]},
        ("l", 0, "a"),
        "overrides",
    ),
    ("the override replaces a scalar with an object", {"m": "x"}, {"m": {"a": 1}}, ("m", "a"), "overrides"),
    ("the override is for a new key only", {}, {"n": 1}, ("m",), "spec"),
]


@pytest.mark.parametrize(("what", "spec", "override", "path", "layer"), LAYERS, ids=[c[0] for c in LAYERS])
def test_the_layer_a_drifted_value_is_written_into(what, spec, override, path, layer):
    assert owning_layer(path, spec, override) == layer
