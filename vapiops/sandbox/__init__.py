"""The built-in Vapi API simulator (docs/sandbox.md): `SandboxServer` serves it on 127.0.0.1."""

from vapiops.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]
