"""planning.diff and planning.secrets: the ownership rules (docs/plan.md) on plain values."""

from __future__ import annotations

import json

import pytest

from vapiops.model import ABSENT, SENSITIVE, FieldChange
from vapiops.planning.diff import (
    build_patch,
    compare,
    diff,
    ignore_patterns,
    overlay,
    owned_equal,
    scalar_equal,
    strip_ignored,
)
from vapiops.planning.secrets import default_hash, hash_secrets, sensitive_paths

SET = ("model.toolIds", "assistantIds")


def fc(path, before, after, sensitive=False):
    return FieldChange(path, before, after, sensitive)


# -- rule 2: only declared fields are owned -----------------------------------------------------


def test_undeclared_live_keys_are_ignored_at_every_depth():
    desired = {"model": {"provider": "openai", "model": "gpt-4o"}}
    live = {
        "id": "x",
        "model": {"provider": "openai", "model": "gpt-4o", "temperature": 0.7, "extra": {"a": 1}},
        "voicemailMessage": "hi",
    }
    assert diff(desired, live) == []


def test_a_changed_nested_scalar_is_one_field_at_its_path():
    desired = {"model": {"provider": "openai", "model": "gpt-4.1"}}
    live = {"model": {"provider": "openai", "model": "gpt-4o", "temperature": 0.7}}
    assert diff(desired, live) == [fc("model.model", "gpt-4o", "gpt-4.1")]


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (0.5, 0.5, True),
        (2, 2.5, False),
        (True, 1, False),
        (1, True, False),
        (False, 0, False),
        (True, True, True),
        ("1", 1, False),
        ("a", "a", True),
        ("a", "A", False),
    ],
)
def test_scalars_numbers_by_value_bools_apart(a, b, equal):
    assert scalar_equal(a, b) is equal
    assert (diff({"x": a}, {"x": b}) == []) is equal


def test_declared_null_equals_absent_or_null_but_not_a_value():
    assert diff({"x": None}, {}) == []
    assert diff({"x": None}, {"x": None}) == []
    assert diff({"x": None}, {"x": "set"}) == [fc("x", "set", None)]


def test_a_new_field_shows_absent_before():
    assert diff({"x": "v"}, {}) == [fc("x", ABSENT, "v")]


def test_a_new_nested_object_shows_each_declared_leaf():
    assert diff({"voice": {"provider": "11labs", "voiceId": "v"}}, {}) == [
        fc("voice.provider", ABSENT, "11labs"),
        fc("voice.voiceId", ABSENT, "v"),
    ]


def test_empty_containers_equal_absent_ones():
    assert diff({"metadata": {}, "toolIds": []}, {}) == []
    assert diff({"toolIds": []}, {"toolIds": None}) == []
    assert diff({"toolIds": []}, {"toolIds": ["a"]}) == [fc("toolIds", ["a"], [])]


def test_type_mismatch_is_one_whole_change():
    assert diff({"x": {"a": 1}}, {"x": "text"}) == [fc("x", "text", {"a": 1})]
    assert diff({"x": [1]}, {"x": {"a": 1}}) == [fc("x", {"a": 1}, [1])]


def test_arrays_compare_by_position_and_element_undeclared_keys_are_ignored():
    desired = {"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]}
    live = {
        "messages": [{"role": "system", "content": "a", "id": 1}, {"role": "user", "content": "c", "x": 2}]
    }
    assert diff(desired, live) == [fc("messages[1].content", "c", "b")]


def test_arrays_of_different_length_are_one_change():
    desired = {"messages": [{"role": "system"}]}
    live = {"messages": [{"role": "system"}, {"role": "user"}]}
    assert diff(desired, live) == [fc("messages", live["messages"], desired["messages"])]


def test_reordered_plain_arrays_differ():
    assert diff({"keywords": ["a", "b"]}, {"keywords": ["b", "a"]}) == [
        fc("keywords[0]", "b", "a"),
        fc("keywords[1]", "a", "b"),
    ]


def test_set_paths_compare_as_multisets():
    desired = {"model": {"toolIds": ["a", "b", "c"]}, "assistantIds": ["x", "x"]}
    assert (
        diff(desired, {"model": {"toolIds": ["c", "a", "b"]}, "assistantIds": ["x", "x"]}, set_paths=SET)
        == []
    )
    assert diff(desired, {"model": {"toolIds": ["c", "a"]}, "assistantIds": ["x", "x"]}, set_paths=SET) == [
        fc("model.toolIds", ["c", "a"], ["a", "b", "c"])
    ]
    # Multiplicity counts.
    assert diff({"assistantIds": ["x", "x"]}, {"assistantIds": ["x", "y"]}, set_paths=SET) == [
        fc("assistantIds", ["x", "y"], ["x", "x"])
    ]


def test_set_path_patterns_with_wildcards():
    desired = {"members": [{"ids": ["a", "b"]}]}
    assert diff(desired, {"members": [{"ids": ["b", "a"]}]}, set_paths=["members[].ids"]) == []
    assert diff(desired, {"members": [{"ids": ["b", "a"]}]}) != []


def test_fields_sorted_by_path_with_numeric_indexes():
    desired = {"m": [{"c": str(i)} for i in range(12)], "a": 1}
    live = {"m": [{"c": "old"} for _ in range(12)], "a": 2}
    paths = [f.path for f in diff(desired, live)]
    assert paths == ["a"] + [f"m[{i}].c" for i in range(12)]


# -- rule 3: removed fields ----------------------------------------------------------------------


def test_a_field_declared_before_and_gone_now_is_removed_if_live_has_it():
    prior = {"firstMessage": "hi", "name": "n"}
    assert diff({"name": "n"}, {"name": "n", "firstMessage": "hi"}, prior) == [
        fc("firstMessage", "hi", ABSENT)
    ]


@pytest.mark.parametrize("live", [{"name": "n"}, {"name": "n", "firstMessage": None}])
def test_a_removed_field_the_live_object_lacks_is_no_change(live):
    assert diff({"name": "n"}, live, {"name": "n", "firstMessage": "hi"}) == []


def test_removed_nested_and_inside_equal_length_lists():
    prior = {
        "model": {
            "provider": "openai",
            "temperature": 0.2,
            "messages": [{"role": "system", "content": "x", "name": "sys"}],
        }
    }
    desired = {"model": {"provider": "openai", "messages": [{"role": "system", "content": "x"}]}}
    live = {
        "model": {
            "provider": "openai",
            "temperature": 0.2,
            "maxTokens": 5,
            "messages": [{"role": "system", "content": "x", "name": "sys"}],
        }
    }
    assert diff(desired, live, prior) == [
        fc("model.messages[0].name", "sys", ABSENT),
        fc("model.temperature", 0.2, ABSENT),
    ]


def test_removal_does_not_recurse_through_lists_of_different_length():
    prior = {"m": [{"a": 1, "b": 2}, {"a": 3}]}
    desired = {"m": [{"a": 1}]}
    live = {"m": [{"a": 1, "b": 2}, {"a": 3}]}
    assert diff(desired, live, prior) == [fc("m", live["m"], desired["m"])]


def test_undeclared_live_field_never_declared_is_not_removed():
    assert diff({"a": 1}, {"a": 1, "b": 2}, {"a": 1}) == []


# -- rule 4: ignore_changes ----------------------------------------------------------------------


def test_ignored_paths_are_not_diffed_and_not_removed():
    desired = {"voice": {"provider": "11labs", "voiceId": "mine"}}
    live = {"voice": {"provider": "11labs", "voiceId": "dashboard"}}
    prior = {"voice": {"provider": "11labs", "voiceId": "mine"}, "firstMessage": "x"}
    assert diff(desired, live, prior, ignore=["voice.voiceId", "firstMessage"]) == []
    # Without the ignore the same values differ.
    assert diff(desired, live) == [fc("voice.voiceId", "dashboard", "mine")]


def test_ignore_patterns_with_wildcards_and_trailing_indexes():
    desired = {"hooks": [{"on": "a", "do": [1]}, {"on": "b", "do": [2]}], "toolIds": ["x"]}
    live = {"hooks": [{"on": "a", "do": [9]}, {"on": "b", "do": [8]}], "toolIds": ["y", "z"]}
    assert diff(desired, live, ignore=["hooks[].do", "toolIds[]"]) == []
    assert ignore_patterns(["toolIds[]", "a.b[3]", "c"]) == (("toolIds",), ("a", "b"), ("c",))


def test_strip_ignored_returns_a_copy_without_the_keys():
    value = {"voice": {"voiceId": "v", "provider": "p"}, "x": 1}
    out = strip_ignored(value, ["voice.voiceId"])
    assert out == {"voice": {"provider": "p"}, "x": 1}
    assert value["voice"]["voiceId"] == "v"
    assert strip_ignored(value, []) is value


# -- rule 5: secrets -----------------------------------------------------------------------------

SECRET = "s3cr3t-token-value"


def _no_secret_in(changes):
    assert SECRET not in json.dumps([c.to_dict() for c in changes], default=str)


def test_secret_with_prior_hash_compares_by_hash_not_live():
    desired = {"server": {"url": "https://x", "headers": {"Authorization": SECRET}}}
    masked = {"server": {"url": "https://x", "headers": {"Authorization": "****"}}}
    prior_secrets = {"server.headers.Authorization": default_hash(SECRET)}
    sensitive = sensitive_paths(desired)
    assert sensitive == {("server", "headers", "Authorization")}
    assert diff(desired, masked, desired, sensitive=sensitive, prior_secrets=prior_secrets) == []
    changes = diff(
        {"server": {"url": "https://x", "headers": {"Authorization": "new-" + SECRET}}},
        masked,
        desired,
        sensitive=sensitive,
        prior_secrets=prior_secrets,
    )
    assert changes == [fc("server.headers.Authorization", SENSITIVE, SENSITIVE, True)]
    _no_secret_in(changes)


def test_secret_without_prior_hash_compares_with_live():
    desired = {"credentials": {"apiKey": SECRET}}
    sensitive = sensitive_paths(desired)
    assert sensitive == {("credentials", "apiKey")}
    assert diff(desired, {"credentials": {"apiKey": SECRET}}, sensitive=sensitive) == []
    assert diff(desired, {"credentials": {"apiKey": "other"}}, sensitive=sensitive) == [
        fc("credentials.apiKey", SENSITIVE, SENSITIVE, True)
    ]
    assert diff(desired, {}, sensitive=sensitive) == [fc("credentials.apiKey", ABSENT, SENSITIVE, True)]


def test_marked_secret_from_template_is_sensitive():
    desired = {"server": {"url": f"https://hooks/{SECRET}"}}
    sensitive = sensitive_paths(desired, [("server", "url"), ("not", "there")])
    assert sensitive == {("server", "url")}
    changes = diff(desired, {"server": {"url": "https://hooks/old"}}, sensitive=sensitive)
    assert changes == [fc("server.url", SENSITIVE, SENSITIVE, True)]


def test_a_secret_inside_a_whole_array_change_is_redacted_on_both_sides():
    desired = {"messages": [{"content": SECRET}]}
    live = {"messages": [{"content": "a", "role": "user"}, {"content": f"prefix {SECRET}"}, {"content": "b"}]}
    changes = diff(desired, live, sensitive={("messages", 0, "content")})
    assert len(changes) == 1 and changes[0].path == "messages"
    assert changes[0].after == [{"content": SENSITIVE}]
    # By path (the secret's position) and by value (the secret moved to another position).
    assert changes[0].before == [
        {"content": SENSITIVE, "role": "user"},
        {"content": SENSITIVE},
        {"content": "b"},
    ]
    _no_secret_in(changes)


def test_known_secret_fields_in_live_values_are_redacted():
    desired = {"server": {"url": "u"}}
    live = {"server": "not-an-object"}
    assert diff(desired, live) == [fc("server", "not-an-object", {"url": "u"})]
    live = {"x": {"token": SECRET}}
    changes = diff({"x": "flat"}, live)
    assert changes == [fc("x", {"token": SENSITIVE}, "flat")]


def test_a_removed_secret_is_shown_sensitive():
    prior = {"credentials": {"apiKey": default_hash(SECRET)}, "name": "n"}
    live = {"name": "n", "credentials": {"apiKey": SECRET}}
    changes = diff({"name": "n"}, live, prior, prior_secrets={"credentials.apiKey": default_hash(SECRET)})
    assert changes == [fc("credentials", {"apiKey": SENSITIVE}, ABSENT)]
    _no_secret_in(changes)


def test_sensitive_paths_stop_at_a_secret_object():
    value = {
        "credentials": [{"authPlan": 1, "apiKey": {"token": "t", "x": 1}}],
        "server": {"headers": {"A": "b"}},
    }
    assert sensitive_paths(value) == {("credentials", 0, "apiKey"), ("server", "headers", "A")}


def test_hash_secrets_replaces_values_by_hash_and_returns_them():
    value = {"server": {"headers": {"A": SECRET}}, "name": "n"}
    out, hashes = hash_secrets(value, [("server", "headers", "A")])
    assert out == {"server": {"headers": {"A": default_hash(SECRET)}}, "name": "n"}
    assert hashes == {"server.headers.A": default_hash(SECRET)}
    assert value["server"]["headers"]["A"] == SECRET
    assert default_hash(SECRET) != default_hash(SECRET + "x")
    assert SECRET not in default_hash(SECRET)


def test_hash_secrets_hashes_an_outer_secret_whole_and_shares_the_rest():
    value = {"credentials": {"apiKey": {"token": SECRET}}, "model": {"messages": [{"content": "c"}]}}
    out, hashes = hash_secrets(
        value, [("credentials", "apiKey", "token"), ("credentials", "apiKey"), ("gone",)]
    )
    digest = default_hash({"token": SECRET})
    assert out == {"credentials": {"apiKey": digest}, "model": {"messages": [{"content": "c"}]}}
    assert hashes == {"credentials.apiKey": digest}
    assert value["credentials"]["apiKey"] == {"token": SECRET}
    assert out["model"] is value["model"]
    assert hash_secrets(value, []) == (value, {})


# -- owned_equal ---------------------------------------------------------------------------------


def test_owned_equal_ignores_extra_keys_and_honours_sets_and_skips():
    body = {"name": "t", "model": {"toolIds": ["a", "b"]}, "server": {"headers": {"A": "hash"}}}
    live = {
        "id": "1",
        "name": "t",
        "model": {"toolIds": ["b", "a"], "temperature": 1},
        "server": {"headers": {"A": "other"}},
    }
    assert not owned_equal(body, live, set_paths=SET)
    masked = {**live, "server": {"headers": {"A": "****"}}}
    assert owned_equal(body, masked, set_paths=SET)  # a masked live value tells nothing: not a difference
    assert owned_equal(body, live, set_paths=SET, skip=[("server", "headers", "A")])
    assert not owned_equal(body, live, skip=[("server", "headers", "A")])  # order matters without set paths
    assert not owned_equal(dict(body, name="u"), live, set_paths=SET, skip=[("server", "headers", "A")])


# -- rule 6: the PATCH body ----------------------------------------------------------------------


def test_patch_sends_changed_top_level_keys_whole_keeping_undeclared_nested_settings():
    desired = {"model": {"provider": "openai", "model": "gpt-4.1"}, "firstMessage": "hi"}
    live = {
        "model": {"provider": "openai", "model": "gpt-4o", "temperature": 0.7},
        "firstMessage": "hi",
        "voice": {"provider": "vapi"},
    }
    changed = [("model", "model")]
    assert build_patch(desired, live, changed) == {
        "model": {"provider": "openai", "model": "gpt-4.1", "temperature": 0.7}
    }


def test_patch_merges_equal_length_lists_element_wise_and_replaces_others():
    live = {
        "model": {
            "messages": [{"role": "system", "content": "a", "name": "keep"}],
            "toolIds": ["x", "y"],
            "tools": [{"a": 1}, {"a": 2}],
        }
    }
    desired = {
        "model": {
            "messages": [{"role": "system", "content": "b"}],
            "toolIds": ["y", "z"],
            "tools": [{"a": 1}],
        }
    }
    body = build_patch(
        desired, live, [("model", "messages", 0, "content"), ("model", "toolIds")], set_paths=SET
    )
    assert body == {
        "model": {
            "messages": [{"role": "system", "content": "b", "name": "keep"}],
            "toolIds": ["y", "z"],
            "tools": [{"a": 1}],
        }
    }


def test_patch_sends_removed_top_level_key_as_null_and_drops_nested_removed():
    live = {"firstMessage": "hi", "model": {"provider": "openai", "temperature": 0.2, "maxTokens": 9}}
    desired = {"model": {"provider": "openai"}}
    body = build_patch(desired, live, [], [("firstMessage",), ("model", "temperature")])
    assert body == {"firstMessage": None, "model": {"provider": "openai", "maxTokens": 9}}


def test_patch_includes_required_keys_and_keeps_ignored_live_values():
    live = {
        "members": [{"assistantId": "a", "x": 1}],
        "name": "old",
        "voice": {"provider": "11labs", "voiceId": "dash", "speed": 1},
    }
    desired = {
        "members": [{"assistantId": "a"}],
        "name": "new",
        "voice": {"provider": "cartesia", "voiceId": "mine"},
    }
    body = build_patch(
        desired,
        live,
        [("name",), ("voice", "provider")],
        required=["members", "absent"],
        ignore=["voice.voiceId"],
    )
    assert body == {
        "members": [{"assistantId": "a", "x": 1}],
        "name": "new",
        "voice": {"provider": "cartesia", "voiceId": "dash", "speed": 1},
    }


def test_overlay_never_aliases_its_inputs():
    live = {"a": {"b": [1, {"c": 2}]}}
    desired = {"a": {"d": {"e": 1}}}
    out = overlay(live, desired)
    out["a"]["b"][1]["c"] = 99
    out["a"]["d"]["e"] = 99
    assert live == {"a": {"b": [1, {"c": 2}]}} and desired == {"a": {"d": {"e": 1}}}


def test_compare_returns_paths_alongside_changes():
    pairs = compare({"a": {"b.c": 1}}, {"a": {"b.c": 2}})
    assert pairs == [(("a", "b.c"), fc("a.b.c", 2, 1))]


# -- the walk's fast paths ----------------------------------------------------------------------

# (desired, live, prior, sensitive, prior secrets, expected changes). Every row is planned twice:
# as planning does, and with an unrelated skipped path, which turns the walk's shortcuts for equal
# scalars off (they would be wrong where a path compares specially). Both must give `expected`.
_HASHED = default_hash("old")
FAST_PATH_CASES = [
    ({"a": "x"}, {"a": "x"}, None, (), {}, []),
    ({"a": True}, {"a": 1}, None, (), {}, [fc("a", 1, True)]),
    ({"a": 1}, {"a": True}, None, (), {}, [fc("a", True, 1)]),
    ({"a": False}, {"a": 0}, None, (), {}, [fc("a", 0, False)]),
    ({"a": True}, {"a": True}, None, (), {}, []),
    ({"a": 1}, {"a": 1.0}, None, (), {}, []),
    ({"a": 1.5}, {"a": 1.5}, None, (), {}, []),
    ({"a": "1"}, {"a": 1}, None, (), {}, [fc("a", 1, "1")]),
    ({"a": "x"}, {"a": "****"}, None, (), {}, []),  # masked: nothing can be known
    ({"a": "****"}, {"a": "****"}, None, (), {}, []),
    ({"a": []}, {}, None, (), {}, []),
    ({"a": []}, {"a": None}, None, (), {}, []),
    ({"a": None}, {}, None, (), {}, []),
    ({"a": {}}, {}, None, (), {}, []),
    ({"a": [1, "x", True]}, {"a": [1.0, "x", True]}, None, (), {}, []),
    ({"a": [True, "x"]}, {"a": [1, "x"]}, None, (), {}, [fc("a[0]", 1, True)]),
    ({"m": {"t": 0.5, "n": "a"}}, {"m": {"t": 0.5, "n": "b", "x": 1}}, None, (), {}, [fc("m.n", "b", "a")]),
    # A secret equal to live still changes when its hash differs from the one state holds.
    (
        {"apiKey": "k"},
        {"apiKey": "k"},
        None,
        [("apiKey",)],
        {"apiKey": _HASHED},
        [fc("apiKey", SENSITIVE, SENSITIVE, True)],
    ),
    ({"apiKey": "old"}, {"apiKey": "****"}, None, [("apiKey",)], {"apiKey": _HASHED}, []),
    ({"apiKey": "k", "n": "a"}, {"apiKey": "k", "n": "a"}, None, [("apiKey",)], {}, []),
    (
        {"apiKey": "k", "n": "a"},
        {"apiKey": "j", "n": "b"},
        None,
        [("apiKey",)],
        {},
        [fc("apiKey", SENSITIVE, SENSITIVE, True), fc("n", "b", "a")],
    ),
    # Removals: what prior declared and desired no longer does, where live still has it.
    (
        {"b": {}},
        {"a": 1, "b": {"c": 1}},
        {"a": 1, "b": {"c": 1}},
        (),
        {},
        [fc("a", 1, ABSENT), fc("b.c", 1, ABSENT)],
    ),
    ({"l": [{}]}, {"l": [{"x": 1}]}, {"l": [{"x": 1}]}, (), {}, [fc("l[0].x", 1, ABSENT)]),
    ({"a": {"b": 1}}, {"a": {"b": 1}}, {"a": 1}, (), {}, []),
    ({"a": "x"}, {"a": "x", "z": 2}, {"a": "x", "z": 1}, (), {}, [fc("z", 2, ABSENT)]),
    ({"a": "x"}, {"a": "x"}, {"a": "x", "z": 1}, (), {}, []),
    ({"l": [1]}, {"l": [1, 2]}, {"l": [1, {"x": 1}]}, (), {}, [fc("l", [1, 2], [1])]),
]


@pytest.mark.parametrize(("desired", "live", "prior", "sensitive", "secrets", "expected"), FAST_PATH_CASES)
def test_the_walks_shortcuts_give_the_plan_of_the_full_rules(
    desired, live, prior, sensitive, secrets, expected
):
    def changes(skip):
        found = compare(desired, live, prior, sensitive=sensitive, prior_secrets=secrets, skip=skip)
        return [c for _, c in found]

    assert changes(()) == expected
    assert changes([("unrelated",)]) == expected


@pytest.mark.parametrize(
    "given",
    [
        ("model.toolIds[]", "voice.*"),
        ["model.toolIds[]", "voice.*"],
        (("model", "toolIds", "[]"), ("voice", "*")),
        (["model", "toolIds", 0], "voice.*"),  # unhashable inside: parsed without the cache
    ],
)
def test_ignore_patterns_read_alike_whatever_form_they_come_in(given):
    assert ignore_patterns(given) == (("model", "toolIds"), ("voice", "*"))
    found = compare({"model": {"toolIds": ["a"]}, "voice": {"id": "x"}, "n": 1}, {"n": 2}, ignore=given)
    assert [p for p, _ in found] == [("n",)]
    assert (
        compare(
            {"l": ["a", "b"]},
            {"l": ["b", "a"]},
            set_paths=given + ("l",) if isinstance(given, tuple) else [*given, "l"],
        )
        == []
    )
