"""State: what vapiops remembers per environment (model), and where it is kept (backends)."""

from vapiops.state.local import StateStore
from vapiops.state.model import STATE_VERSION, Intent, ResourceState, State, hash_secret

__all__ = ["STATE_VERSION", "Intent", "ResourceState", "State", "StateStore", "hash_secret"]
