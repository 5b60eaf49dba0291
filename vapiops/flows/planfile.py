"""Saved plans (`plan --out FILE`, `apply FILE`): the reviewed plan and fingerprints of its inputs.

A plan file holds no secret: the plan is the masked JSON document, and the fingerprints are
HMACs keyed with a key derived from the API key and the state's lineage, stored nowhere, so a
low-entropy secret cannot be guessed from the plan file (nor from it and the state together).
`apply FILE` plans afresh and refuses to go on when the manifests or the live objects differ
from what the saved plan was made from: what was reviewed is what runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vapiops import __version__, fsio, redact
from vapiops.errors import UnsafePlan, VapiopsError
from vapiops.model import Desired, Plan
from vapiops.state import State

MAGIC = "vapiops-plan"
PLANFILE_VERSION = 1


def _digest(value: Any, key: str) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


FINGERPRINT_LABEL = "vapiops plan fingerprints/"


def fingerprint(
    desired: list[Desired], live: dict[str, list[dict]], state: State, derive: Callable[[str], str]
) -> dict[str, dict[str, str]]:
    """Per address: a keyed digest of the rendered manifest, and of the live object state points at.

    `derive` (VapiClient.derive_key) turns a label into a key derived from the API key: a reader of
    the plan file cannot recompute a digest to test a guessed secret.
    """
    key = derive(FINGERPRINT_LABEL + state.lineage)
    by_id = {obj.get("id"): obj for objs in live.values() for obj in objs}
    return {
        "manifests": {d.address: _digest(d.spec, key) for d in desired},
        "live": {addr: _digest(by_id.get(entry.id), key) for addr, entry in state.resources.items()},
    }


def save(
    path: Path,
    plan: Plan,
    print_: dict[str, dict[str, str]],
    project_root: Path,
    targets: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
) -> None:
    doc = {
        "targets": list(targets),
        "replace": list(replace),
        "kind": MAGIC,
        "version": PLANFILE_VERSION,
        "vapiops_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "project_root": str(project_root),
        "checksum": plan.checksum(),
        "fingerprint": print_,
        "plan": plan.to_dict(),
    }
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    # The plan is masked already; the scrub is the last guard that no secret value reaches the file.
    fsio.atomic_write(path, redact.scrub(text), what="plan file")


def is_plan_file(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("kind") == MAGIC
    except (OSError, ValueError, AttributeError):
        return False


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise VapiopsError(f"cannot read plan file: {exc}", where=str(path)) from None
    if not isinstance(doc, dict) or doc.get("kind") != MAGIC:
        raise VapiopsError(
            "not a vapiops plan file", where=str(path), hint="make one with `vapiops plan --out FILE`"
        )
    if doc.get("version") != PLANFILE_VERSION:
        raise VapiopsError(f"plan file version {doc.get('version')} is not supported", where=str(path))
    return doc


def check_fresh(saved: dict[str, Any], plan: Plan, print_: dict[str, dict[str, str]], where: str) -> None:
    """Refuse a stale plan, naming what changed since it was made."""
    problems = []
    if saved.get("plan", {}).get("environment") != plan.environment:
        problems.append(f"it was made for environment {saved.get('plan', {}).get('environment')!r}")
    old = saved.get("fingerprint", {})
    for part, label in (("manifests", "manifest changed"), ("live", "live object changed")):
        before, now = old.get(part, {}), print_.get(part, {})
        changed = sorted(a for a in set(before) | set(now) if before.get(a) != now.get(a))
        if changed:
            problems.append(f"{label}: {', '.join(changed)}")
    if not problems and saved.get("checksum") != plan.checksum():
        problems.append("the changes it would make differ from the saved plan")
    if problems:
        raise UnsafePlan(
            "the saved plan is stale; nothing was sent: " + "; ".join(problems),
            where=where,
            hint="make and review a new plan with `vapiops plan --out FILE`",
        )
