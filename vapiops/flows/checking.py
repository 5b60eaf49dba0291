"""The validate flow: every environment's manifests checked offline, every problem reported once."""

from __future__ import annotations

from pathlib import Path

from vapiops.errors import ValidationError
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources


def validate(path: Path, env_name: str | None) -> tuple[int, list[str]]:
    """The number of manifests and, per environment checked, "N in ENV"; ValidationError with every problem.

    `path` may be a manifest file: the project holding it is checked. Without `env_name` every
    environment of the project is.
    """
    if path.is_file():
        # A manifest's references reach across the project: validate the project that holds it.
        path = project_root_of(path)
    project = load_project(path)
    envs = [project.environment(env_name)] if env_name else list(project.environments.values())
    resources = load_manifests(project)
    counts: list[str] = []
    problems: list = []
    for env in envs:  # every environment renders differently: check each, report every problem once
        try:
            counts.append(f"{len(desired_resources(project, resources, env))} in {env.name}")
        except ValidationError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise ValidationError(problems)
    return len(resources), counts


def project_root_of(manifest: Path) -> Path:
    """The nearest folder above a manifest that has a vapiops.yaml, else the manifest's folder."""
    for folder in manifest.resolve().parents:
        if (folder / "vapiops.yaml").is_file():
            return folder
    return manifest.resolve().parent
