"""Modules the command line loads only when a command uses them, so `vapiops --help` starts fast."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """`name`, imported on its first attribute access rather than now.

    The flows pull in jsonschema, httpx, Jinja2 and the Vapi spec loader: about 0.3 s that
    `--help`, `--version` and a mistyped option should not pay. An already imported module is
    returned as it is.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
