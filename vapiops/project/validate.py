"""Offline checks of rendered manifests: references by name and each spec against Vapi's DTO.

Turns resources into the planner's Desired values, collecting every problem of every file in one
ValidationError, so a user fixes them all in one pass and nothing is ever written for a bad project
(plan lists the live org meanwhile, GETs only: docs/performance.md).
"""

from __future__ import annotations

import json

from vapiops import paths, vapispec
from vapiops.errors import Problem, TemplateError, ValidationError, did_you_mean
from vapiops.kinds import KINDS, FoundExternalIds, FoundReferences, Kind
from vapiops.model import Desired, address
from vapiops.planning.graph import is_uuid, names_literals
from vapiops.project import checked as checked_bodies
from vapiops.project.checked import CheckedBodies
from vapiops.project.config import Environment, Project
from vapiops.project.manifest import Resource
from vapiops.project.template import Rendered, in_environment, render_resource
from vapiops.project.uploads import checkable, fingerprint
from vapiops.redact import MIN_SCRUB_LENGTH

# Stands in for a reference name while the spec is checked against the DTO (which wants an ID).
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def desired_resources(
    project: Project,
    resources: list[Resource],
    env: Environment,
    *,
    strict: bool = False,
    warnings: list[Problem] | None = None,
    unset_secrets: dict[str, list[str]] | None = None,
) -> list[Desired]:
    """Render, name, reference-check and schema-check every resource of `env`; raise all problems at once.

    A property in neither Vapi's spec, the catalogue nor `allow_fields` is a warning (appended to
    `warnings`, the value sent as written), or with `strict` (or `strict: true` in vapiops.yaml) an error.
    With `unset_secrets` (validate: no secret values needed), a secret() whose variable is unset
    renders a placeholder and is recorded as file:line -> its names, instead of being an error.
    """
    strict = strict or project.strict
    problems: list[Problem] = []
    selected = [r for r in resources if in_environment(r, env.name)]
    names = {kind: sorted(r.name for r in selected if r.kind == kind) for kind in KINDS}
    # Manifests `environments:` keeps out of this one: a reference to them names the limit.
    limited = {r.address: r for r in resources if not in_environment(r, env.name)}
    known = {kind: set(listed) for kind, listed in names.items()}  # membership in O(1), not a list scan
    out: list[Desired] = []
    key_vars = [e.api_key_env for e in project.environments.values()]
    checked = checked_bodies.shared()
    for res in selected:
        kind = KINDS[res.kind]
        if res.lookup is not None:
            out.append(
                Desired(kind=res.kind, name=res.name, spec={}, where=str(res.where), lookup=res.lookup)
            )
            continue
        try:
            missing: list[str] | None = [] if unset_secrets is not None else None
            rendered = render_resource(res, env, project.root, key_vars=key_vars, unset_secrets=missing)
            if missing and unset_secrets is not None:
                noted = unset_secrets.setdefault(str(res.where), [])
                noted.extend(n for n in missing if n not in noted)
        except TemplateError as exc:
            problems.append(Problem(exc.where or res.where, "", exc.message))
            continue
        spec = rendered.spec
        if kind.upload is not None:
            spec, bad = fingerprint(kind.upload, project.root, spec)
            if bad is not None:
                at = (kind.upload.path,)
                problems.append(Problem(res.location(at), kind.upload.path, bad))
                continue
        if warnings is not None:
            found_here = [Problem(res.where, "", text) for text in rendered.warnings]
            warnings.extend(p for p in found_here if p not in warnings)
        sent_as_written: tuple[tuple[str, str], ...] = ()
        ids = kind.find_ids(spec)  # one walk, for the reference check and the schema check
        found = _reference_problems(res, ids, names, known, limited, env.name)
        if not found:
            named = _with_name(kind, spec, res.name)
            found, unknown = _schema_problems(project, res, named, ids[0], checked)
            if named is not spec and any(p.path == kind.name_field for p in found):
                # This DTO's name is constrained (e.g. a fixed enum): leave it to the manifest.
                found, unknown = _schema_problems(project, res, spec, ids[0], checked)
            else:
                spec = named
            if strict:
                found += [Problem(p.where, p.path, p.message + STRICT_HINT) for p in unknown]
            elif warnings is not None:
                warnings.extend(p for p in unknown if p not in warnings)
            sent_as_written = tuple((p.path, str(p.where)) for p in unknown)
        problems.extend(_without_secret_values(found, rendered))
        out.append(
            Desired(
                kind=res.kind,
                name=res.name,
                spec=spec,
                lifecycle=res.lifecycle,
                sensitive=frozenset(rendered.sensitive),
                where=str(res.where),
                unknown_fields=sent_as_written,
                references=ids[0],
            )
        )
    checked.save()
    if problems:
        raise ValidationError(problems)
    return out


def _without_secret_values(problems: list[Problem], rendered: Rendered) -> list[Problem]:
    """The problems, none quoting a value rendered from secret(): named as `the value of secret('X')`.

    A message is rewritten when it quotes a secret value whole; when it still holds any 6
    characters of one (a truncated or re-quoted form), it is replaced by a message that says what
    is wrong without the value.
    """
    secrets = [
        (paths.get(rendered.spec, p), names)
        for p, names in rendered.secret_names.items()
        if paths.has(rendered.spec, p) and isinstance(paths.get(rendered.spec, p), str)
    ]
    if not secrets:
        return problems
    out = []
    for problem in problems:
        message = problem.message
        for value, names in secrets:
            shown = "the value of " + " and ".join(f"secret({n!r})" for n in names)
            for form in (repr(value), json.dumps(value), value):
                if len(form) >= MIN_SCRUB_LENGTH:
                    message = message.replace(form, shown)
            if _quotes_part_of(message, value):
                message = f"{shown} (or a value built from it) is not valid here"
        out.append(Problem(problem.where, problem.path, message))
    return out


def _quotes_part_of(message: str, value: str, run: int = 6) -> bool:
    if len(value) < run:
        return False
    return any(value[i : i + run] in message for i in range(len(value) - run + 1))


def _with_name(kind: Kind, spec: dict, name: str) -> dict:
    """spec with the manifest name as its top-level name field, where the DTO has one and it is unset."""
    if not kind.name_field or kind.name_field in spec or not vapispec.accepts(kind, spec, kind.name_field):
        return spec
    return {**spec, kind.name_field: name}


def _reference_problems(
    res: Resource,
    ids: tuple[FoundReferences, FoundExternalIds],
    names: dict[str, list[str]],
    known_names: dict[str, set[str]],
    limited: dict[str, Resource],
    env: str,
) -> list[Problem]:
    """Every ID field holds a known manifest name or a Vapi ID (the real API answers 400 to a name).
    `ids`: Kind.find_ids of the spec. `names` lists each kind's names for messages; `known_names`
    holds the same names as sets."""
    problems = []
    references, external_ids = ids
    for ref, path, value in references:
        if (isinstance(value, str) and value in known_names[ref.target]) or is_uuid(value):
            continue
        other = limited.get(address(ref.target, str(value)))
        if other is not None:
            problems.append(
                Problem(
                    res.location(path),
                    paths.format_path(path),
                    f"{other.address} exists only in environments {', '.join(other.environments or [])} "
                    f"(`environments:` of {other.where}), not in {env!r}: limit this manifest the same "
                    f"way, or add {env!r} to that list",
                )
            )
            continue
        if isinstance(value, str) and value and names_literals(ref.target):
            continue  # the provider's own ID of an object made elsewhere: sent as written
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
    for ext, path, value in external_ids:
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


STRICT_HINT = " (--strict: add it to allow_fields in vapiops.yaml if it is meant)"


def _schema_problems(
    project: Project,
    res: Resource,
    spec: dict,
    references: FoundReferences,
    checked: CheckedBodies,
) -> tuple[list[Problem], list[Problem]]:
    """The spec's errors, and its warnings: properties no schema lists (see desired_resources).
    `references`: Kind.find_references of the spec (a name where the DTO wants an ID stands in as
    PLACEHOLDER_ID). A body found clean by an earlier run with the same spec is not checked again
    (project/checked.py)."""
    kind = KINDS[res.kind]
    allow_extra = project.allow_fields.get(res.kind, ())
    digest = checked.digest(res.kind, spec, allow_extra)
    if checked.is_clean(digest):
        return [], []
    body, later = checkable(kind, paths.copy_json(spec))
    for _ref, path, _value in references:
        if paths.has(body, path):  # not in a field checkable() leaves out of the body or encodes
            paths.set_(body, path, PLACEHOLDER_ID)
    issues = vapispec.check(kind, body, allow_extra=allow_extra, open_world=True)
    if later:
        issues += vapispec.check(kind, later, update=True, allow_extra=allow_extra, open_world=True)
    if not issues:
        checked.remember(digest)
    found = [Problem(res.location(i.path), paths.format_path(i.path), i.message) for i in issues]
    return (
        [p for p, i in zip(found, issues, strict=True) if not i.warning],
        [p for p, i in zip(found, issues, strict=True) if i.warning],
    )
