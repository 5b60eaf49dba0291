"""Self-contained JSON Schemas (for editors): component schemas with every schema they reach."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from vapiops.vapispec.loading import schemas
from vapiops.vapispec.walk import REF_PREFIX, walk


def bundle(roots: Iterable[str]) -> dict[str, dict]:
    """Deep copies of the named component schemas and every schema they reach, with `$ref`s
    rewritten to `#/$defs/<name>`: the `$defs` of a self-contained JSON Schema."""
    found: dict[str, dict] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = copy.deepcopy(schemas()[name])
        for node in walk(found[name]):
            # A node shared by two places (a union case) is met twice: rewrite it once.
            if node.get("$ref", "").startswith(REF_PREFIX):
                target = node["$ref"].removeprefix(REF_PREFIX)
                node["$ref"] = "#/$defs/" + target
                todo.append(target)
    return dict(sorted(found.items()))
