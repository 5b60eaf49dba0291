"""Build vapiops/data/catalogue.json: request fields Vapi's newest official SDK has and the spec lacks.

Usage:
    pip download --no-deps vapi-server-sdk==3.0.0 -d /tmp/sdk
    python scripts/build_catalogue.py /tmp/sdk/vapi_server_sdk-3.0.0-py3-none-any.whl

The SDK (Fern-generated pydantic models under vapi/types/) is built from a newer API definition than
the published OpenAPI spec. Its source is read as data, statically with `ast`: nothing in it is
imported or run. For every schema that a managed kind's Create/Update DTO reaches in the vendored
spec, the SDK class of the same name (case and `_` ignored: OpenAiModel is OpenAIModel) is compared
with it, and each property only the SDK has is recorded with its JSON type and, for objects, the
spec schema it holds. Legacy fields that neither lists are kept by hand in legacy_fields.json.
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vapiops.kinds import KINDS  # noqa: E402
from vapiops.vapispec import raw_spec, schemas  # noqa: E402
from vapiops.vapispec.walk import REF_PREFIX, reached  # noqa: E402

OUT = ROOT / "vapiops" / "data" / "catalogue.json"
SCALARS = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}
# Field names the SDK generator copied out of JSON Schema keywords (FallbackAzureVoice.oneOf): not fields.
GENERATOR_ARTIFACTS = frozenset({"oneOf", "anyOf", "allOf"})


def norm(name: str) -> str:
    return name.replace("_", "").lower()


class Sdk:
    """The SDK's type modules, as annotations: classes (alias -> annotation) and module-level aliases."""

    def __init__(self, sources: dict[str, str]):
        self.classes: dict[str, dict[str, ast.expr]] = {}
        self.aliases: dict[str, ast.expr] = {}
        for text in sources.values():
            for node in ast.parse(text).body:
                if isinstance(node, ast.ClassDef):
                    self.classes[node.name] = dict(_fields(node))
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name) and target.id[:1].isupper():
                        self.aliases[target.id] = node.value
        self.by_norm = {norm(name): name for name in self.classes}

    def json_schema(self, ann: ast.expr, spec_names: dict[str, str], depth: int = 0) -> dict[str, Any]:
        """The JSON Schema an annotation describes, as far as a catalogue needs it (type, items, $ref)."""
        if depth > 8:
            return {}
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):  # a forward reference
            ann = ast.Name(ann.value)
        if isinstance(ann, ast.Subscript):
            head = _dotted(ann.value)
            args = list(ann.slice.elts) if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            if head in ("typing.Optional", "typing_extensions.Annotated", "typing.Annotated"):
                return self.json_schema(args[0], spec_names, depth + 1)
            if head in ("typing.List", "typing.Sequence", "typing.Set"):
                return {"type": "array", "items": self.json_schema(args[0], spec_names, depth + 1)}
            if head in ("typing.Dict", "typing.Mapping"):
                return {"type": "object"}
            if head == "typing.Literal":
                types = sorted({SCALARS.get(type(a.value).__name__, "string") for a in args})  # type: ignore[attr-defined]
                return {"type": types[0]} if len(types) == 1 else {}
            if head == "typing.Union":
                parts = [self.json_schema(a, spec_names, depth + 1) for a in args]
                types = {p.get("type") for p in parts if p}
                return {"type": types.pop()} if len(types) == 1 and None not in types else {}
            return {}
        name = _dotted(ann)
        if name in SCALARS:
            return {"type": SCALARS[name]}
        if name in spec_names.values() or norm(name) in spec_names:
            return {"$ref": REF_PREFIX + spec_names[norm(name)]}
        if name in self.classes:
            return {"type": "object"}
        if name in self.aliases:
            return self.json_schema(self.aliases[name], spec_names, depth + 1)
        return {}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _fields(cls: ast.ClassDef):
    """(wire name, annotation) of each field of a Fern model: the alias when there is one."""
    for stmt in cls.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        if stmt.target.id.startswith("_") or _dotted(stmt.annotation).startswith("typing.ClassVar"):
            continue
        alias = stmt.target.id
        for call in ast.walk(stmt.annotation):
            if isinstance(call, ast.Call) and _dotted(call.func) == "FieldMetadata":
                alias = next((k.value.value for k in call.keywords if k.arg == "alias"), alias)  # type: ignore[attr-defined]
        yield alias, stmt.annotation


def read_sdk(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: archive.read(name).decode()
            for name in archive.namelist()
            if name.startswith("vapi/types/") and name.endswith(".py")
        }


def reached_schemas(doc: dict) -> list[str]:
    """Every component schema the request bodies of the managed kinds reach, following $refs."""
    roots: list[dict] = []
    for kind in KINDS.values():
        for path, method in ((kind.path, "post"), (kind.path + "/{id}", "patch")):
            operation = doc["paths"].get(path, {}).get(method) or {}
            body = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json")
            if body is not None:  # a kind vapiops only looks up, or uploads as multipart, has none
                roots.append(body["schema"])
    return reached(doc, roots)


def build(wheel: Path) -> dict:
    sdk = Sdk(read_sdk(wheel))
    doc = raw_spec()  # the published spec, before the catalogue is merged into it
    spec_names = {norm(name): name for name in schemas(doc)}
    out: dict[str, dict] = {}
    for name in reached_schemas(doc):
        # The SDK inlines PATCH bodies (no UpdateXDto class): an Update DTO is compared with its Create DTO's class.
        sdk_class = sdk.by_norm.get(norm(name)) or sdk.by_norm.get(
            norm("Create" + name.removeprefix("Update"))
        )
        known = schemas(doc)[name].get("properties")
        if sdk_class is None or not isinstance(known, dict):
            continue
        extra = {
            prop: sdk.json_schema(ann, spec_names)
            for prop, ann in sdk.classes[sdk_class].items()
            if prop not in known and prop not in GENERATOR_ARTIFACTS
        }
        if extra:
            out[name] = dict(sorted(extra.items()))
    return {
        "source": f"{wheel.name} (vapi/types/, read with ast) compared with vapiops/data/openapi.json.gz",
        "schemas": out,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    catalogue = build(Path(argv[0]))
    OUT.write_text(json.dumps(catalogue, indent=1, sort_keys=False) + "\n")
    count = sum(len(props) for props in catalogue["schemas"].values())
    print(f"wrote {OUT.relative_to(ROOT)}: {count} fields in {len(catalogue['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
