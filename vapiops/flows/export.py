"""Bootstrap a project from a live org (`vapiops export`): live objects become manifests, references names.

Layout: one file per resource, `<out>/<kind>/<name>.yaml` (default out: `resources/exported` in the
project), so a large org gives reviewable files and a pull request touches only what changed.

Each object becomes one manifest:

- `name`: the object's display name slugified to [a-z0-9][a-z0-9._-]* (lower case, accents folded),
  deduplicated per kind with -2, -3 (oldest object first, case-insensitively so files never collide,
  and never a name state or another manifest already uses); no display name: `<kind>-<short id>`.
- `spec`: the object minus read-only fields, null fields, fields the Create DTO does not accept, and
  (unless keep_defaults) fields equal to the schema default Vapi documents; reference IDs of exported
  or already managed objects replaced by their names (other IDs stay: they point outside the project).
- secret fields (kinds.is_secret_path), and any other value the API returned masked
  (planning.secrets.is_mask: "****", "sk-1****"), become `${{ secret('VAPIOPS_<KIND>_<NAME>_<FIELD>') }}`;
  their values, and masks, are never written. Literal `${{`, `${%`, `${#` in strings are escaped so the template engine
  gives back exactly the text Vapi holds.
- an object with no name whose kind would get the manifest name sent as `name` (docs/manifests.md) gets
  `lifecycle.ignoreChanges: [name]`: the first plan then shows no change instead of naming it.

Objects state already manages are skipped (their manifests exist). So that the exported objects are
managed, `adopt` records them in state as `vapiops import` would.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from vapiops import fsio, paths, vapispec
from vapiops.errors import StateError, VapiopsError
from vapiops.kinds import KINDS, Kind
from vapiops.model import address
from vapiops.paths import Path as JsonPath
from vapiops.paths import copy_json, format_path
from vapiops.planning.diff import path_key, scalar_equal
from vapiops.planning.graph import is_uuid, to_names
from vapiops.planning.secrets import masked_paths, sensitive_paths
from vapiops.project.config import Project
from vapiops.state import ResourceState, State

NAME_MAX = 64  # a name is also a file name: keep it short enough for any filesystem and a terminal
SHORT_ID = 8
DEFAULT_OUT = PurePosixPath("resources/exported")
# Kept when looking for defaults: they choose the schema branch (model provider, tool type), so
# dropping them would make the defaults of every other field unknowable.
_BRANCH_KEYS = frozenset({"type", "provider"})
_TEMPLATE_OPENER = re.compile(r"\$\{[{%#]")


@dataclass
class Exported:
    """One live object as a manifest."""

    kind: str
    name: str
    id: str
    spec: dict[str, Any]
    secrets: list[str] = field(default_factory=list)  # environment variables its secret() calls read
    dropped: list[str] = field(default_factory=list)  # fields left out: read-only (the API only returns them)
    unnamed: bool = False  # no name in Vapi: the manifest ignores `name` rather than set one
    local_file: str | None = None  # an upload's path: the content is not exported, the user puts it there

    @property
    def address(self) -> str:
        return address(self.kind, self.name)

    @property
    def path(self) -> PurePosixPath:
        """The manifest file, relative to the output directory."""
        return PurePosixPath(self.kind) / f"{self.name}.yaml"

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "name": self.name, "spec": self.spec}
        name_field = KINDS[self.kind].name_field
        if self.unnamed and name_field:
            doc["lifecycle"] = {"ignoreChanges": [name_field]}
        return doc


# -- names ------------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """'Acme Support (EU)' -> 'acme-support-eu'; '' when nothing usable is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_text.lower())
    slug = re.sub(r"([._-])[._-]+", r"\1", slug)
    return slug[:NAME_MAX].strip("._-")


def fallback_name(kind: Kind, obj_id: str) -> str:
    return f"{kind.name}-{re.sub(r'[^a-z0-9]', '', obj_id.lower())[:SHORT_ID] or 'unknown'}"


def _created_order(obj: dict[str, Any]) -> tuple[str, str]:
    return str(obj.get("createdAt") or ""), str(obj.get("id") or "")


def choose_names(kind: Kind, objects: Iterable[dict[str, Any]], taken: set[str]) -> dict[str, str]:
    """id -> manifest name for objects of one kind. `taken` holds lower-cased names already in use
    (it is updated). The oldest object keeps the plain name."""
    names: dict[str, str] = {}
    for obj in sorted(objects, key=_created_order):
        obj_id = str(obj["id"])
        display = kind.display_name(obj)
        base = slugify(display) if display else ""
        if not base or is_uuid(base):  # a UUID-looking name would be read as an unmanaged ID
            base = fallback_name(kind, obj_id)
        name, n = base, 2
        while name.lower() in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name.lower())
        names[obj_id] = name
    return names


# -- spec -------------------------------------------------------------------------------------


def escape_template(text: str) -> str:
    """Text the template engine renders back to itself: each `${{`, `${%`, `${#` becomes `${{ '${{' }}`."""
    return _TEMPLATE_OPENER.sub(lambda m: "${{ '" + m.group() + "' }}", text)


def _escape_all(value: Any) -> Any:
    if isinstance(value, str):
        return escape_template(value)
    if isinstance(value, dict):
        return {k: _escape_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_all(v) for v in value]
    return value


def drop_nulls(value: Any) -> Any:
    """A copy without null object fields (a null equals an absent field; DTOs reject most nulls)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def drop_read_only(kind: Kind, spec: dict[str, Any], allow_extra: Iterable[str] = ()) -> list[str]:
    """Remove (in place) every read-only field the Create DTO does not accept; returns their dotted paths.

    A read answer carries response-only fields (sent back in a create they would be a 400): the
    kind's read-only fields, as the PATCH filter knows them (`vapispec.read_only_fields`). Every
    other field is kept, known to the spec or not, so a promotion loses nothing the live org holds;
    `validate` then names the unknown ones.
    """
    read_only = vapispec.read_only_fields(kind)
    found = [
        i.path
        for i in vapispec.check(kind, spec, allow_extra=allow_extra)
        if i.unknown_property in read_only and paths.has(spec, i.path)
    ]
    for p in sorted(set(found), key=len, reverse=True):
        paths.delete(spec, p)
    return sorted({format_path(p) for p in found})


def _default_candidates(kind: Kind, value: Any, at: JsonPath = ()) -> list[JsonPath]:
    """Paths of scalar object fields that may hold a default (branch-choosing keys excluded)."""
    out: list[JsonPath] = []
    if isinstance(value, dict):
        for k, v in value.items():
            p = at + (k,)
            if isinstance(v, (dict, list)):
                out += _default_candidates(kind, v, p)
            elif k not in _BRANCH_KEYS and p != (kind.discriminator,):
                out.append(p)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _default_candidates(kind, v, at + (i,))
    return out


def _without(spec: dict[str, Any], dropped: Iterable[JsonPath], *, prune: bool = True) -> dict[str, Any]:
    """spec minus the dropped object fields and (prune) minus objects that lost every field that way."""
    out = copy_json(spec)
    for p in dropped:
        paths.delete(out, p)  # object keys only: no list index shifts
    if prune:
        _prune_emptied(out, spec)
    return out


def _prune_emptied(value: Any, original: Any) -> None:
    if isinstance(value, dict) and isinstance(original, dict):
        for k in list(value):
            _prune_emptied(value[k], original.get(k))
            if value[k] == {} and original.get(k) != {}:
                del value[k]
    elif isinstance(value, list) and isinstance(original, list):
        for v, o in zip(value, original, strict=False):
            _prune_emptied(v, o)


def drop_defaults(kind: Kind, spec: dict[str, Any], allow_extra: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of spec without the fields equal to the default Vapi's schema documents for them.

    A field is a default when apply_defaults, given the object without it (everything else kept, so
    the same schema branch applies), puts back an equal value. Candidates are first tested together,
    then re-tested until the set is stable. A removal that breaks the schema (a required field that
    has a default) is undone.
    """
    dropped = set(_default_candidates(kind, spec))
    while dropped:
        # Emptied objects stay while testing: apply_defaults fills only objects that are present.
        filled = vapispec.apply_defaults(kind, _without(spec, dropped, prune=False))
        kept = {
            p
            for p in dropped
            if paths.has(filled, p) and scalar_equal(paths.get(filled, p), paths.get(spec, p))
        }
        if kept == dropped:
            break
        dropped = kept
    extra = tuple(allow_extra)
    baseline = set(vapispec.check(kind, spec, allow_extra=extra))
    while True:
        result = _without(spec, dropped)
        new = [i for i in vapispec.check(kind, result, allow_extra=extra) if i not in baseline]
        restore = {p for p in dropped for i in new if p[: len(i.path)] == i.path}
        if not new or not restore:
            return result
        dropped -= restore


def secret_variable(kind: str, name: str, path: JsonPath) -> str:
    """VAPIOPS_<KIND>_<NAME>_<FIELD>, e.g. VAPIOPS_TOOL_LOOKUP_ORDER_SERVER_HEADERS_AUTHORIZATION."""
    text = "_".join(("VAPIOPS", kind, name, format_path(path)))
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def _string_leaves(value: Any, at: JsonPath) -> list[tuple[JsonPath, str]]:
    if isinstance(value, str):
        return [(at, value)] if value else []  # an empty secret is no secret
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _string_leaves(v, at + (k,))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _string_leaves(v, at + (i,))]
    return []  # a number or a flag inside an auth plan is no secret, and its type must survive


def replace_secrets(kind: str, name: str, spec: dict[str, Any], used: set[str]) -> list[str]:
    """Put a secret() placeholder (in place) at every string of every secret field and at every
    masked value elsewhere (a mask is not the value: exported, it would be written back over the
    secret); returns the variable names (unique within `used`, which is updated)."""
    names: list[str] = []
    known = sensitive_paths(spec)
    masked = [p for p in masked_paths(spec) if not any(p[: len(s)] == s for s in known)]
    for p in sorted({*known, *masked}, key=path_key):
        for leaf_path, _ in _string_leaves(paths.get(spec, p), p):
            base = variable = secret_variable(kind, name, leaf_path)
            n = 2
            while variable in used:
                variable, n = f"{base}_{n}", n + 1
            used.add(variable)
            names.append(variable)
            paths.set_(spec, leaf_path, f"${{{{ secret('{variable}') }}}}")
    return names


# -- the export -------------------------------------------------------------------------------


def export_objects(
    live: Mapping[str, list[dict[str, Any]]],
    *,
    managed: Mapping[str, tuple[str, str]] | None = None,
    taken: Iterable[str] = (),
    allow_fields: Mapping[str, Iterable[str]] | None = None,
    keep_defaults: bool = False,
) -> list[Exported]:
    """Every live object not in `managed` as a manifest, in registry order, then by name.

    live: kind name -> live objects as listed. managed: id -> (kind, name) of objects state manages
    (skipped; references to them become their names). taken: addresses already in use (state, other
    manifests). allow_fields: kind -> extra top-level fields the project allows.
    """
    managed = managed or {}
    allow_fields = allow_fields or {}
    used: dict[str, set[str]] = {k: set() for k in KINDS}
    for addr in taken:
        kind_name, _, name = addr.partition("/")
        used.setdefault(kind_name, set()).add(name.lower())
    owner: dict[str, tuple[str, str]] = dict(managed)
    todo: list[tuple[Kind, dict[str, Any], str]] = []
    for kind in KINDS.values():
        objects = [
            o
            for o in live.get(kind.name, [])
            if isinstance(o, dict) and o.get("id") and str(o["id"]) not in managed
        ]
        for obj_id, name in choose_names(kind, objects, used[kind.name]).items():
            owner[obj_id] = (kind.name, name)
        for o in objects if kind.referenced_by != "id" else []:
            if isinstance(o.get(kind.referenced_by), str):  # what references to it hold
                owner[o[kind.referenced_by]] = owner[str(o["id"])]
        todo += [(kind, o, owner[str(o["id"])][1]) for o in objects]
    secret_names: set[str] = set()
    out: list[Exported] = []
    for kind, obj, name in todo:
        extra = tuple(allow_fields.get(kind.name, ()))
        spec = drop_nulls({k: v for k, v in obj.items() if k not in kind.read_only})
        if not keep_defaults:
            # First: a default the server filled from the wrong alternative of an anyOf can make
            # a valid field look unknown.
            spec = drop_defaults(kind, spec, extra)
        dropped = drop_read_only(kind, spec, extra)
        spec = _escape_all(to_names(kind, spec, owner)[0])
        local_file = None
        if kind.upload is not None:
            # Vapi serves no download of what was uploaded: the manifest names where the user puts it.
            uploaded = obj.get(kind.upload.filename) or obj.get("name") or name
            local_file = f"files/{slugify(str(uploaded).rsplit('.', 1)[0]) or name}"
            suffix = PurePosixPath(str(uploaded)).suffix
            local_file += suffix if suffix.isascii() and suffix[1:].isalnum() else ""
            spec = {kind.upload.path: local_file, **spec}
        secrets = replace_secrets(kind.name, name, spec, secret_names)
        unnamed = bool(
            kind.name_field and kind.name_field not in spec and vapispec.accepts(kind, spec, kind.name_field)
        )
        out.append(Exported(kind.name, name, str(obj["id"]), spec, secrets, dropped, unnamed, local_file))
    return sorted(out, key=lambda e: (list(KINDS).index(e.kind), e.name))


# -- files ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key, and prompts as literal `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


# YAML line breaks besides \n: in a plain, single-quoted or block scalar a reader folds them into
# a line break or a space, so a text holding one is written double-quoted, where they are escapes.
_YAML_BREAKS = ("\x85", "\u2028", "\u2029", "\r")


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style by itself when a literal block cannot hold the text.
    if any(b in text for b in _YAML_BREAKS):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    style = "|" if "\n" in text.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def render_manifest(item: Exported, env: str) -> str:
    """One manifest file's text: a comment saying where it came from, then the document."""
    lines = [f"# Exported by vapiops from environment {env!r}: {item.kind} {item.id}."]
    if item.unnamed:
        lines.append("# It has no name in Vapi: lifecycle.ignoreChanges keeps vapiops from setting one.")
    if item.secrets:
        lines.append(f"# Secrets are read from environment variables: {', '.join(item.secrets)}.")
    if item.dropped:
        lines.append(f"# Left out (Vapi's create body does not accept them): {', '.join(item.dropped)}.")
    body = yaml.dump(item.document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
    return "\n".join(lines) + "\n" + body


def manifest_files(exported: Iterable[Exported], env: str) -> dict[PurePosixPath, str]:
    """Relative file path -> text, one file per resource."""
    return {e.path: render_manifest(e, env) for e in exported}


def default_out_dir(project: Project) -> Path:
    """`resources/exported` in the project, or `exported` in the first manifest root when the
    project's manifests live elsewhere (so plan always reads what export wrote)."""
    candidate = project.root / DEFAULT_OUT
    if any(candidate.is_relative_to(r) for r in project.resource_roots):
        return candidate
    return project.resource_roots[0] / "exported"


def write_manifests(out_dir: Path, files: Mapping[PurePosixPath, str], *, force: bool = False) -> list[Path]:
    """Write every file under out_dir; refuses (writing nothing) if any exists, unless force."""
    targets = {out_dir / rel: text for rel, text in files.items()}
    existing = sorted(str(t) for t in targets if t.exists())
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise VapiopsError(
            f"{len(existing)} file(s) already exist: {shown}",
            hint="pass --force to overwrite them, or choose another --out",
        )
    for target, text in targets.items():
        fsio.atomic_write(target, text, what="manifest")
    return sorted(targets)


def check_adoptable(state: State, exported: Iterable[Exported]) -> None:
    """StateError when an address or an ID is already in state (adopting would manage it twice)."""
    for e in exported:
        if e.address in state.resources:
            raise StateError(
                f"{e.address} is already managed (id {state.resources[e.address].id})",
                hint="use `vapiops state rm` first, or export without --adopt",
            )
        other = state.address_of_id(e.id)
        if other:
            raise StateError(f"{e.id} is already managed as {other}", hint="export without --adopt")


def adopt(state: State, exported: Iterable[Exported]) -> None:
    """Record the exported objects in state as `vapiops import` does: managed from now on, with
    nothing yet known to be owned (the next apply records what the manifests declare)."""
    exported = list(exported)
    check_adoptable(state, exported)
    for e in exported:
        state.resources[e.address] = ResourceState(kind=e.kind, name=e.name, id=e.id, applied={}, secrets={})
