"""The renderings of an environment diff document (EnvDiff.to_dict()): text and JSON."""

from __future__ import annotations

import json
from typing import Any

from vapiops.output.values import field_lines, painter

NO_DIFFERENCES = "No differences."


def render_json(doc: dict[str, Any]) -> str:
    """The report document (EnvDiff.to_dict()): one JSON object and a newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def summary_line(doc: dict[str, Any]) -> str:
    """`3 only in staging, 1 only in prod, 2 differ.` or `No differences.`"""
    s = doc["summary"]
    if not (s["only_in_a"] or s["only_in_b"] or s["differ"]):
        return NO_DIFFERENCES
    return f"{s['only_in_a']} only in {doc['env_a']}, {s['only_in_b']} only in {doc['env_b']}, {s['differ']} differ."


def render_text(doc: dict[str, Any], *, color: bool = False) -> str:
    """Terraform-like: `-` only in a, `+` only in b, `~` differs with each field as `path: a -> b`.

    The last line (never coloured) is the summary, so scripts can match it either way.
    """

    paint = painter(color)
    env_a, env_b = doc["env_a"], doc["env_b"]
    out: list[str] = []
    if doc["resources"]:
        out += [f"Live configuration of {env_a} (-) compared with {env_b} (+), references by name:", ""]
    for r in doc["resources"]:
        if r["status"] == "only_in_a":
            out.append(f"{paint('-', '31')} {r['address']} (only in {env_a}, id {r['ids'][env_a]})")
            continue
        if r["status"] == "only_in_b":
            out.append(f"{paint('+', '32')} {r['address']} (only in {env_b}, id {r['ids'][env_b]})")
            continue
        out.append(f"{paint('~', '33')} {r['address']}")
        for f in r["fields"]:
            out += field_lines(
                {
                    "path": f["path"],
                    "before": f["a"],
                    "after": f["b"],
                    "sensitive": f.get("sensitive", False),
                },
                paint,
                indent="    ",
            )
    if doc["resources"]:
        out.append("")
    out.append(summary_line(doc))
    return "\n".join(out) + "\n"
