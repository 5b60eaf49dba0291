"""Find manifest files, parse them with line numbers, and check their wrapper into Resource objects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vapiops import kinds, paths
from vapiops.errors import Location, ManifestError, Problem, ValidationError, did_you_mean
from vapiops.model import NAME_PATTERN, Lifecycle, address
from vapiops.project import parsecache
from vapiops.project.config import CONFIG_FILE, Project
from vapiops.project.yamlload import (
    describe_value,
    read_text,
)

WRAPPER_KEYS = ("kind", "name", "spec", "lookup", "lifecycle", "environments", "overrides")
LIFECYCLE_KEYS = ("preventDestroy", "ignoreChanges")

# ----------------------------------------------------------------------------------------------
# Resources


@dataclass
class Resource:
    """One manifest document: kind, name, the raw (unrendered) spec and where it was written."""

    kind: str
    name: str
    spec: dict[str, Any]  # raw, unrendered (strings may hold ${{ }} templates)
    lifecycle: Lifecycle
    environments: tuple[str, ...] | None  # None = every environment
    overrides: dict[str, dict[str, Any]]  # env -> partial spec (raw)
    where: Location  # file (relative to the project root) and line of the document
    lines: Mapping[tuple, int]  # ("spec", *path) / ("overrides", env, *path) -> line of that key/value
    lookup: str | None = None  # a `lookup:` document: the live object's name, found per environment

    @property
    def address(self) -> str:
        return address(self.kind, self.name)

    def location(self, path: tuple = ()) -> Location:
        """Where spec path is written, or its nearest written ancestor, or the document."""
        return self._nearest(("spec",) + tuple(path))

    def override_location(self, env: str, path: tuple = ()) -> Location:
        return self._nearest(("overrides", env) + tuple(path))

    def _nearest(self, full: tuple) -> Location:
        for end in range(len(full), 0, -1):
            line = self.lines.get(full[:end])
            if line:
                return Location(self.where.file, line)
        return self.where


def _relative(project: Project, path: Path) -> str:
    try:
        return path.relative_to(project.root).as_posix()
    except ValueError:
        return path.as_posix()


def find_manifest_files(project: Project) -> list[Path]:
    """Every *.yaml/*.yml under the resource roots, sorted; hidden dirs, .vapiops and vapiops.yaml skipped."""
    found: set[Path] = set()
    config = project.root / CONFIG_FILE
    for top in project.resource_roots:
        for dirpath, dirnames, filenames in os.walk(top):
            # Pruning in place keeps os.walk out of .git, .vapiops and other hidden folders.
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith(".") or not filename.endswith((".yaml", ".yml")):
                    continue
                path = Path(dirpath) / filename
                if path != config:
                    found.add(path)
    return sorted(found, key=lambda p: _relative(project, p))


def load_manifests(project: Project) -> list[Resource]:
    """Load and check every manifest of the project; all problems are raised at once as ValidationError."""
    problems: list[Problem] = []
    resources: list[Resource] = []
    first_seen: dict[str, Location] = {}
    parsed = parsecache.ParsedFiles(project.root)
    for path in find_manifest_files(project):
        rel = _relative(project, path)
        try:
            if not path.resolve().is_relative_to(project.root):
                raise ManifestError("is a link to a file outside the project root; refusing to read it")
            documents = parsed.load(read_text(path), rel)
        except ManifestError as exc:
            problems.append(Problem(exc.where or Location(rel), "", exc.message))
            continue
        for value, lines in documents:
            resource = _check_document(value, lines, rel, project, problems)
            if resource is None:
                continue
            earlier = first_seen.get(resource.address)
            if earlier is not None:
                problems.append(
                    Problem(
                        resource.where, "", f"duplicate address {resource.address}: also defined at {earlier}"
                    )
                )
                continue
            first_seen[resource.address] = resource.where
            resources.append(resource)
    parsed.save()
    if problems:
        raise ValidationError(problems)
    return resources


def _check_document(
    doc: Any, lines: Mapping[tuple, int], file: str, project: Project, problems: list[Problem]
) -> Resource | None:
    """Check one document's wrapper; append what is wrong; the Resource when nothing is."""
    where = Location(file, lines.get((), 0))

    def at(*path: str | int) -> Location:
        for end in range(len(path), 0, -1):
            if path[:end] in lines:
                return Location(file, lines[path[:end]])
        return where

    before = len(problems)

    def problem(location: Location, message: str) -> None:
        problems.append(Problem(location, "", message))

    if not isinstance(doc, dict):
        problem(
            where,
            f"a manifest document must be a mapping with kind, name and spec, not {describe_value(doc)}",
        )
        return None

    for key in doc:
        if key not in WRAPPER_KEYS:
            problem(
                at(key),
                f"unknown key {key!r}{did_you_mean(key, WRAPPER_KEYS)} (allowed: {', '.join(WRAPPER_KEYS)})",
            )

    kind = doc.get("kind")
    if "kind" not in doc:
        problem(where, f"missing `kind` (one of: {', '.join(kinds.KINDS)})")
    elif not isinstance(kind, str) or kind not in kinds.KINDS:
        problem(
            at("kind"),
            f"unknown kind {kind!r}{did_you_mean(kind, kinds.KINDS)} (one of: {', '.join(kinds.KINDS)})",
        )

    name = doc.get("name")
    if "name" not in doc:
        problem(where, "missing `name`")
    elif not isinstance(name, str):
        problem(at("name"), f'`name` must be a string, not {describe_value(name)} (quote it: name: "{name}")')
    elif not NAME_PATTERN.fullmatch(name):
        problem(
            at("name"),
            f"invalid name {name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )

    spec = doc.get("spec")
    lookup = _check_lookup(doc, at, problem)
    if "spec" in doc and "lookup" in doc:
        problem(
            at("lookup"), "a document has `spec` (vapiops writes it) or `lookup` (it is only found), not both"
        )
    elif "lookup" in doc:
        spec = {}
    elif "spec" not in doc:
        problem(where, "missing `spec` (write `spec: {}` for an empty body, or `lookup: {name: ...}`)")
    elif not isinstance(spec, dict):
        problem(at("spec"), f"`spec` must be a mapping, not {describe_value(spec)}")
    elif isinstance(kind, str) and kind in kinds.KINDS and not kinds.KINDS[kind].writable:
        problem(
            at("spec"),
            f"vapiops cannot write a {kind} yet: reference a live one with `lookup: {{name: ...}}` instead of `spec`",
        )
    if lookup is not None and (doc.get("overrides") or doc.get("lifecycle")):
        problem(
            at("lookup"), "a `lookup` document takes no `overrides` or `lifecycle`: vapiops never writes it"
        )

    lifecycle = _check_lifecycle(doc.get("lifecycle"), at, problem)
    environments = _check_environments(doc.get("environments"), at, problem, project)
    overrides = _check_overrides(doc.get("overrides"), at, problem, project)

    if len(problems) > before:
        return None
    assert isinstance(kind, str) and isinstance(name, str) and isinstance(spec, dict)
    return Resource(
        kind=kind,
        name=name,
        spec=spec,
        lifecycle=lifecycle,
        environments=environments,
        overrides=overrides,
        where=where,
        lines=lines,
        lookup=lookup,
    )


def _check_lookup(doc: dict, at: Any, problem: Any) -> str | None:
    """The live name of a `lookup: {name: ...}` document; None (with a problem if malformed) otherwise."""
    if "lookup" not in doc:
        return None
    value = doc["lookup"]
    if not isinstance(value, dict) or set(value) != {"name"}:
        problem(at("lookup"), f"`lookup` must be a mapping with one key, name, not {describe_value(value)}")
        return None
    name = value["name"]
    if not isinstance(name, str) or not name.strip():
        problem(
            at("lookup", "name"), f"`lookup.name` must be the live object's name, not {describe_value(name)}"
        )
        return None
    return name


def _check_lifecycle(value: Any, at: Any, problem: Any) -> Lifecycle:
    if value is None:
        return Lifecycle()
    if not isinstance(value, dict):
        problem(at("lifecycle"), f"`lifecycle` must be a mapping, not {describe_value(value)}")
        return Lifecycle()
    for key in value:
        if key not in LIFECYCLE_KEYS:
            problem(
                at("lifecycle", key),
                f"unknown lifecycle key {key!r}{did_you_mean(key, LIFECYCLE_KEYS)} "
                f"(allowed: {', '.join(LIFECYCLE_KEYS)})",
            )
    prevent = value.get("preventDestroy", False)
    if not isinstance(prevent, bool):
        problem(
            at("lifecycle", "preventDestroy"),
            f"`lifecycle.preventDestroy` must be true or false, not {describe_value(prevent)}",
        )
        prevent = False
    ignore = value.get("ignoreChanges") or []
    if not isinstance(ignore, list):
        problem(
            at("lifecycle", "ignoreChanges"),
            f"`lifecycle.ignoreChanges` must be a list of field paths, not {describe_value(ignore)}",
        )
        ignore = []
    good: list[str] = []
    for i, item in enumerate(ignore):
        wrong = paths.path_syntax_error(item) if isinstance(item, str) else "is not a string"
        if wrong:
            problem(
                at("lifecycle", "ignoreChanges", i),
                f"`lifecycle.ignoreChanges[{i}]` must be a field path such as voice.voiceId or "
                f"model.messages[0].content; {item!r} {wrong}",
            )
        else:
            good.append(item)
    return Lifecycle(prevent_destroy=prevent, ignore_changes=tuple(good))


def _check_env_name(env: Any, location: Location, problem: Any, project: Project, what: str) -> bool:
    known = list(project.environments)
    if not isinstance(env, str) or env not in project.environments:
        problem(
            location,
            f"{what}: unknown environment {env!r}{did_you_mean(env, known)} (known: {', '.join(known)})",
        )
        return False
    return True


def _check_environments(value: Any, at: Any, problem: Any, project: Project) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        problem(
            at("environments"),
            f"`environments` must be a list of environment names, not {describe_value(value)}",
        )
        return None
    names: list[str] = []
    for i, env in enumerate(value):
        if _check_env_name(env, at("environments", i), problem, project, "`environments`"):
            names.append(env)
    return tuple(names)


def _check_overrides(value: Any, at: Any, problem: Any, project: Project) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem(
            at("overrides"),
            f"`overrides` must be a mapping of environment -> partial spec, not {describe_value(value)}",
        )
        return {}
    out: dict[str, dict[str, Any]] = {}
    for env, partial in value.items():
        if not _check_env_name(env, at("overrides", env), problem, project, "`overrides`"):
            continue
        if partial is None:
            continue
        if not isinstance(partial, dict):
            problem(
                at("overrides", env),
                f"`overrides.{env}` must be a mapping (a partial spec), not {describe_value(partial)}",
            )
            continue
        out[env] = partial
    return out
