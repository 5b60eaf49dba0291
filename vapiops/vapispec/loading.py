"""Loading Vapi's vendored OpenAPI spec: as published, and repaired (once, then cached on disk)."""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources

from vapiops.vapispec.cache import cached_spec
from vapiops.vapispec.catalogue import extend_with_catalogue
from vapiops.vapispec.repairs import repair
from vapiops.vapispec.walk import _components


def raw_spec() -> dict:
    """The vendored spec exactly as Vapi publishes it (a fresh copy on every call)."""
    data = resources.files("vapiops").joinpath("data/openapi.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


@functools.cache
def spec() -> dict:
    """The repaired spec (see build_spec), loaded once per process and cached on disk across runs
    (vapispec/cache.py). Shared: callers must not modify it."""
    return cached_spec(build_spec)


def build_spec() -> dict:
    """The spec extended with the catalogue of fields beyond it, then repaired. (The catalogue goes
    in first, so the repairs apply to it too.)"""
    doc = raw_spec()
    doc["x-vapiops-catalogue"] = extend_with_catalogue(doc)
    return repair(doc)


def schemas(doc: dict | None = None) -> dict[str, dict]:
    """The component schemas by name (of the repaired spec unless another document is given)."""
    return _components(spec() if doc is None else doc)
