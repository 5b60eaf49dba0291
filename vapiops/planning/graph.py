"""References between resources as a graph: which names a spec points at, cycles, and a safe order.

Everything here is deterministic (sorted tie-breaks), so the same input always gives the same plan.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from vapiops import paths
from vapiops.kinds import KINDS, FoundReferences, Kind
from vapiops.model import address
from vapiops.state import ResourceState

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: Any) -> bool:
    """A Vapi ID: a reference holding one points at a resource as it is, managed here or not."""
    return isinstance(value, str) and _UUID.match(value) is not None


def references(
    kind: Kind, spec: dict[str, Any], found: FoundReferences | None = None
) -> list[tuple[paths.Path, str]]:
    """(path in spec, target address) for every reference value that is a manifest name, not a UUID.
    `found`: kind.find_references(spec) when the caller has it already (one walk instead of two)."""
    out: list[tuple[paths.Path, str]] = []
    for ref, path, value in kind.find_references(spec) if found is None else found:
        if isinstance(value, str) and value and not is_uuid(value):
            out.append((path, address(ref.target, value)))
    return out


Owners = Mapping[str, tuple[str, str]]  # live ID -> (kind, manifest name) of a managed resource


def owners(
    resources: Mapping[str, ResourceState], live: Mapping[str, list[dict[str, Any]]] | None = None
) -> dict[str, tuple[str, str]]:
    """ID -> (kind, name) for the state entries `resources` (address -> entry).

    With `live` (kind -> listed objects), a kind other objects reference by another field
    (Kind.referenced_by: a pronunciation dictionary's provider ID) adds that field's value of each
    managed live object, so references holding it translate to names like IDs do."""
    found = {e.id: (e.kind, e.name) for e in resources.values() if e.id}
    for owner, value in _referenced_by(found, live or {}):
        found[value] = owner
    return found


def referenced_values(owner: Owners, live: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Address -> what references to it hold, for each live object `owner` names whose kind is
    referenced by another field than its ID (Kind.referenced_by: a dictionary's resourceId)."""
    return {address(*who): value for who, value in _referenced_by(owner, live)}


def _referenced_by(
    owner: Owners, live: Mapping[str, list[dict[str, Any]]]
) -> Iterator[tuple[tuple[str, str], str]]:
    """((kind, name), value of its Kind.referenced_by field) of each owned live object of a kind
    referenced by another field than id."""
    for kind_name, objects in live.items():
        field = KINDS[kind_name].referenced_by if kind_name in KINDS else "id"
        if field == "id":
            continue
        for obj in objects:
            who = owner.get(str(obj.get("id"))) if isinstance(obj, dict) else None
            value = obj.get(field) if who is not None else None
            if who is not None and who[0] == kind_name and isinstance(value, str) and value:
                yield who, value


def names_literals(target_kind: str) -> bool:
    """Whether a reference to this kind may hold a literal that names no manifest (the provider's own
    ID of an object made elsewhere), sent as written: its kind is referenced by another field than id."""
    return target_kind in KINDS and KINDS[target_kind].referenced_by != "id"


def to_names(
    kind: Kind, obj: dict[str, Any], owner: Owners, found: FoundReferences | None = None
) -> tuple[dict[str, Any], list[tuple[paths.Path, str]]]:
    """obj with every reference ID `owner` knows, for a target of the right kind, replaced by its name.

    This is how live objects enter "name space", where plans and `diff` compare them with manifests.
    Returns the translated value (obj itself when nothing changes; obj is never mutated; only the
    objects and lists on a translated path are copied, the rest is shared with obj) and the
    (path, target address) of every translated reference. Other IDs stay: they point outside.
    `found`: kind.find_references(obj), when the caller has it; translated values are written
    into it, so it then describes the returned value.
    """
    hits: list[tuple[paths.Path, str, str]] = []  # (path, name, target address)
    refs = kind.find_references(obj) if found is None else found
    for i, (ref, path, value) in enumerate(refs):
        target = owner.get(value) if isinstance(value, str) else None
        if target is not None and target[0] == ref.target:
            hits.append((path, target[1], address(ref.target, target[1])))
            refs[i] = (ref, path, target[1])
    if not hits:
        return obj, []
    out = paths.with_values(obj, [(path, name) for path, name, _ in hits])
    return out, [(path, target) for path, _, target in hits]


def strongly_connected(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of a directed graph (edge (a, b): a points at b).

    Each component is sorted; the components are sorted by their first node. A node on no cycle is
    a component of its own. Iterative Tarjan, so a long chain cannot hit Python's recursion limit.
    """
    graph = _adjacency(nodes, edges)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        # Each frame: a node and an iterator over its (sorted) successors.
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components, key=lambda c: c[0])


def topo_order(
    nodes: Iterable[str], edges: Iterable[tuple[str, str]], *, key: Callable[[str], Any] | None = None
) -> list[str]:
    """Nodes ordered so that for every edge (a, b), a comes before b.

    Among nodes that are ready at the same time the smallest by `key` (default: the node) comes
    first. Raises ValueError naming the nodes left on a cycle.
    """
    sort_key: Callable[[str], Any] = key or (lambda n: n)
    graph = _adjacency(nodes, edges)
    waiting = {n: 0 for n in graph}
    for n in graph:
        for m in graph[n]:
            waiting[m] += 1
    ready = [(sort_key(n), i, n) for i, n in enumerate(sorted(graph, key=sort_key)) if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    position = {n: i for i, n in enumerate(sorted(graph, key=sort_key))}
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for m in graph[node]:
            waiting[m] -= 1
            if waiting[m] == 0:
                heapq.heappush(ready, (sort_key(m), position[m], m))
    if len(order) != len(graph):
        stuck = sorted((n for n in graph if waiting[n] > 0), key=sort_key)
        raise ValueError(f"dependency cycle among: {', '.join(map(str, stuck))}")
    return order


def _adjacency(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """node -> sorted distinct successors; nodes named only by an edge are included."""
    succ: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
        succ.setdefault(b, set())
    return {n: sorted(s) for n, s in succ.items()}
