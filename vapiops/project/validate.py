"""Offline checks of rendered manifests: references by name and each spec against Vapi's DTO.

Turns resources into the planner's Desired values, collecting every problem of every file in one
ValidationError, so a user fixes them all in one pass and no request is ever sent for a bad project.
"""

from __future__ import annotations

import copy

from vapiops import paths, vapispec
from vapiops.errors import Problem, TemplateError, ValidationError, did_you_mean
from vapiops.kinds import KINDS, Kind
from vapiops.model import Desired, address
from vapiops.planning.graph import is_uuid
from vapiops.project.config import Environment, Project
from vapiops.project.manifest import Resource
from vapiops.project.template import in_environment, render_resource

# Stands in for a reference name while the spec is checked against the DTO (which wants an ID).
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def desired_resources(project: Project, resources: list[Resource], env: Environment) -> list[Desired]:
    """Render, name, reference-check and schema-check every resource of `env`; raise all problems at once."""
    problems: list[Problem] = []
    selected = [r for r in resources if in_environment(r, env.name)]
    names = {kind: sorted(r.name for r in selected if r.kind == kind) for kind in KINDS}
    out: list[Desired] = []
    for res in selected:
        kind = KINDS[res.kind]
        try:
            rendered = render_resource(res, env, project.root)
        except TemplateError as exc:
            problems.append(Problem(exc.where or res.where, "", exc.message))
            continue
        spec = rendered.spec
        found = _reference_problems(res, spec, names)
        if not found:
            named = _with_name(kind, spec, res.name)
            found = _schema_problems(project, res, named)
            if named is not spec and any(p.path == kind.name_field for p in found):
                # This DTO's name is constrained (e.g. a fixed enum): leave it to the manifest.
                found = _schema_problems(project, res, spec)
            else:
                spec = named
        problems.extend(found)
        out.append(
            Desired(
                kind=res.kind,
                name=res.name,
                spec=spec,
                lifecycle=res.lifecycle,
                sensitive=frozenset(rendered.sensitive),
                where=str(res.where),
            )
        )
    if problems:
        raise ValidationError(problems)
    return out


def _with_name(kind: Kind, spec: dict, name: str) -> dict:
    """spec with the manifest name as its top-level name field, where the DTO has one and it is unset."""
    if not kind.name_field or kind.name_field in spec or not vapispec.accepts(kind, spec, kind.name_field):
        return spec
    return {**spec, kind.name_field: name}


def _reference_problems(res: Resource, spec: dict, names: dict[str, list[str]]) -> list[Problem]:
    """Every ID field holds a known manifest name or a Vapi ID (the real API answers 400 to a name)."""
    kind = KINDS[res.kind]
    problems = []
    for ref, path, value in kind.find_references(spec):
        if is_uuid(value) or (isinstance(value, str) and value in names[ref.target]):
            continue
        known = names[ref.target]
        listing = ", ".join(known) if known else "none"
        problems.append(
            Problem(
                res.location(path),
                paths.format_path(path),
                f"{value!r} is not the name of a {ref.target} manifest ({address(ref.target, str(value))} "
                f"is unknown) nor a Vapi ID{did_you_mean(value, known)}; known {ref.target} names: {listing}",
            )
        )
    for ext, path, value in kind.find_external_ids(spec):
        if ext.vapi_id and not is_uuid(value):
            problems.append(
                Problem(
                    res.location(path),
                    paths.format_path(path),
                    f"{value!r} is not a Vapi ID (a UUID): this field holds the ID of a {ext.holds}, "
                    f"and {ext.reason}",
                )
            )
    return problems


def _schema_problems(project: Project, res: Resource, spec: dict) -> list[Problem]:
    kind = KINDS[res.kind]
    body = copy.deepcopy(spec)
    for _ref, path, _value in kind.find_references(body):
        paths.set_(body, path, PLACEHOLDER_ID)
    issues = vapispec.check(kind, body, allow_extra=project.allow_fields.get(res.kind, ()))
    return [Problem(res.location(i.path), paths.format_path(i.path), i.message) for i in issues]
