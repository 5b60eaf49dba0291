"""graph.py: reference extraction, UUIDs, strongly connected components and deterministic order."""

from __future__ import annotations

import pytest

from vapiops.kinds import KINDS
from vapiops.planning.graph import is_uuid, references, strongly_connected, to_names, topo_order

UUID = "3f2b6c1e-8a4d-4c2b-9e7f-1a2b3c4d5e6f"


@pytest.mark.parametrize("value", [UUID, UUID.upper(), "00000000-0000-4000-8000-000000000000"])
def test_is_uuid_accepts_ids(value):
    assert is_uuid(value)


@pytest.mark.parametrize("value", ["lookup-order", UUID[:-1], UUID + "0", f" {UUID}", None, 42, [UUID], ""])
def test_is_uuid_rejects_names_and_non_strings(value):
    assert not is_uuid(value)


def test_references_lists_names_with_paths_and_skips_uuids():
    spec = {
        "model": {"toolIds": ["lookup", UUID, "end-call"]},
        "hooks": [{"do": [{"toolId": "transfer"}, {"type": "say"}]}],
        "compliancePlan": {"recordingConsentPlan": {"declineToolId": "decline"}},
        "artifactPlan": {"structuredOutputIds": ["outcome"], "scorecardIds": [UUID]},
    }
    refs = references(KINDS["assistant"], spec)
    assert sorted(refs) == sorted(
        [
            (("model", "toolIds", 0), "tool/lookup"),
            (("model", "toolIds", 2), "tool/end-call"),
            (("hooks", 0, "do", 0, "toolId"), "tool/transfer"),
            (("compliancePlan", "recordingConsentPlan", "declineToolId"), "tool/decline"),
            (("artifactPlan", "structuredOutputIds", 0), "structured-output/outcome"),
        ]
    )


def test_references_of_nested_squad_members():
    spec = {
        "members": [
            {"assistantId": "a", "assistantDestinations": [{"assistantId": "b"}]},
            {"assistantId": UUID},
        ]
    }
    assert references(KINDS["squad"], spec) == [
        (("members", 0, "assistantId"), "assistant/a"),
        (("members", 0, "assistantDestinations", 0, "assistantId"), "assistant/b"),
    ]


def test_references_ignore_non_string_and_empty_values():
    assert (
        references(
            KINDS["tool"], {"destinations": [{"assistantId": None}, {"assistantId": ""}, {"squadId": 3}]}
        )
        == []
    )


def test_strongly_connected_finds_cycles_and_singletons_sorted():
    edges = [("b", "a"), ("a", "b"), ("c", "a"), ("d", "d"), ("e", "f"), ("f", "g"), ("g", "e")]
    comps = strongly_connected(["a", "b", "c", "d", "e", "f", "g", "h"], edges)
    assert comps == [["a", "b"], ["c"], ["d"], ["e", "f", "g"], ["h"]]


def test_strongly_connected_is_deterministic_whatever_the_input_order():
    edges = [("x", "y"), ("y", "z"), ("z", "x"), ("q", "x")]
    one = strongly_connected(["z", "y", "x", "q"], edges)
    two = strongly_connected(["q", "x", "y", "z"], list(reversed(edges)))
    assert one == two == [["q"], ["x", "y", "z"]]


def test_strongly_connected_handles_a_long_chain_without_recursion():
    n = 20_000
    nodes = [f"n{i:05d}" for i in range(n)]
    edges = list(zip(nodes, nodes[1:], strict=False)) + [(nodes[-1], nodes[0])]
    (comp,) = strongly_connected(nodes, edges)
    assert len(comp) == n


def test_topo_order_respects_edges_and_breaks_ties_by_key():
    edges = [("create:b", "create:a"), ("create:c", "update:x")]
    nodes = ["update:x", "create:a", "create:b", "create:c", "delete:z"]
    assert topo_order(nodes, edges) == ["create:b", "create:a", "create:c", "delete:z", "update:x"]
    rank = {"create": 0, "update": 1, "delete": 2}
    order = topo_order(nodes, edges, key=lambda k: (rank[k.split(":")[0]], k))
    assert order == ["create:b", "create:a", "create:c", "update:x", "delete:z"]


def test_topo_order_includes_nodes_named_only_by_edges():
    assert topo_order([], [("a", "b")]) == ["a", "b"]


def test_topo_order_raises_on_a_cycle_naming_its_nodes():
    with pytest.raises(ValueError, match="a, b"):
        topo_order(["a", "b", "c"], [("a", "b"), ("b", "a"), ("c", "a")])


def test_to_names_translates_managed_ids_and_copies_only_the_paths_it_changes():
    other = "11111111-2222-3333-4444-555555555555"
    obj = {
        "model": {"toolIds": [UUID, other], "messages": [{"role": "system", "content": "long"}]},
        "voice": {"voiceId": "v"},
    }
    out, refs = to_names(KINDS["assistant"], obj, {UUID: ("tool", "lookup")})
    assert out == {
        "model": {"toolIds": ["lookup", other], "messages": [{"role": "system", "content": "long"}]},
        "voice": {"voiceId": "v"},
    }
    assert refs == [(("model", "toolIds", 0), "tool/lookup")]
    assert obj["model"]["toolIds"] == [UUID, other]  # never mutated
    assert out["voice"] is obj["voice"] and out["model"]["messages"] is obj["model"]["messages"]
    assert to_names(KINDS["assistant"], obj, {})[0] is obj  # nothing to translate: obj itself
