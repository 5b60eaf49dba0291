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
from vapiops.model import Address, Desired, Plan
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


def _is_digest_table(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def damage(doc: dict[str, Any]) -> str | None:
    """What is wrong with a loaded plan file's fields (None when nothing is): checked before any request,
    so a damaged or hand-edited file cannot fail half-way through a run."""
    plan_doc = doc.get("plan")
    fingerprints = doc.get("fingerprint")
    targets = doc.get("targets", [])
    replace = doc.get("replace", [])
    checks = (
        (isinstance(doc.get("project_root"), str), "`project_root` must be a folder path"),
        (isinstance(plan_doc, dict), "`plan` must be the saved plan document"),
        (
            isinstance(plan_doc, dict)
            and isinstance(plan_doc.get("environment"), str)
            and isinstance(plan_doc.get("changes"), list),
            "`plan.environment` must be a name and `plan.changes` a list",
        ),
        (
            isinstance(targets, list) and all(isinstance(t, str) and _is_address(t) for t in targets),
            f"`targets` must be a list of addresses (KIND/NAME), not {json.dumps(targets)[:80]}",
        ),
        (
            isinstance(replace, list) and all(isinstance(t, str) and _is_address(t) for t in replace),
            f"`replace` must be a list of addresses (KIND/NAME), not {json.dumps(replace)[:80]}",
        ),
        (
            isinstance(fingerprints, dict)
            and set(fingerprints) == {"manifests", "live"}
            and all(_is_digest_table(v) for v in fingerprints.values()),
            "`fingerprint` must hold `manifests` and `live`, each a table of address: digest",
        ),
        (isinstance(doc.get("checksum"), str), "`checksum` must be a string"),
    )
    for ok, problem in checks:
        if not ok:
            return problem
    assert isinstance(plan_doc, dict)  # the checks above said so
    if doc["checksum"] != _changes_checksum(plan_doc["changes"]):
        return "its changes were edited after it was saved (`checksum` does not match them)"
    return None


def _changes_checksum(changes: list[Any]) -> str:
    # As Plan.checksum computes it from Plan.to_dict()["changes"], which the file holds.
    return hashlib.sha256(json.dumps(changes, sort_keys=True, default=str).encode()).hexdigest()


def _is_address(text: str) -> bool:
    try:
        Address.parse(text)
    except ValueError:
        return False
    return True


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
