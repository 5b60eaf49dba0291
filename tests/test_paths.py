"""vapiops.paths: formatting, parsing, pattern matching, finding and editing paths in JSON values."""

from __future__ import annotations

import pytest

from vapiops import paths


@pytest.mark.parametrize(
    "path,text",
    [
        (("model", "messages", 0, "content"), "model.messages[0].content"),
        (("members", 2), "members[2]"),
        ((), ""),
        (("firstMessage",), "firstMessage"),
    ],
)
def test_format_and_parse_round_trip(path, text):
    assert paths.format_path(path) == text
    assert paths.parse_path(text) == path


def test_parse_keeps_wildcards():
    assert paths.parse_path("hooks[].do[].toolId") == ("hooks", "[]", "do", "[]", "toolId")
    assert paths.parse_path("**.server.headers.*") == ("**", "server", "headers", "*")


@pytest.mark.parametrize(
    "pattern,path,expected",
    [
        ("model.toolIds[]", ("model", "toolIds", 3), True),
        ("model.toolIds[]", ("model", "toolIds"), False),
        ("model.toolIds[]", ("model", "toolIds", "x"), False),  # [] is an index, never a key
        ("server.headers.*", ("server", "headers", "Authorization"), True),
        ("server.headers.*", ("server", "headers", 0), False),  # * is a key, never an index
        ("**.server.headers.*", ("server", "headers", "A"), True),  # ** may be zero steps
        ("**.server.headers.*", ("destinations", 0, "server", "headers", "A"), True),
        ("**.server.headers.*", ("server", "url"), False),
        ("voice.voiceId", ("voice", "voiceId"), True),
        ("voice.voiceId", ("voice", "voiceId", "x"), False),  # a pattern matches whole paths only
    ],
)
def test_matches(pattern, path, expected):
    assert paths.matches(pattern, path) is expected


def test_find_yields_every_concrete_match_in_order():
    value = {"hooks": [{"do": [{"toolId": "a"}, {"type": "say"}]}, {"do": [{"toolId": "b"}]}]}
    assert list(paths.find(value, "hooks[].do[].toolId")) == [
        (("hooks", 0, "do", 0, "toolId"), "a"),
        (("hooks", 1, "do", 0, "toolId"), "b"),
    ]
    assert list(paths.find(value, "hooks[5].do")) == []
    assert list(paths.find({"a": 1}, "b.c")) == []


def test_get_has_set_and_delete():
    value: dict = {"model": {"messages": [{"role": "system"}]}}
    assert paths.get(value, ("model", "messages", 0, "role")) == "system"
    assert paths.get(value, ("model", "messages", 3), "none") == "none"
    assert paths.has(value, ("model", "messages")) and not paths.has(value, ("voice",))
    paths.set_(value, ("voice", "provider"), "vapi")  # intermediate dicts are created
    paths.set_(value, ("model", "messages", 0, "content"), "hi")
    assert value["voice"] == {"provider": "vapi"}
    assert value["model"]["messages"][0] == {"role": "system", "content": "hi"}
    paths.delete(value, ("model", "messages", 0, "role"))
    paths.delete(value, ("nothing", "here"))  # absent: no error
    assert value["model"]["messages"][0] == {"content": "hi"}
    paths.delete(value, ("model", "messages", 0))
    assert value["model"]["messages"] == []


def test_copy_json_is_deep():
    value = {"a": [{"b": 1}], "c": "x"}
    copied = paths.copy_json(value)
    copied["a"][0]["b"] = 2
    assert value == {"a": [{"b": 1}], "c": "x"}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("voice.voiceId", None),
        ("model.messages[0].content", None),
        ("hooks[].do[].toolId", None),
        ("**.server.headers.*", None),
        ("members[]", None),
        ("a..b", "empty step"),
        (".a", "empty step"),
        ("a.", "empty step"),
        ("a[[0]", "bracket"),
        ("messages[0", "bracket"),
        ("a[x]", "bracket"),
        ("a]b", "bracket"),
        ("[0].a", "starts with an index"),
        ("", "is empty"),
        ("  ", "is empty"),
    ],
)
def test_path_syntax_is_checked(text, problem):
    found = paths.path_syntax_error(text)
    assert found is None if problem is None else problem in (found or ""), found


@pytest.mark.parametrize(
    ("value", "changes", "expected"),
    [
        ({"a": 1}, [], {"a": 1}),
        ({"a": 1, "b": {"c": 2}}, [(("a",), "x")], {"a": "x", "b": {"c": 2}}),
        ({"a": {"b": [1, {"c": 2}]}}, [(("a", "b", 1, "c"), 3)], {"a": {"b": [1, {"c": 3}]}}),
        (
            {"a": {"b": ["i", "j"], "k": "v"}},
            [(("a", "b", 0), "x"), (("a", "b", 1), "y"), (("a", "k"), "w")],
            {"a": {"b": ["x", "y"], "k": "w"}},
        ),
        ([{"a": 1}, {"a": 2}], [((1, "a"), 9)], [{"a": 1}, {"a": 9}]),
    ],
)
def test_with_values_sets_paths_and_leaves_the_original_alone(value, changes, expected):
    before = paths.copy_json(value)
    out = paths.with_values(value, changes)
    assert out == expected
    assert value == before
    assert (out is value) == (not changes)


def test_with_values_shares_what_no_path_touches():
    value = {"model": {"toolIds": ["x"], "messages": [{"content": "long"}]}, "voice": {"id": "v"}}
    out = paths.with_values(value, [(("model", "toolIds", 0), "name")])
    assert out["voice"] is value["voice"]
    assert out["model"]["messages"] is value["model"]["messages"]
    assert out["model"] is not value["model"] and out["model"]["toolIds"] is not value["model"]["toolIds"]


_DEEP = ("**.toolIds[]", "**.assistantId", "**.destinations[].assistantId", "model.toolIds[0]", "**")


@pytest.mark.parametrize(
    "value",
    [
        {
            "model": {"toolIds": ["a", "b"]},
            "assistantId": "x",
            "members": [{"assistantId": "y", "toolIds": []}],
        },
        {
            "destinations": [{"assistantId": "d"}, "s"],
            "n": [[{"toolIds": ["z"]}]],
            "assistantId": {"assistantId": 1},
        },
        {"model": {"toolIds": "not a list"}, "toolIds": {"0": "x"}},
        [{"assistantId": "top"}, [{"toolIds": ["t"]}]],
        "a string",
        None,
        {},
    ],
)
def test_find_many_finds_what_find_finds_pattern_by_pattern(value):
    assert paths.find_many(value, _DEEP) == [list(paths.find(value, p)) for p in _DEEP]
