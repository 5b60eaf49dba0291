"""Write the JSON Schemas editors use to check manifests: schemas/<kind>.schema.json and manifest.schema.json.

Usage: python scripts/build_schemas.py [OUT_DIR]   (default: schemas/ at the repository root)

Each kind's schema describes a whole manifest document; its `spec` is the kind's Create DTO from
Vapi's repaired spec (vapiops.apispec) with every component it needs inlined under `$defs`. Output
is deterministic (sorted keys), so tests can regenerate it and compare. Draft 7, the draft editors
(VS Code YAML, JetBrains) support best.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vapiops import paths, vapispec
from vapiops.kinds import KINDS, Kind

OUT = Path(__file__).resolve().parent.parent / "schemas"
DRAFT = "http://json-schema.org/draft-07/schema#"
NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_DESCRIPTION = 300  # longer ones (whole prompts in Vapi's docs) are cut: they bloat the files


def kind_schema(kind: Kind) -> dict:
    """The schema of one manifest document of this kind."""
    if kind.discriminator:
        roots = sorted(
            {
                vapispec.dto_name(kind, {kind.discriminator: v}) or ""
                for v in vapispec.discriminator_values(kind)
            }
            - {""}
        )
        spec_schema: dict = {"anyOf": [{"$ref": f"#/$defs/{name}"} for name in roots]}
    else:
        roots = [kind.create_dto]
        spec_schema = {"$ref": f"#/$defs/{kind.create_dto}"}
    defs = vapispec.bundle(roots)
    for name in roots:
        required = defs[name].get("required")
        if kind.name_field and required and kind.name_field in required:
            # vapiops sends the manifest `name` when the spec has none.
            defs[name]["required"] = [r for r in required if r != kind.name_field]
            if not defs[name]["required"]:
                del defs[name]["required"]
    _local_fields(kind, defs)
    for ref in kind.body_references:
        _plain_string(defs, spec_schema, ref.pattern)
    doc = {
        "$schema": DRAFT,
        "title": f"vapiops {kind.name} manifest",
        "description": f"A vapiops manifest document of kind {kind.name}; `spec` is the body of "
        f"POST {kind.path} (generated from Vapi's OpenAPI spec by scripts/build_schemas.py).",
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "name"],
        # `spec` (vapiops writes it) or `lookup` (a live object found by name, never written).
        "oneOf": [{"required": ["spec"]}, {"required": ["lookup"]}],
        "properties": {
            "kind": {"const": kind.name},
            "name": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "description": "The address key: unique per kind.",
            },
            "spec": spec_schema,
            "lookup": {
                "type": "object",
                "description": "A live object vapiops references but never writes, found by its name.",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": {"type": "string", "minLength": 1}},
            },
            "lifecycle": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "preventDestroy": {"type": "boolean"},
                    "ignoreChanges": {"type": "array", "items": {"type": "string"}},
                },
            },
            "environments": {"type": "array", "items": {"type": "string"}},
            "overrides": {
                "type": "object",
                "description": "Per-environment partial spec, deep-merged over spec.",
                "additionalProperties": {"type": "object"},
            },
        },
        "$defs": defs,
    }
    _cut_descriptions(doc)
    return doc


def _local_fields(kind: Kind, defs: dict) -> None:
    """What a manifest writes that the Create DTO lacks: attached sets, an upload's path (not its content)."""
    root = defs.get(kind.create_dto)
    if root is None:
        return
    props = root.setdefault("properties", {})
    for aset in kind.attached_sets:
        props[aset.field] = {
            "type": "array",
            "items": {"type": "string"},
            "description": f"Names of {aset.target} manifests to keep attached (vapiops attaches and detaches them).",
        }
    upload = kind.upload
    if upload is not None:
        props.pop(upload.part, None)
        props[upload.path] = {
            "type": "string",
            "description": "The file to upload, relative to the project root.",
        }
        update = vapispec.bundle([kind.update_dto]).get(kind.update_dto, {})
        props.update(update.get("properties", {}))
        for key in upload.json_form:
            props[key] = {"type": "object", "description": "Sent JSON-encoded."}
        root["required"] = [upload.path]


def manifest_schema() -> dict:
    return {
        "$schema": DRAFT,
        "title": "vapiops manifest",
        "description": "Any vapiops manifest document; `kind` chooses the schema.",
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "anyOf": [{"$ref": f"{name}.schema.json"} for name in KINDS],
    }


def _sites(defs: dict, schema: dict, step: str) -> list[tuple[dict, str]]:
    """(container, key) pairs holding the subschema for one path step under `schema`."""
    found: list[tuple[dict, str]] = []

    def visit(node: dict, seen: frozenset[str]) -> None:
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            if name not in seen:
                visit(defs[name], seen | {name})
            return
        if step == paths.ANY_INDEX:
            if isinstance(node.get("items"), dict):
                found.append((node, "items"))
        elif step in (node.get("properties") or {}):
            found.append((node["properties"], step))
        for part in node.get("allOf") or []:
            visit(part.get("then", part), seen)
        for part in node.get("anyOf") or []:
            visit(part, seen)

    visit(schema, frozenset())
    return found


def _plain_string(defs: dict, spec_schema: dict, pattern: str) -> None:
    """Manifests write a resource's name in a reference field: its schema becomes a plain string.

    A pattern at any depth (`**.model.toolIds[]`) is applied from the root and from every
    definition, which is where the registry's nested reference fields live.
    """
    steps = paths.parse_path(pattern)
    if steps[:1] == (paths.ANY_DEPTH,):
        starts = [spec_schema, *defs.values()]
        found = sum(_plain_string_at(defs, start, steps[1:]) for start in starts)
    else:
        found = _plain_string_at(defs, spec_schema, steps)
    if not found:
        raise SystemExit(f"reference field {pattern!r} is not in Vapi's spec any more")


def _plain_string_at(defs: dict, start: dict, steps: paths.Path) -> int:
    """Make the field at `steps` below `start` a plain string; how many places that was (0: none)."""
    current = [start]
    for index, step in enumerate(steps):
        sites = [site for node in current for site in _sites(defs, node, str(step))]
        if not sites:
            return 0
        if index == len(steps) - 1:
            for container, key in sites:
                description = container[key].get("description")
                container[key] = {"type": "string", **({"description": description} if description else {})}
            return len(sites)
        current = [container[key] for container, key in sites]
    return 0


def _cut_descriptions(doc: dict) -> None:
    for node in vapispec.walk(doc):
        text = node.get("description")
        if isinstance(text, str) and len(text) > MAX_DESCRIPTION:
            node["description"] = text[: MAX_DESCRIPTION - 1].rsplit(" ", 1)[0] + "…"


def render(schema: dict) -> str:
    """Sorted-key JSON with each `$defs` entry compact on its own line: a third of the size of
    indenting everything, and a diff still shows which definitions a spec refresh changed."""
    head = json.dumps(
        {k: v for k, v in schema.items() if k != "$defs"}, indent=1, sort_keys=True, ensure_ascii=False
    )
    if "$defs" not in schema:
        return head + "\n"
    lines = [
        f"  {json.dumps(name)}: {json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(',', ':'))}"
        for name, body in sorted(schema["$defs"].items())
    ]
    # "$defs" sorts before every other key, so it opens the object.
    return '{\n "$defs": {\n' + ",\n".join(lines) + "\n },\n" + head[2:] + "\n"


def build() -> dict[str, str]:
    """File name -> text of every schema this script writes."""
    files = {f"{kind.name}.schema.json": render(kind_schema(kind)) for kind in KINDS.values()}
    files["manifest.schema.json"] = render(manifest_schema())
    return files


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build().items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    for path in write(out):
        print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
