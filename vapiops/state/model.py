"""What vapiops remembers about one environment: State, its resource entries and create intents; plain values."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from vapiops.errors import StateError
from vapiops.paths import copy_json

STATE_VERSION = 1


@dataclass
class ResourceState:
    """One managed resource: its live ID and what vapiops last applied to it."""

    kind: str
    name: str
    id: str
    applied: dict[str, Any]  # the declared spec as last applied (refs by name; secrets as hash strings)
    secrets: dict[str, str] = field(default_factory=dict)  # dotted path -> hash of the secret last applied


@dataclass
class Intent:
    """A create recorded BEFORE its POST is sent, so a re-run after a crash can adopt the object."""

    address: str
    kind: str
    started_at: str  # ISO 8601 UTC with ms, taken before sending
    body: dict[str, Any]  # the body as sent, refs resolved to IDs, secrets replaced by hashes
    sensitive: list[str] = field(default_factory=list)  # dotted paths in body holding secret hashes


@dataclass
class State:
    """Everything vapiops remembers about one environment."""

    environment: str
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))  # chosen once, when first created
    serial: int = 0  # incremented by every save
    resources: dict[str, ResourceState] = field(default_factory=dict)  # address -> entry
    intents: dict[str, Intent] = field(default_factory=dict)  # address -> pending create
    # The Vapi org every ID here lives in (the orgId of the live objects); None until first seen.
    org_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain JSON values (safe to serialise while others keep working)."""
        return {
            "version": STATE_VERSION,
            "environment": self.environment,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {a: copy_json(fields_dict(r)) for a, r in self.resources.items()},
            "intents": {a: copy_json(fields_dict(i)) for a, i in self.intents.items()},
            "org_id": self.org_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> State:
        version = d.get("version") if isinstance(d, dict) else None
        if version != STATE_VERSION:
            newer = isinstance(version, int) and version > STATE_VERSION
            raise StateError(
                f"state format version {version!r} is not supported (this vapiops reads version {STATE_VERSION})",
                hint="upgrade vapiops" if newer else "restore the state file from a backup",
            )
        try:
            return cls(
                environment=typed(d["environment"], str),
                lineage=typed(d["lineage"], str),
                serial=typed(d["serial"], int),
                resources={
                    typed(a, str): resource_from_dict(r) for a, r in typed(d["resources"], dict).items()
                },
                intents={
                    typed(a, str): intent_from_dict(i) for a, i in typed(d.get("intents", {}), dict).items()
                },
                org_id=typed(d["org_id"], str) if d.get("org_id") is not None else None,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"state is malformed: {type(exc).__name__} {exc}", hint="restore the state file from a backup"
            ) from exc

    def address_of_id(self, id: str) -> str | None:
        for address, entry in self.resources.items():
            if entry.id == id:
                return address
        return None


def fields_dict(record: ResourceState | Intent) -> dict[str, Any]:
    """An entry or intent as a JSON object, every dataclass field of it; shares its values
    (dataclasses.asdict deep-copies them, slowly)."""
    return {name: getattr(record, name) for name in _FIELD_NAMES[type(record)]}


def record_line(
    serial: int, address: str, entry: ResourceState | None, intent: Intent | None
) -> dict[str, Any]:
    """One journal record: what state holds for `address` under `serial` (encoded at once, so
    its values are shared, not copied)."""
    return {
        "serial": serial,
        "address": address,
        "resource": fields_dict(entry) if entry is not None else None,
        "intent": fields_dict(intent) if intent is not None else None,
    }


def resource_from_dict(r: dict[str, Any]) -> ResourceState:
    return ResourceState(
        kind=typed(r["kind"], str),
        name=typed(r["name"], str),
        id=typed(r["id"], str),
        applied=typed(r["applied"], dict),
        secrets=typed(r.get("secrets", {}), dict),
    )


def intent_from_dict(i: dict[str, Any]) -> Intent:
    return Intent(
        address=typed(i["address"], str),
        kind=typed(i["kind"], str),
        started_at=typed(i["started_at"], str),
        body=typed(i["body"], dict),
        sensitive=typed(i.get("sensitive", []), list),
    )


def typed(value: Any, expected: type) -> Any:
    # bool is an int in Python; a serial of `true` is still malformed.
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise TypeError(f"expected {expected.__name__}, found {type(value).__name__}")
    return value


SECRETS_LABEL = "vapiops state secrets/"


def secret_key(derive: Callable[[str], str], lineage: str) -> str:
    """The key of one state's secret hashes: derived from the API key (`derive`, e.g.
    VapiClient.derive_key) and the lineage, and stored nowhere, so the hashes in state cannot be
    brute-forced by someone who can read the state file alone."""
    return derive(SECRETS_LABEL + lineage)


def hash_secret(value: Any, salt: str) -> str:
    """What state keeps instead of a secret: HMAC-SHA256 keyed with `salt` (see secret_key).

    A rotated API key changes the key: every secret then looks changed once and is sent again.
    """
    text = json.dumps(value, sort_keys=True)
    digest = hmac.new(salt.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


_FIELD_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (ResourceState, Intent)}
