"""Find manifest files, parse them with line numbers, and check their wrapper into Resource objects."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vapiops import kinds, paths
from vapiops.errors import Location, ManifestError, Problem, ValidationError, did_you_mean
from vapiops.model import Lifecycle, address

if TYPE_CHECKING:
    from vapiops.project.config import Project

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
WRAPPER_KEYS = ("kind", "name", "spec", "lifecycle", "environments", "overrides")
LIFECYCLE_KEYS = ("preventDestroy", "ignoreChanges")
CONFIG_FILE = "vapiops.yaml"
STATE_ROOT = ".vapiops"

# An anchor/alias "billion laughs" document is tiny on disk and huge once expanded; manifests come
# from pull requests, so cap how many extra nodes alias re-use may produce in one document.
MAX_ALIAS_EXPANSION = 10_000
MAX_DEPTH = 200  # far deeper than any real body (a JSON schema nests a few dozen levels at most)

# libyaml is much faster and gives the same nodes and marks; fall back to pure Python without it.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_scalars = yaml.constructor.SafeConstructor()


def _finite(number: float) -> float:
    if not math.isfinite(number):  # JSON has no .nan or .inf: the API could never receive them
        raise ValueError(number)
    return number


_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {
    _TAG + "str": lambda node: node.value,
    _TAG + "null": lambda node: None,
    _TAG + "bool": _scalars.construct_yaml_bool,
    _TAG + "int": _scalars.construct_yaml_int,
    _TAG + "float": lambda node: _finite(_scalars.construct_yaml_float(node)),
    # JSON has no dates: an unquoted 2024-01-01 stays the text the user wrote.
    _TAG + "timestamp": lambda node: node.value,
    # YAML 1.1 gives a bare `=` the "value" tag; scorecard comparators are written `comparator: =`.
    _TAG + "value": lambda node: node.value,
}


def describe_value(value: object) -> str:
    """'a mapping', 'a list', 'a string', ... for messages that say what was found instead."""
    if value is None:
        return "nothing (null)"
    named = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number"}
    return named.get(type(value), f"a {type(value).__name__}")


# ----------------------------------------------------------------------------------------------
# YAML with line numbers


class _Builder:
    """Turns one composed YAML document into plain values, recording the line of every path."""

    def __init__(self, filename: str):
        self.filename = filename
        self.lines: dict[tuple, int] = {}
        self.visits = 0
        self.distinct: set[int] = set()
        self.active: set[int] = set()  # nodes being built right now: an alias to one is a cycle

    def fail(self, node: yaml.Node, message: str) -> ManifestError:
        return ManifestError(message, where=Location(self.filename, node.start_mark.line + 1))

    def build(self, node: yaml.Node, path: tuple) -> Any:
        self.visits += 1
        self.distinct.add(id(node))
        if self.visits - len(self.distinct) > MAX_ALIAS_EXPANSION:
            raise self.fail(
                node, f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} extra nodes; refusing to load"
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            make = _SCALAR_TAGS.get(node.tag)
            if make is None:
                raise self.fail(node, f"unsupported YAML tag {node.tag!r} (only plain JSON values are allowed)")
            try:
                return make(node)
            except ValueError as exc:
                raise self.fail(node, f"invalid {node.tag.removeprefix(_TAG)} value {node.value!r}") from exc
        if len(path) + 1 > MAX_DEPTH:  # only aliases get here: _check_depth saw the written nesting
            raise self.fail(node, f"YAML nested more than {MAX_DEPTH} levels deep (through aliases)")
        if id(node) in self.active:
            raise self.fail(node, "recursive YAML alias (a value that contains itself)")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _TAG + "seq":
                    raise self.fail(node, f"unsupported YAML tag {node.tag!r} on a list")
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                if node.tag != _TAG + "map":
                    raise self.fail(node, f"unsupported YAML tag {node.tag!r} on a mapping")
                return self.build_mapping(node, path)
            raise self.fail(node, f"unsupported YAML node {type(node).__name__}")
        finally:
            self.active.discard(id(node))

    def build_mapping(self, node: yaml.MappingNode, path: tuple) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        explicit: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _TAG + "merge":
                # `<<: *base` (or a list of them): earlier sources win, explicit keys win over all.
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.fail(source, "a `<<` merge key needs a mapping (or a list of mappings)")
                    for k, v in self.build(source, path).items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "mapping keys must be plain strings")
            # Keys are JSON object keys: always the text as written (so `on:` or `200:` stay strings).
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.fail(key_node, f"duplicate key {key!r} (first at line {seen[key]}); keep only one")
            seen[key] = line
            self.lines[path + (key,)] = line  # the key's line, not its value's, locates the field
            explicit[key] = self.build(value_node, path + (key,))
        merged.update(explicit)
        return merged


def _check_depth(text: str, filename: str) -> None:
    """Refuse absurd nesting before composing: libyaml's composer recurses on the C stack and crashes."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ManifestError(f"YAML nested more than {MAX_DEPTH} levels deep", where=Location(filename, line))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load_yaml_with_lines(text: str, filename: str) -> list[tuple[Any, dict[tuple, int]]]:
    """Parse every document of a YAML text into (plain value, {path: line}); errors are located.

    Only JSON-compatible values come out (str, int, float, bool, None, list, dict with str keys).
    Empty documents are left out.
    Raises ManifestError with Location(filename, line) at the first problem.
    """
    out: list[tuple[Any, dict[tuple, int]]] = []
    try:
        _check_depth(text, filename)
        for root in yaml.compose_all(text, Loader=_Loader):
            builder = _Builder(filename)
            value = builder.build(root, ())
            if value is not None:  # an empty document (`---` alone, or only comments) holds nothing
                out.append((value, builder.lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ManifestError(f"invalid YAML: {_yaml_problem(exc, text)}", where=Location(filename, line)) from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ManifestError(f"invalid YAML: {exc.reason} (character {exc.character!r})",
                            where=Location(filename, line)) from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", where=Location(filename)) from exc
    except RecursionError as exc:
        raise ManifestError("invalid YAML: nested too deeply", where=Location(filename)) from exc
    return out


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str) -> str:
    """What the YAML parser found, in words a user can act on."""
    mark = exc.problem_mark
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        indent = line[: len(line) - len(line.lstrip())]
        if "\t" in indent or line[mark.column:mark.column + 1] == "\t":
            # libyaml only says "found character that cannot start any token".
            return "a tab character where YAML expects spaces (YAML indents with spaces only: replace the tab)"
    context = exc.context or ""
    if context and exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
        # An unclosed bracket or quote is reported where the file ends: say where it was opened.
        context += f" (started at line {exc.context_mark.line + 1})"
    return ", ".join(part for part in (context, exc.problem) if part)


def read_text(path: Path) -> str:
    """A manifest's text: UTF-8 (a BOM is dropped); ManifestError when it is not."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (byte {exc.start})") from exc


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
    lines: dict[tuple, int]  # ("spec", *path) / ("overrides", env, *path) -> line of that key/value

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
    for path in find_manifest_files(project):
        rel = _relative(project, path)
        try:
            if not path.resolve().is_relative_to(project.root):
                raise ManifestError("is a link to a file outside the project root; refusing to read it")
            documents = load_yaml_with_lines(read_text(path), rel)
        except ManifestError as exc:
            problems.append(Problem(exc.where or Location(rel), "", exc.message))
            continue
        for value, lines in documents:
            resource = _check_document(value, lines, rel, project, problems)
            if resource is None:
                continue
            earlier = first_seen.get(resource.address)
            if earlier is not None:
                problems.append(Problem(resource.where, "", f"duplicate address {resource.address}: "
                                        f"also defined at {earlier}"))
                continue
            first_seen[resource.address] = resource.where
            resources.append(resource)
    if problems:
        raise ValidationError(problems)
    return resources


def _check_document(doc: Any, lines: dict[tuple, int], file: str, project: Project,
                    problems: list[Problem]) -> Resource | None:
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
        problem(where, f"a manifest document must be a mapping with kind, name and spec, not {describe_value(doc)}")
        return None

    for key in doc:
        if key not in WRAPPER_KEYS:
            problem(at(key), f"unknown key {key!r}{did_you_mean(key, WRAPPER_KEYS)} "
                             f"(allowed: {', '.join(WRAPPER_KEYS)})")

    kind = doc.get("kind")
    if "kind" not in doc:
        problem(where, f"missing `kind` (one of: {', '.join(kinds.KINDS)})")
    elif not isinstance(kind, str) or kind not in kinds.KINDS:
        problem(at("kind"), f"unknown kind {kind!r}{did_you_mean(kind, kinds.KINDS)} "
                            f"(one of: {', '.join(kinds.KINDS)})")

    name = doc.get("name")
    if "name" not in doc:
        problem(where, "missing `name`")
    elif not isinstance(name, str):
        problem(at("name"), f"`name` must be a string, not {describe_value(name)} (quote it: name: \"{name}\")")
    elif not NAME_PATTERN.fullmatch(name):
        problem(at("name"), f"invalid name {name!r}: use letters, digits, '.', '_' and '-', "
                            "starting with a letter or digit")

    spec = doc.get("spec")
    if "spec" not in doc:
        problem(where, "missing `spec` (write `spec: {}` for an empty body)")
    elif not isinstance(spec, dict):
        problem(at("spec"), f"`spec` must be a mapping, not {describe_value(spec)}")

    lifecycle = _check_lifecycle(doc.get("lifecycle"), at, problem)
    environments = _check_environments(doc.get("environments"), at, problem, project)
    overrides = _check_overrides(doc.get("overrides"), at, problem, project)

    if len(problems) > before:
        return None
    assert isinstance(kind, str) and isinstance(name, str) and isinstance(spec, dict)
    return Resource(kind=kind, name=name, spec=spec, lifecycle=lifecycle, environments=environments,
                    overrides=overrides, where=where, lines=lines)


def _check_lifecycle(value: Any, at: Any, problem: Any) -> Lifecycle:
    if value is None:
        return Lifecycle()
    if not isinstance(value, dict):
        problem(at("lifecycle"), f"`lifecycle` must be a mapping, not {describe_value(value)}")
        return Lifecycle()
    for key in value:
        if key not in LIFECYCLE_KEYS:
            problem(at("lifecycle", key), f"unknown lifecycle key {key!r}{did_you_mean(key, LIFECYCLE_KEYS)} "
                                          f"(allowed: {', '.join(LIFECYCLE_KEYS)})")
    prevent = value.get("preventDestroy", False)
    if not isinstance(prevent, bool):
        problem(at("lifecycle", "preventDestroy"),
                f"`lifecycle.preventDestroy` must be true or false, not {describe_value(prevent)}")
        prevent = False
    ignore = value.get("ignoreChanges") or []
    if not isinstance(ignore, list):
        problem(at("lifecycle", "ignoreChanges"),
                f"`lifecycle.ignoreChanges` must be a list of field paths, not {describe_value(ignore)}")
        ignore = []
    good: list[str] = []
    for i, item in enumerate(ignore):
        if not isinstance(item, str) or not item.strip() or not paths.parse_path(item):
            problem(at("lifecycle", "ignoreChanges", i),
                    f"`lifecycle.ignoreChanges[{i}]` must be a field path such as voice.voiceId, not {item!r}")
        else:
            good.append(item)
    return Lifecycle(prevent_destroy=prevent, ignore_changes=tuple(good))


def _check_env_name(env: Any, location: Location, problem: Any, project: Project, what: str) -> bool:
    known = list(project.environments)
    if not isinstance(env, str) or env not in project.environments:
        problem(location, f"{what}: unknown environment {env!r}{did_you_mean(env, known)} "
                          f"(known: {', '.join(known)})")
        return False
    return True


def _check_environments(value: Any, at: Any, problem: Any, project: Project) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        problem(at("environments"), f"`environments` must be a list of environment names, not {describe_value(value)}")
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
        problem(at("overrides"), f"`overrides` must be a mapping of environment -> partial spec, "
                                 f"not {describe_value(value)}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for env, partial in value.items():
        if not _check_env_name(env, at("overrides", env), problem, project, "`overrides`"):
            continue
        if partial is None:
            continue
        if not isinstance(partial, dict):
            problem(at("overrides", env), f"`overrides.{env}` must be a mapping (a partial spec), "
                                          f"not {describe_value(partial)}")
            continue
        out[env] = partial
    return out
