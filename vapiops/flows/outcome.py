"""What an apply did: the steps done, failed, skipped and abandoned, read-back findings, and its report."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from vapiops.planning.readback import ReadBack

APPLY_FORMAT_VERSION = "1"


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)  # step keys that succeeded
    failed: dict[str, str] = field(default_factory=dict)  # step key -> error message
    skipped: list[str] = field(default_factory=list)  # step keys never started
    # declared values a write's response did not hold as sent, in the order the calls finished
    readback: list[ReadBack] = field(default_factory=list)

    abandoned: list[str] = field(
        default_factory=list
    )  # step keys still in flight when a stop gave up on them

    def to_dict(self, environment: str) -> dict[str, Any]:
        """The JSON apply report (schemas/apply.schema.json)."""
        return {
            "format_version": APPLY_FORMAT_VERSION,
            "environment": environment,
            "ok": self.ok,
            "done": list(self.done),
            "failed": [{"step": key, "error": message} for key, message in self.failed.items()],
            "skipped": list(self.skipped),
            "readback": [r.to_dict() for r in self.readback],
        }

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.abandoned


def stopped_message(signum: int, result: ApplyResult) -> str:
    name = signal.Signals(signum).name
    text = (
        f"interrupted by {name}: {len(result.done)} call(s) completed and recorded in state, "
        f"{len(result.skipped)} not started"
    )
    if result.failed:
        text += f", {len(result.failed)} failed"
    if result.abandoned:
        text += (
            f", {len(result.abandoned)} abandoned in flight ({', '.join(result.abandoned)}: "
            "a create among them is adopted by the next run)"
        )
    return text + ". Run `vapiops apply` again to carry on."
