"""Start-up cost: `vapiops --help` loads no validation, HTTP or template machinery (docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ["jsonschema", "httpx", "jinja2", "yaml", "referencing", "vapiops.vapispec", "vapiops.project"]

PROBE = """
import sys
from vapiops.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print("loaded:", " ".join(sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))))
"""


@pytest.mark.e2e
@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"], ["apply", "--help"], ["--version"]])
def test_help_loads_none_of_the_heavy_machinery(argv: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.splitlines()[-1] == "loaded: "


def test_a_lazy_module_loads_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vapiops.cli.lazy import lazy_module

    (tmp_path / "lazy_probe_module.py").write_text("import sys\nsys.lazy_probe_runs += 1\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "lazy_probe_runs", 0, raising=False)
    monkeypatch.delitem(sys.modules, "lazy_probe_module", raising=False)
    module = lazy_module("lazy_probe_module")
    assert sys.lazy_probe_runs == 0  # type: ignore[attr-defined]
    assert module.VALUE == 42
    assert sys.lazy_probe_runs == 1  # type: ignore[attr-defined]
    assert lazy_module("lazy_probe_module") is module
    sys.modules.pop("lazy_probe_module", None)


def test_a_missing_module_is_an_import_error() -> None:
    from vapiops.cli.lazy import lazy_module

    with pytest.raises(ImportError):
        lazy_module("vapiops.no_such_module")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("model", "loaded"),
    [("gpt-4o", "loaded: "), (12, "loaded: jsonschema referencing")],
    ids=["valid: no jsonschema", "invalid: jsonschema explains"],
)
def test_validating_a_valid_project_never_loads_jsonschema(
    tmp_path: Path, model: object, loaded: str
) -> None:
    """The compiled verdict accepts a valid body alone; jsonschema is loaded only to explain a
    rejected one (docs/performance.md)."""
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "a.yaml").write_text(
        f"kind: assistant\nname: a\nspec:\n  model: {{provider: openai, model: {model}}}\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=["jsonschema", "referencing"]), "validate", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.splitlines()[-1] == loaded
