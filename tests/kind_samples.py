"""One small valid manifest spec per new kind (issue 14), and the one-field change each is tested with.

Shared by the schema tests and the end-to-end lifecycle tests: a table, so each kind is the same row.
References hold manifest names, as manifests write them; `needs` lists the manifests each one names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    kind: str
    spec: dict[str, Any]
    change: tuple[str, Any]  # (top-level field, new value): a one-field update, one PATCH
    needs: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # (kind, name, spec) it references
    replace: tuple[str, Any] | None = None  # (field, new value) that PATCH cannot change
    extra: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # project files it uploads: path -> content


_FAQ_FILES = {
    "files/faq.md": "# FAQ\nQ: Hours? A: 9 to 5.\n",
    "files/faq-v2.md": "# FAQ\nQ: Hours? A: 8 to 6.\n",
}
_FILE = ("file", "faq", {"path": "files/faq.md", "purpose": "knowledge-base-v2"})


_ASSISTANT = ("assistant", "front-desk", {"firstMessage": "Hello."})
_SQUAD = ("squad", "desk", {"members": [{"assistantId": "front-desk"}]})
_SCENARIO_SPEC = {"name": "Refund", "instructions": "Ask for a refund.", "evaluations": []}
_PERSONALITY_SPEC = {"name": "Calm Carl", "assistant": {"firstMessage": "Hi, I need help."}}

SAMPLES = (
    Sample(
        "credential",
        {"provider": "11labs", "apiKey": "sk-sample-not-a-real-key-0001", "name": "Voice key"},
        change=("name", "Voice key EU"),
        replace=("provider", "deepgram"),
    ),
    Sample(
        "phone-number",
        {"provider": "vapi", "name": "Main line", "assistantId": "front-desk"},
        change=("name", "Main line (day)"),
        needs=(_ASSISTANT,),
        replace=("provider", "byo-phone-number"),
    ),
    Sample(
        "eval",
        {
            "type": "chat.mockConversation",
            "messages": [
                {"role": "user", "content": "Where is my order?"},
                {"role": "assistant", "judgePlan": {"type": "exact", "content": "Let me check."}},
            ],
        },
        change=("description", "The order-status opening"),
    ),
    Sample("simulation-personality", _PERSONALITY_SPEC, change=("name", "Calm Carla")),
    Sample("simulation-scenario", _SCENARIO_SPEC, change=("instructions", "Ask for a refund, twice.")),
    Sample(
        "simulation",
        {"name": "Refund, calm", "scenarioId": "refund", "personalityId": "calm"},
        change=("name", "Refund with a calm caller"),
        needs=(
            ("simulation-scenario", "refund", _SCENARIO_SPEC),
            ("simulation-personality", "calm", _PERSONALITY_SPEC),
        ),
    ),
    Sample(
        "simulation-suite",
        {"name": "Nightly", "simulationIds": ["refund-calm"]},
        change=("slackWebhookUrl", "https://hooks.example.com/nightly"),
        needs=(
            ("simulation-scenario", "refund", _SCENARIO_SPEC),
            ("simulation-personality", "calm", _PERSONALITY_SPEC),
            ("simulation", "refund-calm", {"scenarioId": "refund", "personalityId": "calm"}),
        ),
    ),
    Sample("knowledge-base", {"name": "faq", "description": "Shipping FAQ"}, change=("description", "FAQ")),
    Sample(
        "pronunciation-dictionary",
        {"provider": "cartesia", "name": "Brand names", "items": [{"text": "Acme", "alias": "Ack-mee"}]},
        change=("name", "Brand names EU"),
        replace=("provider", "11labs"),
    ),
    Sample(
        "file",
        {"path": "files/faq.md", "purpose": "knowledge-base-v2", "name": "faq"},
        change=("name", "faq v2"),
        replace=("path", "files/faq-v2.md"),  # another content: a new upload
        files=_FAQ_FILES,
    ),
    Sample(
        "knowledge-base",
        {"name": "faq", "files": ["faq"]},
        change=("description", "FAQ"),
        needs=(_FILE,),
        files=_FAQ_FILES,
    ),
)

BY_KIND = {s.kind: s for s in SAMPLES if not s.files}
SQUAD = _SQUAD
ASSISTANT = _ASSISTANT
