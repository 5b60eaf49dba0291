"""State: what vapiops remembers per environment (model), and where it is kept (backends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vapiops.state.backend import LockInfo, StateBackend
from vapiops.state.local import LocalBackend
from vapiops.state.model import STATE_VERSION, Intent, ResourceState, State, hash_secret, secret_key

if TYPE_CHECKING:
    from vapiops.project.config import Project


def open_backend(project: Project, env_name: str) -> StateBackend:
    """The backend that keeps the state of environment `env_name` of `project`.

    Always local files under the project's state_dir today; this is where a `state:` setting
    of vapiops.yaml will choose another backend.
    """
    return LocalBackend(project.state_file(env_name), env_name)


__all__ = [
    "STATE_VERSION",
    "Intent",
    "LocalBackend",
    "LockInfo",
    "ResourceState",
    "State",
    "StateBackend",
    "hash_secret",
    "secret_key",
    "open_backend",
]
