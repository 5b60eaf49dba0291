"""Shared fixtures: a live sandbox (the local Vapi API) on 127.0.0.1 for any test that needs one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def sandbox() -> Iterator:
    """A started SandboxServer on a free port, stopped after the test."""
    # Imported here so test modules that never use the sandbox do not depend on it importing.
    from vapiops.sandbox import SandboxServer

    server = SandboxServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox_env(sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The sandbox, with VAPI_BASE_URL and VAPI_API_KEY pointing vapiops at it."""
    monkeypatch.setenv("VAPI_BASE_URL", sandbox.url)
    monkeypatch.setenv("VAPI_API_KEY", "test-key")
    yield sandbox
