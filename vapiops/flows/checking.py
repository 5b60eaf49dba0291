"""The validate flow: every environment's manifests checked offline, every problem reported once."""

from __future__ import annotations

from pathlib import Path

from vapiops.errors import Problem, ValidationError
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources


def validate(
    path: Path,
    env_name: str | None,
    *,
    strict: bool = False,
    warnings: list[Problem] | None = None,
    notes: list[str] | None = None,
) -> tuple[int, list[str]]:
    """The number of manifests and, per environment checked, "N in ENV"; ValidationError with every problem.

    `path` may be a manifest file: the project holding it is checked. Without `env_name` every
    environment of the project is. Warnings (fields no schema lists) go to `warnings`, each once;
    `strict` makes them errors. No secret value is needed: each secret() whose variable is unset
    is rendered as a placeholder and listed in `notes` (plan and apply still need every value).
    """
    if path.is_file():
        # A manifest's references reach across the project: validate the project that holds it.
        path = project_root_of(path)
    project = load_project(path)
    envs = [project.environment(env_name)] if env_name else list(project.environments.values())
    resources = load_manifests(project)
    counts: list[str] = []
    problems: list = []
    found: list[Problem] = []
    unset: dict[str, list[str]] = {}
    for env in envs:  # every environment renders differently: check each, report every problem once
        try:
            desired = desired_resources(
                project, resources, env, strict=strict, warnings=found, unset_secrets=unset
            )
            counts.append(f"{len(desired)} in {env.name}")
        except ValidationError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if warnings is not None:
        warnings.extend(dict.fromkeys(found))
    if notes is not None:
        notes.extend(
            f"{where}: {', '.join(f'secret({n!r})' for n in names)} not set here; checked with a "
            "placeholder (plan and apply need the value)"
            for where, names in unset.items()
        )
    if problems:
        raise ValidationError(problems)
    return len(resources), counts


def project_root_of(manifest: Path) -> Path:
    """The nearest folder above a manifest that has a vapiops.yaml, else the manifest's folder."""
    for folder in manifest.resolve().parents:
        if (folder / "vapiops.yaml").is_file():
            return folder
    return manifest.resolve().parent
