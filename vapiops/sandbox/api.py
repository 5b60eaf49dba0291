"""Vapi's REST semantics over the store: routing, validation, defaults, PATCH rules and listing.

Pure request -> Response logic with no HTTP in it, driven entirely by the kind registry: nothing
here names a kind; every quirk (list shape, PATCH-required keys and query parameters, fields
PATCH cannot change, the discriminator choosing a DTO) comes from `vapiops.kinds`.
"""

from __future__ import annotations

import copy
import math
import operator
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

import vapiops.sandbox.fidelity as fidelity
import vapiops.sandbox.uploads as uploads
from vapiops import paths, vapispec
from vapiops.kinds import KINDS, Kind
from vapiops.planning.graph import is_uuid
from vapiops.sandbox.store import Store, parse_timestamp

MAX_LIMIT = 1000  # the real API's documented maximum `limit`; above it, capped silently
DEFAULT_LIMIT = 100  # its documented default
_TIME_FILTERS: dict[str, Callable[[datetime, datetime], bool]] = {
    "Gt": operator.gt,
    "Lt": operator.lt,
    "Ge": operator.ge,
    "Le": operator.le,
}

Query = dict[str, Any]  # parameter -> str, or list[str] when repeated


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str | list[str], headers: dict[str, str] | None = None) -> Response:
    """An error shaped as Vapi (NestJS) shapes them: message, error (the status phrase), statusCode."""
    phrase = HTTPStatus(status).phrase
    return Response(status, {"message": message, "error": phrase, "statusCode": status}, headers or {})


def issue_text(issue: vapispec.SchemaIssue) -> str:
    """One schema issue as Vapi (class-validator) words it.

    "model.temperature must not be greater than 2"; an unknown property is reported on its
    parent: "property foo should not exist" at the top, "model.property foo should not exist" inside.
    """
    if issue.unknown_property is not None:
        parent = issue.path[:-1] if issue.path[-1:] == (issue.unknown_property,) else issue.path
        prefix = paths.format_path(parent)
        return f"{prefix}.{issue.message}" if prefix else issue.message
    where = paths.format_path(issue.path)
    if not where or re.search(rf"(?<![\w.]){re.escape(where)}(?![\w])", issue.message):
        return issue.message  # the message names its field already ("unknown tool type ...")
    return f"{where} {issue.message}"


class _BadRequest(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


LIST_ORDERS = ("desc", "asc")  # the order array lists come in: newest or oldest first (docs/sandbox.md)


class Api:
    def __init__(
        self,
        store: Store,
        allow_fields: Mapping[str, Iterable[str]] | None = None,
        *,
        mask_secrets: bool = False,
        ignore_fields: Mapping[str, Iterable[str]] | None = None,
        list_order: str = "desc",
        page_cap: int = MAX_LIMIT,
    ):
        if not 1 <= page_cap <= MAX_LIMIT:
            raise ValueError(f"page_cap must be 1 to {MAX_LIMIT}, not {page_cap}")
        self.page_cap = page_cap  # the most a list answers, whatever `limit` asks: as a capping server
        if list_order not in LIST_ORDERS:
            raise ValueError(f"list_order must be one of {', '.join(LIST_ORDERS)}, not {list_order!r}")
        self.list_order = list_order
        unknown = sorted(set(allow_fields or {}) - set(KINDS))
        if unknown:
            raise ValueError(f"allow_fields names unknown kinds: {', '.join(unknown)}")
        self.store = store
        self.allow_fields = {name: tuple(fields) for name, fields in (allow_fields or {}).items()}
        self._by_path = {kind.path: kind for kind in KINDS.values() if not kind.path_params}
        # Kinds whose path holds parameters (Kind.path_params): matched by pattern, each value checked.
        self._templated = [(kind, _path_pattern(kind.path)) for kind in KINDS.values() if kind.path_params]
        self.mask_secrets = mask_secrets  # answer secret fields as "****", as the real API may
        # kind -> dotted paths accepted and silently not stored, as the real API does with some fields
        self.ignore_fields = {k: [paths.parse_path(p) for p in v] for k, v in (ignore_fields or {}).items()}

    def route(self, path: str) -> tuple[Kind, str | None, dict[str, str]] | None:
        """(kind, id or None, path parameters) for a collection or item path; None for any other path
        (a path parameter outside its allowed values included)."""
        path = path.rstrip("/") or "/"
        if path in self._by_path:
            return self._by_path[path], None, {}
        parent, _, id_ = path.rpartition("/")
        if parent in self._by_path and id_:
            return self._by_path[parent], id_, {}
        for kind, pattern in self._templated:
            match = pattern.match(path)
            if match is not None:
                params = {name: match.group(name) for name in kind.path_params}
                if all(params[name] in allowed for name, allowed in kind.path_params.items()):
                    return kind, match.group("_id"), params
        return None

    def routable(self, path: str) -> bool:
        """Whether the path is one this API serves (a collection, an item, or an attached set)."""
        return self.route(path) is not None or uploads.sub_route(self._by_path, path) is not None

    def handle(self, method: str, path: str, query: Query, body: Any, org: str) -> Response:
        """Answer one authenticated request for org `org`."""
        response = self._handle(method, path, query, body, org)
        routed = self.route(path)
        always = routed is not None and routed[0].secrets_masked  # a credential's secrets, always
        if (self.mask_secrets or always) and response.status < 300:
            response.body = fidelity.masked(response.body)
        return response

    def _handle(self, method: str, path: str, query: Query, body: Any, org: str) -> Response:
        routed = self.route(path)
        sub = uploads.sub_route(self._by_path, path) if routed is None else None
        if sub is not None:
            with self.store.lock:
                status, payload = uploads.handle_attached(self.store, org, method, sub, body)
            if status >= 400:
                return error(status, payload or f"Cannot {method} {path}")
            return Response(status, payload)
        if routed is None:
            return error(404, f"Cannot {method} {path}")
        kind, id_, params = routed
        try:
            with self.store.lock:  # one request at a time: a PATCH is a read-modify-write
                if id_ is None and method == "GET":
                    return self._list(kind, query, org, params)
                if id_ is None and method == "POST":
                    return self._create(kind, body, org, params)
                if id_ is not None and not self._in_collection(kind, id_, org, params):
                    return _not_found(kind, id_)
                if id_ is not None and method == "GET":
                    return self._found(
                        kind, id_, self._with_attached(kind, org, self.store.get(org, kind.name, id_))
                    )
                if id_ is not None and method == "PATCH":
                    return self._update(kind, id_, query, body, org)
                if id_ is not None and method == "DELETE":
                    return self._delete(kind, id_, org)
        except _BadRequest as exc:
            return error(400, exc.messages)
        return error(404, f"Cannot {method} {path}")

    # -- writes ---------------------------------------------------------------------------------

    def _in_collection(self, kind: Kind, id_: str, org: str, params: dict[str, str]) -> bool:
        """An object is served only under its own path parameters' collection (else a 404)."""
        if not params:
            return True
        stored = self.store.get(org, kind.name, id_)
        return stored is None or all(stored.get(name) == value for name, value in params.items())

    def _create(self, kind: Kind, body: Any, org: str, params: dict[str, str] | None = None) -> Response:
        if kind.upload is not None:
            made, problems = uploads.upload(kind, body, org, self.store, self.allow_fields.get(kind.name, ()))
            if made is None:
                raise _BadRequest(problems)
            return Response(201, made)
        # The path's parameters are the object's fields (a pronunciation dictionary's provider).
        body = {**_object_body(body), **(params or {})}
        self._validate(kind, body, update=False)
        body = self._ignored(kind, body)
        now = self.store.now()
        obj = {"id": str(uuid.uuid4()), "orgId": org, **vapispec.apply_defaults(kind, body)}
        if kind.referenced_by != "id":
            # The provider's own identifier of the object, in the provider's style: never a UUID.
            obj[kind.referenced_by] = uuid.uuid4().hex[:20]
        obj.update(createdAt=now, updatedAt=now)
        self.store.put(org, kind.name, obj)
        return Response(201, obj)

    def _update(self, kind: Kind, id_: str, query: Query, body: Any, org: str) -> Response:
        """PATCH: top-level keys replace wholesale; a key sent as null is removed.

        Null-as-removal is this sandbox's reading of what vapiops sends for a field no longer
        declared (docs/state.md); the result is re-defaulted like a create, so a removed field the
        server has a default for comes back with that default, as on the real API.
        """
        stored = self.store.get(org, kind.name, id_)
        if stored is None:
            return _not_found(kind, id_)
        problems = [f"query parameter {name} is required" for name in kind.patch_query if name not in query]
        body = _object_body(body)
        problems += [
            f"{key} should not be null or undefined" for key in kind.patch_required if body.get(key) is None
        ]
        if kind.override_flag is not None and _one(query, kind.override_flag[0]) != "true":
            name, guarded = kind.override_flag
            at = paths.parse_path(guarded)
            if paths.has(body, at[:1]) and paths.get(body, at) != paths.get(stored, at):
                problems.append(f"{guarded} can only be changed with {name}=true")
        problems += [
            f"{key} cannot be changed by PATCH (is {stored.get(key)!r}, got {body[key]!r}): "
            "create a new one instead"
            for key in kind.replace_fields
            if key in body and body[key] != stored.get(key)
        ]
        if problems:
            raise _BadRequest(problems)
        to_check = {key: value for key, value in body.items() if value is not None}  # nulls only remove
        if kind.discriminator and kind.discriminator not in to_check and kind.discriminator in stored:
            # The Update DTO is chosen by the discriminator, which a PATCH need not repeat.
            to_check[kind.discriminator] = stored[kind.discriminator]
        self._validate(kind, to_check, update=True)
        body = self._ignored(kind, body)

        merged = {key: value for key, value in stored.items() if key not in kind.read_only}
        for key, value in body.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        kept = {key: value for key, value in stored.items() if key in kind.read_only}
        obj = {**kept, **vapispec.apply_defaults(kind, merged), "updatedAt": self.store.now()}
        self.store.put(org, kind.name, obj)
        return Response(200, obj)

    def _ignored(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        """body without the fields this sandbox was told to accept and not store."""
        if not self.ignore_fields.get(kind.name):
            return body
        body = copy.deepcopy(body)
        for path in self.ignore_fields[kind.name]:
            if paths.has(body, path):
                paths.delete(body, path)
        return body

    def _delete(self, kind: Kind, id_: str, org: str) -> Response:
        """DELETE; 409 in Vapi's shape while another object pins a version of this one."""
        pinned = fidelity.pins(kind, id_, lambda name: self.store.collection(org, name))
        if pinned is not None:
            code, holders = pinned
            message = f"{kind.name} {id_} is pinned by {', '.join(holders)}; unpin it first"
            return Response(409, {"error": code, "message": message})
        removed = self.store.remove(org, kind.name, id_)
        if removed is not None:
            uploads.forget_links(self.store, org, kind, id_)
        return self._found(kind, id_, removed)

    def _with_attached(self, kind: Kind, org: str, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        """An object as GET of one item returns it: with its attached sets (list endpoints lack them)."""
        if obj is None:
            return None
        for aset in kind.attached_sets:
            obj[aset.field] = uploads.attached(self.store, org, kind, aset, obj["id"])
        return obj

    def _validate(self, kind: Kind, body: dict[str, Any], *, update: bool) -> None:
        allowed = self.allow_fields.get(kind.name, ())
        issues = [
            issue
            for issue in vapispec.check(kind, body, update=update, allow_extra=allowed)
            # allow_fields may name a nested field by its dotted path (model.serviceTier).
            if issue.unknown_property is None or paths.format_path(_unknown_path(issue)) not in allowed
        ]
        problems = [issue_text(issue) for issue in issues] + _id_problems(kind, body)
        problems += fidelity.rule_problems(kind, body)
        if problems:
            raise _BadRequest(problems)

    # -- reads ----------------------------------------------------------------------------------

    def _found(self, kind: Kind, id_: str, obj: dict[str, Any] | None) -> Response:
        return Response(200, obj) if obj is not None else _not_found(kind, id_)

    def _list(self, kind: Kind, query: Query, org: str, params: dict[str, str] | None = None) -> Response:
        limit = min(_limit(query), self.page_cap)
        missing = uploads.list_problems(kind, query)
        if missing:
            raise _BadRequest(missing)
        in_time, only = _time_filters(query), uploads.list_filter(kind, query)

        equal = tuple({**only, **(params or {})}.items())

        def keep(obj: dict[str, Any]) -> bool:
            if not in_time(obj):
                return False
            for key, value in equal:
                if obj.get(key) != value:
                    return False
            return True

        if kind.list_shape == "array":
            # Vapi documents no order and takes no sort parameter; either must be listed completely.
            _, items = self.store.select(
                org, kind.name, keep, _created_order, reverse=self.list_order == "desc", start=0, limit=limit
            )
            return Response(200, items)
        page = _page(query)
        order = _one(query, "sortOrder") or "DESC"
        if order not in ("ASC", "DESC"):
            raise _BadRequest(["sortOrder must be one of the following values: ASC, DESC"])
        start = (page - 1) * limit
        total, items = self.store.select(
            org, kind.name, keep, _created_order, reverse=order == "DESC", start=start, limit=limit
        )
        total_pages = math.ceil(total / limit) if limit else 0
        metadata = {
            "itemsPerPage": limit,
            "totalItems": total,
            "currentPage": page,
            "totalPages": total_pages,
            "hasNextPage": page < total_pages,
            "sortOrder": order,
        }
        return Response(200, {"results": items, "metadata": metadata})


def _path_pattern(template: str) -> re.Pattern[str]:
    """A collection path with `{name}` parameters as a regex matching it and its items (group `_id`)."""
    escaped = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{escaped}(?:/(?P<_id>[^/]+))?$")


def _unknown_path(issue: vapispec.SchemaIssue) -> paths.Path:
    if issue.path[-1:] == (issue.unknown_property,):
        return issue.path
    return (*issue.path, str(issue.unknown_property))


def _id_problems(kind: Kind, body: dict[str, Any]) -> list[str]:
    """A name where Vapi wants an ID is a 400, worded as class-validator words it for the real API:
    "model.each value in toolIds must be a UUID", "server.credentialId must be a UUID"."""
    places = [
        (path, value)
        for ref, path, value in kind.find_references(body)
        if KINDS[ref.target].referenced_by == "id"  # else the provider's own ID: not a Vapi one
    ]
    places += [(path, value) for ext, path, value in kind.find_external_ids(body) if ext.vapi_id]
    problems = []
    for path, value in places:
        if is_uuid(value):
            continue
        in_array = isinstance(path[-1], int)
        field_path = path[:-1] if in_array else path
        parent, name = paths.format_path(field_path[:-1]), str(field_path[-1])
        message = f"each value in {name} must be a UUID" if in_array else f"{name} must be a UUID"
        problem = f"{parent}.{message}" if parent else message
        if problem not in problems:
            problems.append(problem)
    return problems


def _not_found(kind: Kind, id_: str) -> Response:
    return error(404, f"Couldn't find {kind.name} {id_}")


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _BadRequest(["request body must be a JSON object"])
    return body


def _created_order(obj: dict[str, Any]) -> tuple[str, str]:
    # Timestamps share one format, so string order is time order; the id breaks (loaded) ties.
    return obj.get("createdAt", ""), obj.get("id", "")


def _one(query: Query, name: str) -> str | None:
    """A parameter's value; the last one when it is repeated."""
    value = query.get(name)
    return value[-1] if isinstance(value, list) else value


def _number(query: Query, name: str, default: int, minimum: int) -> int:
    text = _one(query, name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise _BadRequest([f"{name} must be a number conforming to the specified constraints"]) from None
    if not math.isfinite(value):
        raise _BadRequest([f"{name} must be a number conforming to the specified constraints"])
    if value < minimum:
        raise _BadRequest([f"{name} must not be less than {minimum}"])
    return int(value)


def _limit(query: Query) -> int:
    return min(_number(query, "limit", DEFAULT_LIMIT, 0), MAX_LIMIT)  # over the maximum: capped silently


def _page(query: Query) -> int:
    return _number(query, "page", 1, 1)


def _time_filters(query: Query) -> Callable[[dict[str, Any]], bool]:
    """A predicate for the createdAt*/updatedAt* Gt/Lt/Ge/Le parameters present in the query."""
    tests: list[tuple[str, Callable[[datetime, datetime], bool], datetime]] = []
    for field_name in ("createdAt", "updatedAt"):
        for suffix, compare in _TIME_FILTERS.items():
            name = field_name + suffix
            text = _one(query, name)
            if text is None:
                continue
            try:
                bound = parse_timestamp(text)
            except ValueError:
                raise _BadRequest([f"{name} must be a valid ISO 8601 date string"]) from None
            tests.append((field_name, compare, bound))

    def keep(obj: dict[str, Any]) -> bool:
        # A plain loop (no generator): every listing request runs this over every stored object.
        for field_name, compare, bound in tests:
            text = obj.get(field_name)
            if text is None or not compare(parse_timestamp(text), bound):
                return False
        return True

    return keep
