"""The sandbox's uploads (multipart POST of an uploaded kind) and attached sets (attach, detach, list).

Driven by the registry (Kind.upload, Kind.attached_sets), as the rest of the sandbox: nothing here
names a kind. Uploaded content is not kept, only what the real API reports of it (size, filename,
mimetype).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import uuid
from typing import Any

from vapiops import vapispec
from vapiops.capabilities import AttachedSet
from vapiops.kinds import KINDS, Kind
from vapiops.sandbox.store import Store

FILE_STATUS = "done"  # uploads are processed at once here
ATTACHED_STATUS = "ready"


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any] | None, bool]:
    """A multipart/form-data body as {field: text, file field: {filename, contentType, content}};
    (None, False) when it is not one."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    except (ValueError, TypeError):
        return None, False
    if not message.is_multipart():
        return None, False
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None, False
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            out[name] = {"filename": filename, "contentType": part.get_content_type(), "content": content}
        else:
            out[name] = content.decode("utf-8", "replace")
    return out, True


def upload(
    kind: Kind, body: Any, org: str, store: Store, allowed: tuple[str, ...]
) -> tuple[dict | None, list[str]]:
    """(the object a multipart POST creates, []) or (None, the 400's messages)."""
    spec = kind.upload
    assert spec is not None
    if not isinstance(body, dict) or not isinstance(body.get(spec.part), dict):
        return None, [f"{spec.part} should not be empty (send multipart/form-data with a `{spec.part}` part)"]
    part = body[spec.part]
    fields = {k: v for k, v in body.items() if k != spec.part}
    checked = {**fields, spec.part: "(content)"}
    problems = [i.message for i in vapispec.check(kind, checked, allow_extra=allowed)]
    metadata = None
    for key in spec.json_form:
        if key in fields:
            try:
                metadata = json.loads(fields[key])
            except ValueError:
                problems.append(f"{key} must be a JSON string")
    if problems:
        return None, problems
    now = store.now()
    obj: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "orgId": org,
        "object": kind.name,
        "name": part["filename"][:40],
        spec.filename: part["filename"],
        spec.size: len(part["content"]),
        "mimetype": part["contentType"],
        # An upload without a purpose is listed under the first value the list query takes (docs/sandbox.md).
        **{k: fields.get(k, v) for k, v in (kind.list_queries[:1] or ({},))[0].items()},
        "status": FILE_STATUS,
        "url": f"https://sandbox.invalid{kind.path}/{part['filename']}",
        "createdAt": now,
        "updatedAt": now,
    }
    if metadata is not None:
        obj["metadata"] = metadata
    store.put(org, kind.name, obj)
    return obj, []


def list_problems(kind: Kind, query: dict[str, Any]) -> list[str]:
    """The list query parameters the kind requires (Kind.list_queries) that are missing."""
    required = {name for q in kind.list_queries for name in q}
    return [f"{name} should not be empty" for name in sorted(required) if not query.get(name)]


def list_filter(kind: Kind, query: dict[str, Any]) -> dict[str, str]:
    """{field: value} a listing of this kind is filtered by (its required list query parameters)."""
    required = {name for q in kind.list_queries for name in q}
    return {name: str(query[name]) for name in required if name in query}


def collection(kind: Kind, aset: AttachedSet) -> str:
    """The store's collection of one attached set's links."""
    return f"{kind.name}:{aset.field}"


def sub_route(by_path: dict[str, Kind], path: str) -> tuple[Kind, AttachedSet, str, str | None] | None:
    """(kind, attached set, object id, target id or None) for `{item}/{set path}[/{target}]`."""
    parts = path.rstrip("/").split("/")
    for cut in (3, 2):  # `.../{id}/file` or `.../{id}/file/{fileId}`
        if len(parts) <= cut:
            continue
        base, id_, rest = "/".join(parts[:-cut]), parts[-cut], parts[-cut + 1 :]
        kind = by_path.get(base)
        if kind is None or not id_:
            continue
        for aset in kind.attached_sets:
            if rest[0] == aset.path and (len(rest) == 1 or rest[1]):
                return kind, aset, id_, rest[1] if len(rest) == 2 else None
    return None


def attached(store: Store, org: str, kind: Kind, aset: AttachedSet, id_: str) -> list[dict[str, Any]]:
    links = [x for x in store.collection(org, collection(kind, aset)) if x["objectId"] == id_]
    return [
        {k: v for k, v in x.items() if k != "objectId"} for x in sorted(links, key=lambda x: x["createdAt"])
    ]


def handle_attached(
    store: Store, org: str, method: str, route: tuple[Kind, AttachedSet, str, str | None], body: Any
) -> tuple[int, Any]:
    """(status, body) for a list, attach or detach of one attached set."""
    kind, aset, id_, target = route
    if store.get(org, kind.name, id_) is None:
        return 404, f"Couldn't find {kind.name} {id_}"
    links = attached(store, org, kind, aset, id_)
    if method == "GET" and target is None:
        return 200, links
    if method == "POST" and target is None:
        wanted = body.get(aset.id_field) if isinstance(body, dict) else None
        if not isinstance(wanted, str) or not wanted:
            return 400, f"{aset.id_field} must be a UUID"
        found = store.get(org, aset.target, wanted)
        if found is None:
            return 404, f"Couldn't find {aset.target} {wanted}"
        if any(x[aset.id_field] == wanted for x in links):
            return 409, f"{aset.target} {wanted} is already attached"
        now = store.now()
        link = {
            "id": str(uuid.uuid4()),
            "objectId": id_,
            aset.id_field: wanted,
            "fileName": found.get("name"),
            "mimetype": found.get("mimetype"),
            "bytes": found.get("bytes"),
            "status": ATTACHED_STATUS,
            "createdAt": now,
            "updatedAt": now,
        }
        store.put(org, collection(kind, aset), link)
        return 201, {k: v for k, v in link.items() if k != "objectId"}
    if method == "DELETE" and target is not None:
        for x in store.collection(org, collection(kind, aset)):
            if x["objectId"] == id_ and x[aset.id_field] == target:
                store.remove(org, collection(kind, aset), x["id"])
                return 200, {k: v for k, v in x.items() if k != "objectId"}
        return 404, f"{aset.target} {target} is not attached to {kind.name} {id_}"
    return 404, None


def forget_links(store: Store, org: str, kind: Kind, id_: str) -> None:
    """After a delete: the links of the deleted object, and the links to it, are gone too."""
    for owner in KINDS.values():
        for aset in owner.attached_sets:
            for x in store.collection(org, collection(owner, aset)):
                if (owner is kind and x["objectId"] == id_) or (
                    aset.target == kind.name and x[aset.id_field] == id_
                ):
                    store.remove(org, collection(owner, aset), x["id"])
