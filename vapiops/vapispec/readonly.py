"""Fields the API only ever returns: what an export leaves out of a manifest (nothing else is left out).

Derived from the spec: the property names of every schema the managed kinds' responses reach, minus
those of every schema their request bodies reach (catalogue included). A live field in neither list
is one the spec does not know: it is kept, since the real API returned it and may need it back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from vapiops.kinds import KINDS
from vapiops.vapispec.loading import schemas, spec
from vapiops.vapispec.walk import REF_PREFIX, walk


def reached(doc: dict, roots: Iterable[dict]) -> list[str]:
    """The names of every component schema `roots` reach through $refs, sorted."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for node in walk(stack.pop()):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                name = ref.removeprefix(REF_PREFIX)
                if name not in seen:
                    seen.add(name)
                    stack.append(schemas(doc)[name])
    return sorted(seen)


def _bodies(doc: dict, *, requests: bool) -> list[dict]:
    out: list[dict] = []
    for kind in KINDS.values():
        for path in (kind.path, kind.path + "/{id}"):
            for method, op in doc["paths"].get(path, {}).items():
                if not isinstance(op, dict) or method not in ("get", "post", "patch"):
                    continue
                parts = (
                    [op.get("requestBody") or {}] if requests else list((op.get("responses") or {}).values())
                )
                for part in parts:
                    out += [m["schema"] for m in (part.get("content") or {}).values() if "schema" in m]
    return out


def _names(doc: dict, names: list[str], roots: list[dict]) -> set[str]:
    out: set[str] = set()
    for node in [*roots, *(schemas(doc)[n] for n in names)]:
        for sub in walk(node):
            if isinstance(sub.get("properties"), dict):
                out |= set(sub["properties"])
    return out


@functools.cache
def response_only_names() -> frozenset[str]:
    """Property names the kinds' responses have and none of their request bodies do (id, orgId, ...)."""
    doc = spec()
    requests, responses = _bodies(doc, requests=True), _bodies(doc, requests=False)
    written = _names(doc, reached(doc, requests), requests)
    returned = _names(doc, reached(doc, responses), responses)
    return frozenset(returned - written)
