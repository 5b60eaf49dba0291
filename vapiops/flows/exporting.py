"""The export flow: an environment's unmanaged live objects into manifest files, optionally adopted into state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vapiops.flows import export as exporter
from vapiops.flows.context import Context
from vapiops.planning.graph import owners
from vapiops.project.manifest import load_manifests
from vapiops.state import State


@dataclass
class ExportJob:
    """One export: where it writes, what it found to write."""

    out_dir: Path  # absolute
    others: list[str]  # addresses of manifests outside out_dir: names an export must not take
    exported: list[exporter.Exported] = field(default_factory=list)
    skipped: int = 0  # live objects left out because the environment manages them already


def start(ctx: Context, out: Path | None) -> ExportJob:
    """The output directory (default: the project's) and the names other manifests use (reads the manifests)."""
    out_dir = (out if out is not None else exporter.default_out_dir(ctx.project)).resolve()
    # Names other manifests use are taken; a previous export into the same directory is being redone.
    others = [
        r.address
        for r in load_manifests(ctx.project)
        if not (ctx.project.root / r.where.file).resolve().is_relative_to(out_dir)
    ]
    return ExportJob(out_dir, others)


def select(
    ctx: Context, job: ExportJob, state: State, live: dict[str, list[dict[str, Any]]], *, keep_defaults: bool
) -> None:
    """Turn the live objects `state` does not manage into manifests (job.exported); count the others."""
    managed = owners(state.resources, live)
    job.exported = exporter.export_objects(
        live,
        managed=managed,
        taken=[*state.resources, *job.others],
        allow_fields=ctx.project.allow_fields,
        keep_defaults=keep_defaults,
    )
    job.skipped = sum(
        1 for objs in live.values() for o in objs if isinstance(o, dict) and o.get("id") in managed
    )


def write(ctx: Context, job: ExportJob, state: State, *, adopt: bool, force: bool) -> list[Path]:
    """Write the manifests (checking first, with `adopt`, that state can take them all); the files written."""
    if adopt:
        exporter.check_adoptable(state, job.exported)  # before writing anything
    return exporter.write_manifests(
        job.out_dir, exporter.manifest_files(job.exported, ctx.env.name), force=force
    )


def outside_roots(ctx: Context, job: ExportJob) -> bool:
    """Whether the manifests went where plan does not read."""
    return not any(job.out_dir.is_relative_to(r) for r in ctx.project.resource_roots)


def adopt(ctx: Context, job: ExportJob) -> None:
    """Record the exported objects in the environment's state, under its lock."""
    with ctx.backend.lock(who="export --adopt"):
        fresh = ctx.backend.load()
        exporter.adopt(fresh, job.exported)
        ctx.backend.save(fresh)
