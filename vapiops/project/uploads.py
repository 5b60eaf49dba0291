"""An uploaded kind's local file: `spec.path` checked as include() checks paths, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vapiops.capabilities import Upload
from vapiops.errors import TemplateError
from vapiops.kinds import Kind
from vapiops.project.includes import project_file


def fingerprint(upload: Upload, root: Path, spec: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(spec with the file's sha256 and size added, None), or (spec, the problem with `path`).

    The path is relative to the project root: never absolute, outside (`..`, a symlink out) or
    hidden, and the file at most `upload.max_bytes`; the content is read here only to hash it.
    """
    for computed in (upload.hash, upload.size):
        if computed in spec:
            return spec, f"`{computed}` is computed by vapiops from the file at `{upload.path}`: remove it"
    name = spec.get(upload.path)
    if not isinstance(name, str) or not name:
        return spec, f"`{upload.path}` names the file to upload, relative to the project root"
    try:
        target = project_file(root.resolve(), name, f"{upload.path} {name!r}")
    except TemplateError as exc:
        return spec, exc.message
    size = target.stat().st_size
    if size > upload.max_bytes:
        return spec, f"{upload.path} {name!r}: {size} bytes, more than the {upload.max_bytes} vapiops uploads"
    digest = hashlib.sha256()
    with target.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {**spec, upload.hash: digest.hexdigest(), upload.size: size}, None


def checkable(kind: Kind, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the body the Create DTO judges, the part the Update DTO judges) of a spec vapiops sends
    otherwise than as written: attached sets and the upload's local fields left out; an upload's
    content stands in as its part, its JSON form fields encoded, and its Update-only fields (name)
    judged by the Update DTO."""
    body = {k: v for k, v in spec.items() if k not in kind.unsent_fields}
    upload = kind.upload
    if upload is None:
        return body, {}
    body.pop(upload.size, None)
    later = {k: body.pop(k) for k in list(body) if k not in upload.form}
    for key in upload.json_form:
        if key in body and not isinstance(body[key], str):
            body[key] = json.dumps(body[key])
    body[upload.part] = "(the file's content)"
    return body, later
