"""State: what vapiops remembers per environment (model), and where it is kept (backends)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vapiops.errors import StateError
from vapiops.state.backend import LockInfo, LockLost, StateBackend, locked_error, new_lock_info
from vapiops.state.local import LocalBackend
from vapiops.state.model import STATE_VERSION, Intent, ResourceState, State, hash_secret, secret_key

if TYPE_CHECKING:
    from vapiops.project.config import Project


def open_backend(project: Project, env_name: str) -> StateBackend:
    """The backend that keeps the state of environment `env_name` of `project`, as vapiops.yaml's
    `state:` section chooses (default: local files under state_dir).

    A remote backend's library is imported only when chosen: a missing one is a StateError naming
    the extra to install.
    """
    config = project.state
    if config.backend == "s3":
        from vapiops.state.s3 import s3_backend

        return s3_backend(
            config.bucket, config.prefix, env_name, region=config.region, endpoint_url=config.endpoint_url
        )
    if config.backend == "gcs":
        from vapiops.state.gcs import gcs_backend

        return gcs_backend(config.bucket, config.prefix, env_name)
    if config.backend == "postgres":
        from vapiops.state.postgres import PostgresBackend

        dsn = os.environ.get(config.dsn_env, "")
        if not dsn:
            raise StateError(
                f"environment variable {config.dsn_env} is not set (the postgres state backend's connection string)",
                where="vapiops.yaml",
                hint=f"export {config.dsn_env}=postgresql://USER@HOST:5432/DB",
            )
        return PostgresBackend(
            dsn, config.schema, env_name, where=f"postgres {config.schema}.states env {env_name}"
        )
    return LocalBackend(project.state_file(env_name), env_name)


__all__ = [
    "STATE_VERSION",
    "Intent",
    "LocalBackend",
    "LockInfo",
    "LockLost",
    "ResourceState",
    "State",
    "StateBackend",
    "hash_secret",
    "locked_error",
    "new_lock_info",
    "secret_key",
    "open_backend",
]
