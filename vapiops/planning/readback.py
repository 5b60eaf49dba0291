"""Read-back after a write: which declared values the API's response changed or dropped. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vapiops.model import ABSENT, SENSITIVE
from vapiops.paths import Path, format_path
from vapiops.planning.diff import compare


@dataclass(frozen=True)
class ReadBack:
    """One declared value the API did not keep as sent. Secrets are SENSITIVE; a dropped value
    is returned=ABSENT (shown as null in JSON)."""

    address: str
    path: str
    sent: Any
    returned: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "path": self.path,
            "sent": self.sent,
            "returned": None if self.returned is ABSENT else self.returned,
            "dropped": self.returned is ABSENT,
        }

    def __str__(self) -> str:
        if self.returned is ABSENT:
            return f"{self.address}: {self.path}: sent {_show(self.sent)}, but the API dropped it"
        return f"{self.address}: {self.path}: sent {_show(self.sent)}, but the API returned {_show(self.returned)}"


def _show(value: Any) -> str:
    import json

    return SENSITIVE if value is SENSITIVE else json.dumps(value, ensure_ascii=False)


def declared_part(sent: Any, declared: Any) -> Any:
    """The part of a sent body that the manifest declares (declared: the address's recorded
    `applied`, whose shape is what counts; its secret values are hashes). Lists of another length
    than the declared one are taken whole."""
    if isinstance(sent, dict) and isinstance(declared, dict):
        return {k: declared_part(v, declared[k]) for k, v in sent.items() if k in declared}
    if isinstance(sent, list) and isinstance(declared, list) and len(sent) == len(declared):
        return [declared_part(s, d) for s, d in zip(sent, declared, strict=True)]
    return sent


def kept_as_sent(sent: Any, returned: Any) -> bool:
    """Whether `returned` holds every value of `sent` exactly: same types, same values, same
    list order, extra keys allowed. Then the ownership rules find no difference either; any other
    case (1 sent, 1.0 returned; a reordered ID array; a masked secret) is left to `compare`."""
    if type(sent) is not type(returned):
        return False
    if isinstance(sent, dict):
        return all(k in returned and kept_as_sent(v, returned[k]) for k, v in sent.items())
    if isinstance(sent, list):
        return len(sent) == len(returned) and all(map(kept_as_sent, sent, returned))
    return bool(sent == returned)


def read_back(
    address: str,
    sent: dict[str, Any],
    response: dict[str, Any],
    *,
    declared: dict[str, Any] | None,
    set_paths: Iterable[str | Path] = (),
    sensitive: Iterable[Path] = (),
) -> list[ReadBack]:
    """Each declared value in `sent` that `response` does not hold as sent, by path.

    Compared under the ownership rules (docs/plan.md): numbers by value, ID arrays as sets, extra
    keys the server filled in ignored, a masked secret taken as kept. Without `declared` (a
    create: its whole body is declared) every sent value counts.
    """
    body = sent if declared is None else declared_part(sent, declared)
    if kept_as_sent(body, response):
        return []  # the usual answer, found without the ownership walk (a tenth of its cost)
    found = compare(body, response, set_paths=set_paths, sensitive=sensitive)
    out = []
    for _, fc in found:
        returned = ABSENT if fc.before is ABSENT or fc.before is None else fc.before
        shown_sent = SENSITIVE if fc.sensitive else fc.after
        shown_returned = returned if returned is ABSENT or not fc.sensitive else SENSITIVE
        out.append(ReadBack(address, fc.path or format_path(()), shown_sent, shown_returned))
    return out
