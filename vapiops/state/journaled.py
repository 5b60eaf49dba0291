"""What every remote backend shares: snapshot and journal record encoding, lock holders, lock errors."""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import uuid
from dataclasses import asdict
from typing import Any

from vapiops.errors import StateError
from vapiops.state.backend import LockInfo
from vapiops.state.model import State, intent_from_dict, record_line, resource_from_dict, typed
from vapiops.timestamps import now_iso

LOCK_POLL_SECONDS = 0.5  # a remote lock is polled over the network: gently


def encode_snapshot(state: State) -> bytes:
    return (json.dumps(state.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def decode_snapshot(data: bytes | str, environment: str, where: str) -> State:
    """The State a snapshot holds; StateError (located at `where`) when it is not one of this environment."""
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise StateError(
            f"state is not valid JSON ({exc})", where=where, hint="restore it from its .backup"
        ) from exc
    if not isinstance(parsed, dict):
        raise StateError("state does not hold a JSON object", where=where, hint="restore it from its .backup")
    try:
        state = State.from_dict(parsed)
    except StateError as exc:
        exc.where = where
        raise
    if state.environment != environment:
        raise StateError(
            f"state belongs to environment {state.environment!r}, not {environment!r}",
            where=where,
            hint="check --env and the `state:` prefix in vapiops.yaml",
        )
    return state


def encode_record(state: State, address: str) -> bytes:
    """One journal record: what `state` holds for `address` now, under `state.serial`."""
    record = record_line(state.serial, address, state.resources.get(address), state.intents.get(address))
    return json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")


def apply_record(state: State, data: bytes | str, where: str) -> None:
    """Lay one journal record over `state`; one already folded into the snapshot is skipped."""
    try:
        record = json.loads(data)
        if typed(record["serial"], int) <= state.serial:
            return  # folded by a save that stopped before it deleted the journal
        address = typed(record["address"], str)
        if record["resource"] is None:
            state.resources.pop(address, None)
        else:
            state.resources[address] = resource_from_dict(record["resource"])
        if record["intent"] is None:
            state.intents.pop(address, None)
        else:
            state.intents[address] = intent_from_dict(record["intent"])
        state.serial = record["serial"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Remote records are written whole or not at all, so a malformed one was edited by hand.
        raise StateError(
            f"state journal record is malformed ({exc})",
            where=where,
            hint="restore it from the store's object versions, or remove it and re-plan (crash adoption "
            "finds what it recorded)",
        ) from exc


def ci_run_url() -> str | None:
    """The CI run this process belongs to (GitHub Actions), for lock holders."""
    parts = [os.environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repository, run_id = parts
    return f"{server}/{repository}/actions/runs/{run_id}"


def new_holder(who: str | None) -> tuple[LockInfo, dict[str, Any]]:
    """A new lock hold's LockInfo and the holder record stored with the lock (plain JSON values)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    info = LockInfo(
        id=str(uuid.uuid4()),
        who=who if who is not None else " ".join(sys.argv),
        user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        since=now_iso(),
    )
    holder: dict[str, Any] = asdict(info)
    ci_run = ci_run_url()
    if ci_run:
        holder["ci_run"] = ci_run
    return info, holder


def encode_holder(holder: dict[str, Any]) -> bytes:
    return json.dumps(holder, indent=2, sort_keys=True).encode("utf-8")


def parse_holder(data: bytes | str | None) -> dict[str, Any] | None:
    """A stored holder record; None when it cannot be read (it still counts as held)."""
    if data is None:
        return None
    try:
        holder = json.loads(data)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def describe_holder(holder: dict[str, Any]) -> str:
    text = (
        f"{holder.get('user', '?')}@{holder.get('host', '?')} pid {holder.get('pid', '?')} "
        f"since {holder.get('since', '?')}"
    )
    if holder.get("who"):
        text += f" (running: {holder['who']})"
    if holder.get("ci_run"):
        text += f" in CI run {holder['ci_run']}"
    return text


def locked_error(environment: str, holder: dict[str, Any] | None, where: str) -> StateError:
    """The error of a run that did not get the lock: who holds it, and how to free it if that run is gone."""
    if holder is None:
        return StateError(
            f"state for env {environment} is locked (its holder record cannot be read)",
            where=where,
            hint="wait for that run to finish, or pass --lock-timeout SECONDS to wait",
        )
    return StateError(
        f"state for env {environment} is locked by {describe_holder(holder)}, lock ID {holder.get('id', '?')}",
        where=where,
        hint=f"wait for that run (or pass --lock-timeout SECONDS); if it is gone for good: "
        f"vapiops state unlock {holder.get('id', 'LOCK_ID')}",
    )


def lost_lock_error(environment: str, where: str, why: str) -> StateError:
    return StateError(
        f"this run lost the lock of env {environment} ({why}); nothing more is written",
        where=where,
        hint="another run or `vapiops state unlock` took it: re-run plan to see where things stand",
    )


def missing_extra(backend: str, module: str) -> StateError:
    return StateError(
        f"the {backend} state backend needs the Python package {module}, which is not installed",
        where="vapiops.yaml",
        hint=f"pip install 'vapiops[{backend}]'",
    )
