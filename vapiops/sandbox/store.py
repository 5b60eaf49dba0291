"""The sandbox's data: objects per org and kind, strictly increasing timestamps, optional JSON file.

One lock guards everything: the sandbox is a test double, so serialising requests is simpler than
clever and still fast enough. Callers hold `store.lock` across a read-modify-write (PATCH).
"""

from __future__ import annotations

import functools
import heapq
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vapiops.errors import VapiopsError
from vapiops.paths import copy_json
from vapiops.timestamps import parse_time

DATA_VERSION = 1
# Namespace for deriving an orgId from an API key: the same key maps to the same org across
# restarts (so a data file keeps working) without the key itself ever being stored.
_ORG_NAMESPACE = uuid.UUID("5b0f7c52-3f55-4d0e-9a51-1d0f3a4d8e21")


def org_id_for_key(api_key: str) -> str:
    return str(uuid.uuid5(_ORG_NAMESPACE, api_key))


def format_ms(ms: int) -> str:
    """Epoch milliseconds -> ISO 8601 UTC with milliseconds and 'Z', as Vapi writes timestamps."""
    stamp = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 16)
def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime; ValueError if malformed (a 400 for the caller).
    Remembered: a listing with time bounds compares every stored object's createdAt per request."""
    value = parse_time(text)
    if value is None:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    return value


class Store:
    """Objects keyed org -> kind name -> id; every read returns a copy so callers cannot alias state."""

    def __init__(self, data_file: Path | None = None):
        self.lock = threading.RLock()
        self._data_file = Path(data_file) if data_file is not None else None
        self._orgs: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._last_ms = 0
        if self._data_file is not None and self._data_file.exists():
            self._load(self._data_file)

    def now(self) -> str:
        """A timestamp later than every one handed out before, even within one millisecond.

        Strictly increasing createdAt values mean no two objects share a paging boundary, so a
        client paging with createdAtLe sees each object exactly once.
        """
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return format_ms(self._last_ms)

    def collection(self, org: str, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy_json(list(self._orgs.get(org, {}).get(kind, {}).values()))

    def select(
        self,
        org: str,
        kind: str,
        keep: Callable[[dict[str, Any]], bool],
        order: Callable[[dict[str, Any]], Any],
        *,
        reverse: bool,
        start: int,
        limit: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of a listing: (how many objects `keep` accepts, copies of those at
        [start, start + limit) in `order`). Only the page is copied: copying every object for each
        page made listing 10,000 objects quadratic."""
        with self.lock:
            found = [obj for obj in self._orgs.get(org, {}).get(kind, {}).values() if keep(obj)]
            # Only the first start + limit in order are needed: a heap selects them without
            # sorting every match (the same items, in the same order, as sorted(...)[:n]).
            pick = heapq.nlargest if reverse else heapq.nsmallest
            return len(found), copy_json(pick(start + limit, found, key=order)[start:])

    def get(self, org: str, kind: str, id_: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self._orgs.get(org, {}).get(kind, {}).get(id_)
            return copy_json(obj) if obj is not None else None

    def put(self, org: str, kind: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self._orgs.setdefault(org, {}).setdefault(kind, {})[obj["id"]] = copy_json(obj)
            self._save()

    def remove(self, org: str, kind: str, id_: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self._orgs.get(org, {}).get(kind, {}).pop(id_, None)
            if obj is not None:
                self._save()
            return obj

    def objects(self, kind: str, org: str | None = None) -> list[dict[str, Any]]:
        """Copies of one kind's objects in one org (or every org), oldest first."""
        with self.lock:
            orgs = [org] if org is not None else list(self._orgs)
            found = [obj for o in orgs for obj in self._orgs.get(o, {}).get(kind, {}).values()]
            return copy_json(sorted(found, key=lambda o: (o.get("createdAt", ""), o.get("id", ""))))

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != DATA_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            orgs = data["orgs"]
            for org, kinds in orgs.items():
                for kind, objs in kinds.items():
                    for obj in objs:
                        self._orgs.setdefault(org, {}).setdefault(kind, {})[obj["id"]] = obj
                        for key in ("createdAt", "updatedAt"):
                            if key in obj:
                                ms = int(parse_timestamp(obj[key]).timestamp() * 1000)
                                self._last_ms = max(self._last_ms, ms)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VapiopsError(
                f"sandbox data file is unreadable: {exc}",
                where=str(path),
                hint="delete it to start the sandbox empty",
            ) from exc

    def _save(self) -> None:
        """Write the whole data file atomically (temp file + rename), so a crash never leaves half.

        No fsync: surviving a power cut is not worth a disk flush per request in a simulator.
        """
        if self._data_file is None:
            return
        data = {
            "version": DATA_VERSION,
            "orgs": {
                org: {
                    kind: sorted(objs.values(), key=lambda o: o["createdAt"]) for kind, objs in kinds.items()
                }
                for org, kinds in self._orgs.items()
            },
        }
        self._data_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._data_file.parent, prefix=self._data_file.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self._data_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
