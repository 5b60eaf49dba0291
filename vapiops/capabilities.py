"""The named capabilities a registry entry (kinds.Kind) combines: references, pins, external IDs,
server rules, uploads and attached sets. Types only; the registry's data lives in kinds.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from vapiops import paths


@dataclass(frozen=True)
class RefField:
    """A field holding the ID of another managed resource; manifests write its name instead."""

    pattern: str  # e.g. "model.toolIds[]" (an ID array) or "**.hooks[].do[].toolId" (one ID, any depth)
    target: str  # kind name of the referenced resource (with target_from: the first of its kinds)
    # The target's kind chosen by a sibling field: (sibling key, ((its value, kind name), ...)), e.g. a
    # suite's targetAssignments[].targetId is an assistant or a squad as its `targetType` says.
    # find_references reports each hit with `target` set to the chosen kind; an unknown value, none.
    target_from: tuple[str, tuple[tuple[str, str], ...]] | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        """Every kind this field may reference."""
        return tuple(k for _, k in self.target_from[1]) if self.target_from else (self.target,)

    def chosen(self, obj: Any, path: paths.Path) -> RefField | None:
        """This field as it applies at `path` of obj: itself, or (target_from) a copy whose target is
        the kind the sibling value names; None when the sibling names no kind."""
        if self.target_from is None:
            return self
        sibling, table = self.target_from
        value = paths.get(obj, (*path[:-1], sibling))
        kind = dict(table).get(value) if isinstance(value, str) else None
        return replace(self, target=kind, target_from=None) if kind is not None else None

    @property
    def is_array(self) -> bool:
        """An ID array (`...[]` last): compared as a set, elements added/removed individually."""
        return self.pattern.endswith("[]")


@dataclass(frozen=True)
class PinField:
    """Where another kind pins a version of this one (Vapi's versioning): while an object of kind
    `by` holds this one's ID at `pattern`, the API refuses to delete it with 409 `error`."""

    by: str  # kind name of the pinning resource
    pattern: str  # path in the pinning object holding the pinned ID, e.g. "model.toolRefs[].toolId"
    error: str  # Vapi's error code in the 409 body, e.g. "tool_pinned"


@dataclass(frozen=True)
class ExternalIdField:
    """An ID field deliberately not a reference: what it holds, and why no manifest names it.

    `vapi_id`: the value is a Vapi ID (a UUID; `validate` and the sandbox reject anything else);
    otherwise it is an identifier in a provider's namespace (a voice, an AWS key) and is not checked.
    """

    pattern: str
    holds: str
    reason: str
    vapi_id: bool = True


@dataclass(frozen=True)
class ServerRule:
    """A rule the real API enforces on create and PATCH beyond its published schemas (a 400), with its source.

    "minimum": every number at `pattern` is at least `bound`; "sum": the numbers at `pattern` inside
    each object at `scope` ("" = the body) add up to `bound`, checked only where the pattern's first
    key is present (a PATCH that does not send it is not judged).
    """

    pattern: str
    check: Literal["minimum", "sum"]
    bound: float
    source: str
    scope: str = ""


@dataclass(frozen=True)
class Upload:
    """The kind is created by a multipart/form-data upload of a local file, not a JSON body.

    The manifest's `path` names a file relative to the project root (include()'s rules, at most
    `max_bytes`); validate adds its sha256 (`hash`) and size (`size`, the field the API reports it
    in) to the desired spec. The POST sends the content as multipart part `part` (its filename the
    path's last component), the `form` fields as form fields (`json_form` ones JSON-encoded), nothing
    else; a field only the Update DTO has (`name`) is PATCHed right after. Content is immutable: the
    hash (kept in state: the API reports none) and the size are replace fields; the path itself is
    never compared (moving the file is no change).
    """

    path: str = "path"
    hash: str = "sha256"
    size: str = "bytes"
    part: str = "file"
    filename: str = "originalName"  # the live field holding the uploaded file's name
    form: tuple[str, ...] = ("purpose", "metadata")
    json_form: tuple[str, ...] = ("metadata",)
    max_bytes: int = 20 * 1024 * 1024

    @property
    def local(self) -> tuple[str, str]:
        """Fields only vapiops knows (never sent as such, absent from the live object)."""
        return (self.path, self.hash)

    def match_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """What a live object this body uploaded looks like (before its rename): the form fields, the
        size and the uploaded filename."""
        keep = {k: v for k, v in body.items() if k in self.form or k == self.size}
        path = body.get(self.path)
        if isinstance(path, str):
            keep[self.filename] = path.replace("\\", "/").rsplit("/", 1)[-1]
        return keep


@dataclass(frozen=True)
class AttachedSet:
    """A set of references kept through calls of their own, not the body: `field` (a list of `target`
    names in the manifest) is never sent; `{item}/{path}` lists the attached items (their target ID at
    `id_field`), POST `{item}/{path}` with `{id_field: ID}` attaches one, DELETE `{item}/{path}/{ID}`
    detaches one. List endpoints do not carry it: one GET per object that declares it."""

    field: str
    target: str
    path: str
    id_field: str
