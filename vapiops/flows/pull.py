"""`vapiops pull`: the live values of drifted declared fields written back into the files they came from.

The drift comes from the planner's drift report (planning/drift.py); this flow only decides, per
drifted field, which source holds it (the manifest's `spec`, its `overrides.<env>`, or an
`include()`d file) and edits that source round trip (project/writeback.py). A value a template
expression produces is never overwritten (a conflict); secrets and masked values are never written.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vapiops import fsio, paths
from vapiops.client import VapiClient
from vapiops.errors import Location
from vapiops.flows.context import Context
from vapiops.flows.planning import build_plan
from vapiops.kinds import get_kind
from vapiops.model import ABSENT, Action, FieldChange
from vapiops.planning.secrets import masked_paths, sensitive_paths
from vapiops.project.manifest import Resource, load_manifests
from vapiops.project.template import MARKER
from vapiops.project.writeback import YamlFile, anchored
from vapiops.state import State

# A value that is exactly one include() of a file: the file holds the value, byte for byte.
_INCLUDE_ALONE = re.compile(r"""\A\$\{\{\s*include\(\s*(["'])([^"'\\]+)\1\s*\)\s*\}\}\Z""")
_SHOWN_CHARS = 200


@dataclass
class Conflict:
    """A drifted field vapiops will not write: where it is written and what is live."""

    address: str
    path: str
    where: Location
    live: Any
    why: str

    def __str__(self) -> str:
        shown = "(absent)" if self.live is ABSENT else json.dumps(self.live, ensure_ascii=False)
        if len(shown) > _SHOWN_CHARS:
            shown = shown[: _SHOWN_CHARS - 3] + "..."
        return f"{self.where}: {self.address} {self.path}: {self.why}; live value: {shown}"


@dataclass
class PullResult:
    """What pull changed (file -> (old text, new text)), what it says about it, and its conflicts."""

    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    pulled: list[str] = field(default_factory=list)  # "address path -> file:line"
    notes: list[str] = field(default_factory=list)  # written into spec, not pulled (secret, mask, ...)
    conflicts: list[Conflict] = field(default_factory=list)

    def diff(self) -> str:
        """The unified diff of every file pull changes (what --dry-run prints)."""
        out: list[str] = []
        for name, (old, new) in sorted(self.files.items()):
            out.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
                )
            )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out
        )


def pull(ctx: Context, client: VapiClient, state: State, targets: Iterable[str] = ()) -> PullResult:
    """Compute every edit for the environment's drift; nothing is written (see `write`)."""
    ctx.desired()  # a project that does not validate is an error before any request
    resources = {r.address: r for r in load_manifests(ctx.project)}
    drift = build_plan(ctx, client, state, targets=targets, refresh_only=True).plan.drift
    wanted = set(targets)
    writer = _Writer(ctx, resources)
    for change in drift:
        if wanted and change.address not in wanted:
            continue
        resource = resources.get(change.address)
        if change.action is not Action.UPDATE:
            writer.result.notes.append(f"{change.address}: deleted outside vapiops; nothing to pull")
        elif resource is None:
            writer.result.notes.append(f"{change.address}: no manifest declares it any more; not pulled")
        else:
            for fc in change.fields:
                writer.field(resource, fc)
    return writer.finish()


def write(ctx: Context, result: PullResult) -> None:
    for name, (_old, new) in sorted(result.files.items()):
        fsio.atomic_write(ctx.project.root / name, new, what=name)


class _Writer:
    """Decides the source of each drifted field and edits it; collects the result."""

    def __init__(self, ctx: Context, resources: dict[str, Resource]):
        self.ctx = ctx
        self.env = ctx.env.name
        self.several_envs = len(ctx.project.environments) > 1
        self.result = PullResult()
        self.yaml: dict[str, YamlFile] = {}
        self.includes: dict[str, tuple[str, str]] = {}  # file -> (new text, who wrote it)

    def field(self, res: Resource, fc: FieldChange) -> None:
        path = paths.parse_path(fc.path)
        live = fc.after
        if fc.sensitive:
            self.result.notes.append(f"{res.address} {fc.path}: a secret changed; secrets are never pulled")
            return
        if live is not ABSENT and masked_paths(live):
            self.result.notes.append(f"{res.address} {fc.path}: the API returns it masked; not pulled")
            return
        if live is not ABSENT and sensitive_paths(live) and isinstance(live, (dict, list)):
            self.result.notes.append(f"{res.address} {fc.path}: holds secrets; not pulled (edit by hand)")
            return
        override = res.overrides.get(self.env, {})
        owner = owning_layer(path, res.spec, override)
        if owner == "overrides":
            layer: tuple = ("overrides", self.env)
            raw_root: dict = override
            where = res.override_location(self.env, path)
        else:
            layer, raw_root, where = ("spec",), res.spec, res.location(path)
        if not paths.has(raw_root, path):
            kind = get_kind(res.kind)
            if owner == "spec" and path == (kind.name_field,) and live is not ABSENT:
                self._edit(res, layer + path, live, where, fc.path)
                return
            self.result.notes.append(
                f"{res.address} {fc.path}: not declared in the manifest any more (changed since the last "
                "apply); not pulled"
            )
            return
        raw = paths.get(raw_root, path)
        templated = _templated(raw)
        if templated is not None:
            match = _INCLUDE_ALONE.match(templated) if raw is templated else None
            if match is not None and isinstance(live, str):
                self._include(res, fc.path, match.group(2), live, where)
                return
            self.result.conflicts.append(
                Conflict(
                    res.address, fc.path, where, live, f"the value comes from the template {templated!r}"
                )
            )
            return
        if owner == "spec" and self.several_envs:
            self.result.notes.append(
                f"{res.address} {fc.path}: written into spec (every environment): overrides.{self.env} "
                "does not set it"
            )
        self._edit(res, layer + path, live, where, fc.path)

    def _include(self, res: Resource, shown: str, name: str, live: str, where: Location) -> None:
        earlier = self.includes.get(name)
        if earlier is not None and earlier[0] != live:
            self.result.conflicts.append(
                Conflict(
                    res.address,
                    shown,
                    where,
                    live,
                    f"{name} is also included by {earlier[1]}, whose live value differs",
                )
            )
            return
        self.includes[name] = (live, f"{res.address} {shown}")
        old = (self.ctx.project.root / name).read_bytes().decode("utf-8-sig")
        if old != live:
            self.result.files[name] = (old, live)
        self.result.pulled.append(f"{res.address} {shown} -> {name}")

    def _edit(self, res: Resource, full: tuple, live: Any, where: Location, shown: str) -> None:
        yf = self._file(res.where.file)
        doc = yf.document(res.kind, res.name)
        node: Any = doc
        for step in full[:-1]:
            node = node[step]
            name = anchored(node)
            if name is not None:
                self.result.conflicts.append(
                    Conflict(res.address, shown, where, live, f"it is shared through the YAML anchor &{name}")
                )
                return
        if isinstance(node, dict) and full[-1] in node and anchored(node[full[-1]]) is not None:
            name = anchored(node[full[-1]])
            self.result.conflicts.append(
                Conflict(res.address, shown, where, live, f"it is shared through the YAML anchor &{name}")
            )
            return
        if live is ABSENT or live is None:
            yf.delete(doc, full)
        else:
            yf.set(doc, full, live)
        self.result.pulled.append(f"{res.address} {shown} -> {where}")

    def _file(self, name: str) -> YamlFile:
        if name not in self.yaml:
            text = (self.ctx.project.root / name).read_bytes().decode("utf-8-sig")
            self.yaml[name] = YamlFile(name, text)
        return self.yaml[name]

    def finish(self) -> PullResult:
        for name, yf in self.yaml.items():
            new = yf.text()
            if new != yf.original:
                self.result.files[name] = (yf.original, new)
        return self.result


def owning_layer(path: tuple, spec: dict, override: dict) -> str:
    """'overrides' when the environment's override sets the value at path (or replaces an ancestor)."""
    for end in range(len(path) + 1):
        prefix = path[:end]
        if not paths.has(override, prefix):
            return "spec"
        if end == len(path) or not isinstance(paths.get(override, prefix), dict):
            return "overrides"
        if not isinstance(paths.get(spec, prefix), dict) and end > 0:
            return "overrides"
    return "spec"


def _templated(value: Any) -> str | None:
    """The first template string in value (the value itself when it is one), or None."""
    if isinstance(value, str):
        return value if MARKER in value else None
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        found = _templated(child)
        if found is not None:
            return found
    return None
