"""The calls of kinds whose writes are not one JSON body: an upload's multipart POST, attached sets' attach/detach."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vapiops.client import VapiClient
from vapiops.errors import TemplateError, VapiopsError
from vapiops.kinds import Kind
from vapiops.project.includes import project_file


def json_part(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """The body without what is never sent in JSON (an upload's local fields, attached sets)."""
    return {k: v for k, v in body.items() if k not in kind.unsent_fields}


def upload(
    client: VapiClient,
    kind: Kind,
    body: dict[str, Any],
    root: Path,
    *,
    match: Callable[[dict], bool],
    started_at: str,
) -> dict[str, Any]:
    """Upload the file a create body names (Kind.upload), then PATCH what only the Update DTO takes
    (its name) when the response differs. The content must still hash as planned."""
    spec = kind.upload
    assert spec is not None
    name = str(body[spec.path])
    try:
        target = project_file(root.resolve(), name, f"{spec.path} {name!r}")
    except TemplateError as exc:
        raise VapiopsError(exc.message, hint="plan again") from None
    content = target.read_bytes()
    if hashlib.sha256(content).hexdigest() != body.get(spec.hash):
        raise VapiopsError(
            f"{spec.path} {name!r} changed since the plan was made; nothing was uploaded",
            hint="plan again (the plan shows the content's sha256)",
        )
    form = {
        k: json.dumps(v) if k in spec.json_form and not isinstance(v, str) else str(v)
        for k, v in body.items()
        if k in spec.form
    }
    filename = target.name
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    obj = client.upload(kind, form, (filename, content, mimetype), match=match, started_at=started_at)
    skip = {*spec.form, *kind.unsent_fields, spec.size}
    rename = {k: v for k, v in body.items() if k not in skip and obj.get(k) != v}
    if rename:
        obj = client.update(kind, str(obj["id"]), rename)
    return obj


def sync_attached(
    client: VapiClient, kind: Kind, obj_id: str, body: dict[str, Any], *, fresh: bool = False
) -> None:
    """Make each attached set the body carries equal to it: one GET of what is attached (none for
    an object just created, `fresh`), one POST per target to add, one DELETE per target to remove."""
    for aset in kind.attached_sets:
        if aset.field not in body:
            continue
        wanted = [str(x) for x in body[aset.field] or []]
        current = [] if fresh else client.attached(kind, obj_id, aset)
        for target in wanted:
            if target not in current:
                client.attach(kind, obj_id, aset, target)
        for target in current:
            if target not in wanted:
                client.detach(kind, obj_id, aset, target)
