"""vapiops.output: golden text/markdown plans, the JSON plan schema, colour, truncation.

The last two tests (marked e2e) render through the real CLI against the sandbox: a 2,060-resource
markdown plan, and a JSON plan holding every action and sensitive fields.

Golden files live in tests/golden/<case>.txt and <case>.md. After an intended change to the output,
regenerate them with `VAPIOPS_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py` and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import (
    BASE,
    HOOK_TOKEN,
    HOOK_TOKEN_2,
    OPENAI_KEY,
    PIN,
    PLAN_SCHEMA,
    SECRETS,
    edit,
    write_file,
    writes,
)
from conftest import assert_markdown_balanced as assert_balanced

from vapiops.model import ABSENT, SENSITIVE, Action, Change, FieldChange, Plan, Reason
from vapiops.output import render_json, render_markdown, render_text
from vapiops.output.markdown import TABLE_SHARE

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("VAPIOPS_UPDATE_GOLDEN") == "1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

PROMPT = (
    "You are the support agent for Acme.\n"
    "Greet the caller by name: {{ customer.name }}.\n"
    "Ask for the order number.\n"
    "Look the order up with the lookup-order tool.\n"
    "Never promise a refund.\n"
    "Keep answers under two sentences.\n"
    "End the call politely.\n"
)


# ---------------------------------------------------------------------------------------------
# Plans, built from the real model


def plan_create() -> Plan:
    return Plan(
        "dev",
        changes=[
            Change(
                "assistant/support",
                "assistant",
                "support",
                Action.CREATE,
                None,
                [
                    FieldChange("firstMessage", ABSENT, "Hi, this is Acme support."),
                    FieldChange(
                        "model",
                        ABSENT,
                        {
                            "provider": "openai",
                            "model": "gpt-4o",
                            "temperature": 0.3,
                            "messages": [{"role": "system", "content": PROMPT}],
                            "toolIds": ["lookup-order"],
                        },
                    ),
                    FieldChange("name", ABSENT, "support"),
                    FieldChange("voice", ABSENT, {"provider": "11labs", "voiceId": "burt"}),
                ],
            )
        ],
    )


def plan_update_prompt() -> Plan:
    new_prompt = PROMPT.replace("Never promise a refund.\n", "Offer a refund when the order is late.\n")
    return Plan(
        "prod",
        changes=[
            Change(
                "assistant/support",
                "assistant",
                "support",
                Action.UPDATE,
                "0b7d5e0a-5c1f-4a37-9a50-6c3f0d1e2a11",
                [
                    FieldChange("firstMessage", "Hi.", "Hi, this is Acme support."),
                    FieldChange("model.messages[0].content", PROMPT, new_prompt),
                    FieldChange("model.temperature", 0.3, ABSENT),
                    FieldChange("model.toolIds", ["lookup-order"], ["lookup-order", "refund"]),
                    FieldChange("voice.speed", ABSENT, 1.1),
                ],
            )
        ],
    )


def plan_delete() -> Plan:
    return Plan(
        "prod",
        changes=[
            Change(
                "tool/old-lookup", "tool", "old-lookup", Action.DELETE, "9f0c2b7e-1111-4c2d-8e3f-000000000001"
            ),
            Change(
                "structured-output/call-outcome",
                "structured-output",
                "call-outcome",
                Action.DELETE,
                "9f0c2b7e-2222-4c2d-8e3f-000000000002",
                note="deleted from the manifests",
            ),
        ],
    )


def plan_replace() -> Plan:
    return Plan(
        "prod",
        changes=[
            Change(
                "assistant/support",
                "assistant",
                "support",
                Action.UPDATE,
                "a-1",
                [],  # references are shown by name: the name stays, only the ID behind it changes
                reason=Reason.REPOINT,
                detail="repoint to replaced tool/lookup",
            ),
            Change(
                "tool/lookup",
                "tool",
                "lookup",
                Action.REPLACE,
                "t-1",
                [
                    FieldChange("type", "function", "apiRequest"),
                    FieldChange("url", ABSENT, "https://x.test/o"),
                ],
                reason=Reason.CANNOT_UPDATE,
                detail="type",
            ),
        ],
    )


def plan_sensitive() -> Plan:
    return Plan(
        "prod",
        changes=[
            Change(
                "tool/lookup",
                "tool",
                "lookup",
                Action.UPDATE,
                "t-1",
                [
                    FieldChange("server.headers.Authorization", SENSITIVE, SENSITIVE, sensitive=True),
                    FieldChange("server.headers.X-Api-Key", ABSENT, SENSITIVE, sensitive=True),
                    FieldChange("server.url", "https://old.test/hook", "https://new.test/hook"),
                ],
            ),
            Change(
                "tool/notify",
                "tool",
                "notify",
                Action.CREATE,
                None,
                [
                    FieldChange("server.headers.Authorization", ABSENT, SENSITIVE, sensitive=True),
                    FieldChange("server.url", ABSENT, "https://new.test/notify"),
                    FieldChange("type", ABSENT, "apiRequest"),
                ],
            ),
        ],
    )


def plan_nested_json() -> Plan:
    before = {
        "type": "object",
        "properties": {"orderId": {"type": "string"}, "email": {"type": "string", "format": "email"}},
        "required": ["orderId"],
    }
    after = copy.deepcopy(before)
    after["properties"]["orderId"]["description"] = "The order number the caller reads out"
    after["required"] = ["orderId", "email"]
    return Plan(
        "prod",
        changes=[
            Change(
                "structured-output/call-outcome",
                "structured-output",
                "call-outcome",
                Action.UPDATE,
                "so-1",
                [FieldChange("schema", before, after)],
            )
        ],
    )


def plan_warnings() -> Plan:
    return Plan(
        "dev",
        changes=[
            Change(
                "tool/lookup",
                "tool",
                "lookup",
                Action.CREATE,
                None,
                [FieldChange("type", ABSENT, "function")],
            )
        ],
        warnings=[
            'tool/lookup: a live tool named "lookup" is not managed (id t-9); '
            "adopt it with `vapiops import tool/lookup t-9`",
            "assistant/support: <details> in a warning must not break the comment",
        ],
    )


def plan_no_changes() -> Plan:
    return Plan("prod")


def plan_mixed() -> Plan:
    changes = plan_update_prompt().changes + plan_create().changes[:0] + plan_replace().changes[1:]
    changes += plan_delete().changes[:1] + plan_warnings().changes
    return Plan("staging", changes=changes, warnings=["one warning"])


def plan_many(count: int, prompt_lines: int = 3) -> Plan:
    """A big plan: every third change an update with a prompt diff, the rest creates and deletes."""
    changes = []
    for i in range(count):
        name = f"res-{i:04d}"
        if i % 3 == 0:
            old = "\n".join(f"line {j} of prompt {i}" for j in range(prompt_lines)) + "\n"
            fields = [FieldChange("model.messages[0].content", old, old.replace("line 1 ", "LINE one "))]
            changes.append(Change(f"assistant/{name}", "assistant", name, Action.UPDATE, f"id-{i}", fields))
        elif i % 3 == 1:
            fields = [
                FieldChange("name", ABSENT, name),
                FieldChange("firstMessage", ABSENT, f"Hello from {i}"),
            ]
            changes.append(Change(f"assistant/{name}", "assistant", name, Action.CREATE, None, fields))
        else:
            changes.append(Change(f"tool/{name}", "tool", name, Action.DELETE, f"id-{i}"))
    return Plan("prod", changes=changes)


CASES: dict[str, Callable[[], Plan]] = {
    "create": plan_create,
    "update_prompt": plan_update_prompt,
    "delete": plan_delete,
    "replace": plan_replace,
    "sensitive": plan_sensitive,
    "nested_json": plan_nested_json,
    "warnings": plan_warnings,
    "no_changes": plan_no_changes,
    "mixed": plan_mixed,
}


# ---------------------------------------------------------------------------------------------
# Helpers


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with VAPIOPS_UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(PLAN_SCHEMA)
    return jsonschema.Draft202012Validator(PLAN_SCHEMA)


def assert_markdown_balanced(text: str) -> None:
    """Balanced, and the only fences render_markdown writes are ```diff ones."""
    assert_balanced(text, fence_info="diff")


# ---------------------------------------------------------------------------------------------
# Goldens


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_golden(case: str) -> None:
    check_golden(f"{case}.txt", render_text(CASES[case]().to_dict()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_markdown_golden(case: str) -> None:
    text = render_markdown(CASES[case]().to_dict())
    assert_markdown_balanced(text)
    check_golden(f"{case}.md", text)


def test_markdown_truncation_golden() -> None:
    text = render_markdown(plan_many(30).to_dict(), limit=3000)
    assert len(text) <= 3000
    assert_markdown_balanced(text)
    check_golden("truncation.md", text)


# ---------------------------------------------------------------------------------------------
# JSON and its schema


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_round_trips_and_matches_schema(case: str, validator: jsonschema.Draft202012Validator) -> None:
    plan = CASES[case]().to_dict()
    text = render_json(plan)
    assert text.endswith("}\n") and text.count("\n") > 1
    document = json.loads(text)
    assert document == plan
    validator.validate(document)


def test_big_plan_matches_schema(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(json.loads(render_json(plan_many(300).to_dict())))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["changes"][0].update(action="rename"),
        lambda d: d["summary"].update(add=-1),
        lambda d: d["summary"].pop("replace"),
        lambda d: d.update(extra=1),
        lambda d: d["changes"][0].update(id=None),  # an update needs the live id
        lambda d: d["changes"][0]["fields"][0].update(colour="red"),
        lambda d: d["changes"][0]["fields"][0].pop("before"),
        lambda d: d["changes"][0].update(address="not an address"),
        lambda d: d["warnings"].append(3),
        lambda d: d.pop("format_version"),
    ],
)
def test_schema_rejects_malformed_plans(breakage: Callable[[dict[str, Any]], None], validator) -> None:
    document = plan_update_prompt().to_dict()
    document["warnings"] = []
    validator.validate(document)
    breakage(document)
    assert not validator.is_valid(document)


def test_schema_rejects_a_create_with_an_id_and_a_leaked_secret(validator) -> None:
    document = plan_sensitive().to_dict()
    validator.validate(document)
    leaked = copy.deepcopy(document)
    leaked["changes"][0]["fields"][0]["after"] = "Bearer abc"
    assert not validator.is_valid(leaked)
    with_id = copy.deepcopy(document)
    with_id["changes"][1]["id"] = "x"
    assert not validator.is_valid(with_id)


# ---------------------------------------------------------------------------------------------
# Text


def test_text_last_line_is_the_terraform_summary() -> None:
    text = render_text(plan_mixed().to_dict())
    summary = plan_mixed().summary
    assert text.splitlines()[-1] == (
        f"Plan: {summary['add']} to add, {summary['change']} to change, {summary['destroy']} to destroy."
    )
    assert text.splitlines()[-1] == "Plan: 2 to add, 1 to change, 2 to destroy."


def test_text_no_changes() -> None:
    for color in (False, True):
        last = render_text(plan_no_changes().to_dict(), color=color).splitlines()[-1]
        assert last.startswith("No changes.")


def test_text_headers_and_reasons() -> None:
    text = render_text(plan_mixed().to_dict())
    assert "  ~ assistant/support (id 0b7d5e0a-5c1f-4a37-9a50-6c3f0d1e2a11)\n" in text
    assert "  + tool/lookup\n" in text
    assert "  - tool/old-lookup (id 9f0c2b7e-1111-4c2d-8e3f-000000000001)\n" in text
    assert "-/+ tool/lookup (id t-1)\n" in text
    assert "# tool/lookup must be replaced: type cannot change in place" in text


def test_text_warnings_come_before_the_summary() -> None:
    lines = render_text(plan_warnings().to_dict()).splitlines()
    warning_at = [i for i, line in enumerate(lines) if line.startswith("Warning: ")]
    assert len(warning_at) == 2
    assert max(warning_at) < len(lines) - 1
    assert lines[-1] == "Plan: 1 to add, 0 to change, 0 to destroy."


def test_text_prompt_diff_keeps_two_lines_of_context() -> None:
    old = "".join(f"line {i}\n" for i in range(20))
    new = old.replace("line 10\n", "line ten\n")
    plan = Plan(
        "dev",
        changes=[Change("assistant/a", "assistant", "a", Action.UPDATE, "id", [FieldChange("p", old, new)])],
    )
    lines = render_text(plan.to_dict()).splitlines()
    body = [line.strip() for line in lines if line.startswith("        ")]
    assert body == ["@@ -9,5 +9,5 @@", "line 8", "line 9", "-line 10", "+line ten", "line 11", "line 12"]


def test_text_absent_sides() -> None:
    text = render_text(plan_update_prompt().to_dict())
    assert "      model.temperature: 0.3 -> (absent)\n" in text
    assert "      voice.speed: (absent) -> 1.1\n" in text


GREETING = (
    "Hi, thanks for calling Acme support. This call may be recorded for quality and training. "
    "Tell me your order number and I will look it up; say agent at any time to reach a person."
)


def test_a_long_created_string_is_shown_whole() -> None:
    plan = Plan(
        "dev",
        changes=[
            Change(
                "assistant/a",
                "assistant",
                "a",
                Action.CREATE,
                None,
                [FieldChange("firstMessage", ABSENT, GREETING)],
            )
        ],
    )
    assert f"firstMessage: {json.dumps(GREETING)}" in render_text(plan.to_dict())


def test_a_long_one_line_change_is_a_word_wrapped_diff_of_both_whole_texts() -> None:
    after = GREETING.replace("may be recorded", "is recorded")
    plan = Plan(
        "dev",
        changes=[
            Change(
                "assistant/a",
                "assistant",
                "a",
                Action.UPDATE,
                "i",
                [FieldChange("firstMessage", GREETING, after)],
            )
        ],
    )
    for render in (render_text, render_markdown):
        lines = render(plan.to_dict()).splitlines()
        removed = " ".join(
            line.strip()[1:].strip() for line in lines if line.strip().startswith("-") and "recorded" in line
        )
        added = " ".join(
            line.strip()[1:].strip() for line in lines if line.strip().startswith("+") and "recorded" in line
        )
        assert "may be recorded" in removed and "is recorded" in added
        assert "…" not in "\n".join(lines)
        # Every word of both versions is on screen: nothing is cut.
        shown = " ".join(lines)
        assert all(word in shown for word in (GREETING + " " + after).split())


def test_one_long_word_change_still_shows_where_it_changed() -> None:
    before, after = "t" * 300 + "OLD" + "u" * 300, "t" * 300 + "NEW" + "u" * 300
    plan = Plan(
        "dev",
        changes=[Change("tool/t", "tool", "t", Action.UPDATE, "i", [FieldChange("token", before, after)])],
    )
    line = next(line for line in render_text(plan.to_dict()).splitlines() if "token:" in line)
    assert "OLD" in line and "NEW" in line and len(line) < 200


def test_create_flattens_nested_objects_and_shows_multiline_blocks() -> None:
    text = render_text(plan_create().to_dict())
    assert '      model.messages[0].role: "system"\n' in text
    assert '      model.toolIds: ["lookup-order"]\n' in text
    assert "      model.messages[0].content: |\n          You are the support agent for Acme.\n" in text


def test_flattening_stops_at_a_reasonable_depth() -> None:
    deep = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    plan = Plan(
        "dev", changes=[Change("tool/t", "tool", "t", Action.CREATE, None, [FieldChange("x", ABSENT, deep)])]
    )
    text = render_text(plan.to_dict())
    assert '      x.a.b.c.d: {"e": {"f": 1}}\n' in text


def test_odd_keys_are_quoted_in_paths() -> None:
    plan = Plan(
        "dev",
        changes=[
            Change(
                "tool/t",
                "tool",
                "t",
                Action.CREATE,
                None,
                [FieldChange("meta", ABSENT, {"a.b": 1, "c d": 2})],
            )
        ],
    )
    text = render_text(plan.to_dict())
    assert '      meta["a.b"]: 1\n' in text and '      meta["c d"]: 2\n' in text


def test_control_characters_in_prompts_are_escaped() -> None:
    plan = Plan(
        "dev",
        changes=[
            Change(
                "assistant/a",
                "assistant",
                "a",
                Action.UPDATE,
                "i",
                [FieldChange("p", "a\nb\n", "a\n\x1b[2Jb\n")],
            )
        ],
    )
    text = render_text(plan.to_dict())
    assert "\x1b" not in text and "+\\x1b[2Jb" in text


def test_line_ending_only_change_is_still_shown() -> None:
    plan = Plan(
        "dev",
        changes=[
            Change("assistant/a", "assistant", "a", Action.UPDATE, "i", [FieldChange("p", "a\nb", "a\nb\n")])
        ],
    )
    assert '      p: "a\\nb" -> "a\\nb\\n"\n' in render_text(plan.to_dict())


def test_renderers_do_not_mutate_the_plan() -> None:
    plan = plan_mixed().to_dict()
    kept = copy.deepcopy(plan)
    render_text(plan, color=True)
    render_markdown(plan, limit=2000)
    render_json(plan)
    assert plan == kept


# ---------------------------------------------------------------------------------------------
# Colour


def test_no_colour_by_default() -> None:
    for case in CASES.values():
        assert "\x1b" not in render_text(case().to_dict())


def test_colour_marks_actions_and_diff_lines() -> None:
    text = render_text(plan_mixed().to_dict(), color=True)
    assert "  \x1b[33m~\x1b[0m assistant/support" in text
    assert "  \x1b[32m+\x1b[0m tool/lookup" in text
    assert "  \x1b[31m-\x1b[0m tool/old-lookup" in text
    assert "\x1b[35m-/+\x1b[0m tool/lookup" in text
    assert "\x1b[31m-Never promise a refund.\x1b[0m" in text
    assert "\x1b[32m+Offer a refund when the order is late.\x1b[0m" in text
    assert "\x1b[1;33mWarning:\x1b[0m one warning" in text
    assert text.splitlines()[-1] == "Plan: 2 to add, 1 to change, 2 to destroy."


@pytest.mark.parametrize("case", sorted(CASES))
def test_colour_changes_nothing_but_colour(case: str) -> None:
    plan = CASES[case]().to_dict()
    assert ANSI.sub("", render_text(plan, color=True)) == render_text(plan)


# ---------------------------------------------------------------------------------------------
# Sensitive values


def test_sensitive_values_are_never_shown_even_if_a_plan_carries_them() -> None:
    plan = plan_sensitive().to_dict()
    # Defence in depth: a buggy planner leaking a value into a sensitive field must not reach output.
    plan["changes"][0]["fields"][0]["before"] = "Bearer old-secret"
    plan["changes"][0]["fields"][0]["after"] = "Bearer new-secret"
    plan["changes"][1]["fields"][0]["after"] = {"token": "nested-secret"}
    for text in (render_text(plan), render_text(plan, color=True), render_markdown(plan)):
        assert "secret" not in text
        assert SENSITIVE in text


def test_sensitive_fields_render_as_sensitive() -> None:
    text = render_text(plan_sensitive().to_dict())
    assert "      server.headers.Authorization: (sensitive) -> (sensitive)\n" in text
    assert "      server.headers.X-Api-Key: (absent) -> (sensitive)\n" in text
    markdown = render_markdown(plan_sensitive().to_dict())
    assert "@@ server.headers.Authorization @@\n-(sensitive)\n+(sensitive)\n" in markdown
    assert "+server.headers.Authorization: (sensitive)\n" in markdown


# ---------------------------------------------------------------------------------------------
# Markdown


def test_markdown_structure() -> None:
    text = render_markdown(plan_mixed().to_dict())
    assert text.startswith("### vapiops plan — `staging`\n")
    assert "| Action | Resource | Fields changed |" in text
    assert "| ~ update | <code>assistant/support</code> |" in text
    assert "<details><summary>~ <code>assistant/support</code> (update)</summary>\n\n```diff\n" in text
    assert (
        "<details><summary>-/+ <code>tool/lookup</code> (replace: type cannot change in place)</summary>"
        in text
    )
    assert "@@ model.messages[0].content @@\n@@ -3,5 +3,5 @@\n" in text
    assert "\n-Never promise a refund.\n+Offer a refund when the order is late.\n" in text
    assert text.count("<details>") == text.count("</details>") == len(plan_mixed().changes)


def test_markdown_no_changes() -> None:
    text = render_markdown(plan_no_changes().to_dict())
    assert "**No changes.**" in text and "<details>" not in text and "|" not in text


def test_markdown_fence_survives_backticks_in_values() -> None:
    old = "Answer in markdown.\n```\ncode\n```\nThen stop.\n"
    new = old.replace("Then stop.", "Then stop. ````` ok")
    plan = Plan(
        "dev",
        changes=[
            Change(
                "assistant/a",
                "assistant",
                "a",
                Action.UPDATE,
                "i",
                [FieldChange("model.messages[0].content", old, new)],
            ),
            Change(
                "assistant/b",
                "assistant",
                "b",
                Action.CREATE,
                None,
                [FieldChange("firstMessage", ABSENT, old)],
            ),
        ],
    )
    text = render_markdown(plan.to_dict())
    assert "\n``````diff\n" in text  # longer than the five-backtick run
    assert "\n````diff\n" in text  # longer than the three-backtick lines
    assert_markdown_balanced(text)


def test_markdown_escapes_html_in_warnings_and_reasons() -> None:
    plan = plan_warnings()
    plan.changes[0].note = "</summary></details> oops"
    text = render_markdown(plan.to_dict())
    assert "&lt;details&gt; in a warning" in text
    assert "(create: &lt;/summary&gt;&lt;/details&gt; oops)" in text
    assert_markdown_balanced(text)


def test_markdown_2000_changes_fit_in_one_comment() -> None:
    plan = plan_many(2000).to_dict()
    text = render_markdown(plan)
    assert len(text) < 65_536 and len(text) <= 65_000
    assert_markdown_balanced(text)
    shown = text.count("<details>")
    # The table alone is too long for 2,000 rows: it is cut, and every section is left out.
    assert re.search(r"\| … \| _\d+ more resources_ \| \|\n", text)
    assert f"{2000 - shown} more resources not shown (plan too large for one comment)" in text
    assert text.rstrip().endswith("run `vapiops plan` locally for the full plan._")


def test_markdown_truncation_keeps_whole_sections() -> None:
    plan = plan_many(300, prompt_lines=30).to_dict()
    full = render_markdown(plan, limit=10**9)
    assert "more resources not shown" not in full and len(full) > 65_000
    for limit in (30_000, 50_000, 65_000):
        text = render_markdown(plan, limit=limit)
        assert len(text) <= limit
        assert_markdown_balanced(text)
        shown = text.count("<details>")
        assert 0 < shown < 300
        assert "more resources_" not in text  # the whole table fits
        assert f"{300 - shown} more resources not shown" in text
        # Sections are whole and in order: the output minus the note is a prefix of the full comment's sections.
        sections = re.findall(r"<details>.*?</details>\n\n", text, re.S)
        assert sections == re.findall(r"<details>.*?</details>\n\n", full, re.S)[:shown]


def test_markdown_table_lists_every_resource_when_it_fits() -> None:
    plan = plan_many(120, prompt_lines=60).to_dict()
    text = render_markdown(plan, limit=20_000)
    assert text.count("\n| ") == 121  # header + 120 rows; separator line starts with "|---"
    assert "more resources_" not in text


def test_markdown_warnings_stay_separate_and_within_the_limit() -> None:
    text = render_markdown(plan_warnings().to_dict())
    assert "the comment\n\n| Action" in text
    assert "t-9`\n\n> **Warning:** assistant/support" in text
    noisy = Plan("prod", changes=plan_many(50).changes, warnings=[f"warning number {i}" for i in range(5000)])
    text = render_markdown(noisy.to_dict(), limit=20_000)
    assert len(text) <= 20_000
    assert_markdown_balanced(text)
    assert re.search(r"> _…and \d+ more warnings; run `vapiops plan` to see them._\n", text)
    assert "| Action | Resource | Fields changed |" in text


def test_markdown_no_changes_keeps_warnings() -> None:
    text = render_markdown(Plan("prod", warnings=["state lists tool/x, already gone"]).to_dict())
    assert text.endswith("matches the manifests.\n\n> **Warning:** state lists tool/x, already gone\n")


def test_markdown_change_without_fields_shows_its_reason() -> None:
    text = render_markdown(plan_replace().to_dict())
    assert "```diff\n repoint to replaced tool/lookup\n```" in text


def test_drift_report_is_worded_as_what_happened():
    plan = Plan(
        "prod",
        refresh_only=True,
        drift=[
            Change(
                "assistant/support",
                "assistant",
                "support",
                Action.UPDATE,
                "id-1",
                [FieldChange("firstMessage", "Hi", "Hello")],
                reason=Reason.CHANGED_OUTSIDE,
            ),
            Change("tool/lookup", "tool", "lookup", Action.DELETE, "id-2", [], reason=Reason.DELETED_OUTSIDE),
        ],
    ).to_dict()
    jsonschema.validate(plan, PLAN_SCHEMA)
    assert plan["changes"] == [] and [c["address"] for c in plan["drift"]] == [
        "assistant/support",
        "tool/lookup",
    ]
    assert plan["summary"] == {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    markdown = render_markdown(plan)
    assert markdown.startswith("### vapiops drift report")
    assert "**Drift:** 1 changed, 1 deleted outside vapiops." in markdown
    assert "to change" not in markdown and "~ update |" not in markdown
    assert "| ~ updated outside | <code>assistant/support</code>" in markdown
    assert "(changed outside vapiops)" in markdown and "(deleted outside vapiops)" in markdown
    assert_balanced(markdown)
    text = render_text(plan)
    assert 'Objects have changed outside vapiops in environment "prod"' in text
    assert "# assistant/support changed outside vapiops" in text
    assert "will be" not in text
    assert text.rstrip().splitlines()[-1] == "Drift: 1 changed, 1 deleted outside vapiops."
    assert render_text(Plan("prod", refresh_only=True).to_dict()).startswith(
        "No changes. The live objects match"
    )


# ---------------------------------------------------------------------------------------------
# Markdown caps for a pull-request comment, and the plan documents of the real CLI


def _many(count: int) -> Plan:
    changes = [
        Change(
            f"tool/t{i:04d}",
            "tool",
            f"t{i:04d}",
            Action.UPDATE,
            f"id-{i}",
            [FieldChange("function.description", f"old {i}\nline 2\n", f"new {i}\nline 2\n")],
        )
        for i in range(count)
    ]
    return Plan("prod", changes=changes)


@pytest.mark.parametrize("limit", [10_000, 65_000])
def test_markdown_caps_a_table_too_long_for_the_comment(limit):
    text = render_markdown(_many(2000).to_dict(), limit=limit)
    assert len(text) <= limit
    assert_markdown_balanced(text)
    table = text[text.index("| Action |") : text.index("\n\n", text.index("| Action |"))]
    assert len(table) <= limit * TABLE_SHARE
    shown = text.count("<details>")
    assert len(text) - len(table) > limit // 2 and shown > 10
    (more,) = re.findall(r"_(\d+) more resources_", table)
    assert table.count("\n| ~ update |") + int(more) == 2000
    assert text.endswith(
        f"_{2000 - shown} more resources not shown (plan too large for one comment); "
        "run `vapiops plan` locally for the full plan._\n"
    )


def test_markdown_keeps_a_whole_table_that_leaves_room_for_sections():
    text = render_markdown(_many(300).to_dict(), limit=30_000)
    assert len(text) <= 30_000 and "more resources_" not in text
    assert text.count("\n| ~ update |") == 300
    assert text.count("<details>") > 0


@pytest.mark.e2e
def test_markdown_plan_of_many_resources_fits_one_comment(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    prompt = "\n".join(f"          Rule {j}: answer briefly and politely." for j in range(12))
    docs = [
        f"kind: assistant\nname: a{i:04d}\nspec:\n  model:\n    provider: openai\n    model: gpt-4o\n"
        f"    messages:\n      - role: system\n        content: |\n{prompt}\n"
        for i in range(60)
    ]
    docs += [f"kind: tool\nname: t{i:04d}\nspec:\n  type: endCall\n" for i in range(2000)]
    write_file(root, "resources/many.yaml", "---\n".join(docs))
    text = run("plan", root, "--format", "markdown", "--detailed-exitcode", code=2).stdout
    assert len(text) < 65_536
    assert_markdown_balanced(text)
    assert "**Plan:** 2060 to add, 0 to change, 0 to destroy." in text
    table = text[text.index("| Action |") : text.index("\n\n", text.index("| Action |"))]
    assert len(table) <= 65_536 * TABLE_SHARE
    (more,) = re.findall(r"\| … \| _(\d+) more resources_ \| \|", table)
    rows = table.count("\n| + create |") + table.startswith("| + create |")
    assert rows + int(more) == 2060
    shown = text.count("<details>")
    assert shown >= 20  # sections fill the rest of the comment
    assert f"_{2060 - shown} more resources not shown (plan too large for one comment)" in text
    assert "<details><summary>+ <code>assistant/a0000</code> (create)</summary>" in text
    assert writes(sandbox) == []


@pytest.mark.e2e
def test_json_plan_validates_for_every_action_and_sensitive_fields(tmp_path, run, sandbox):
    root = tmp_path / "proj"
    write_file(root, "resources/base.yaml", BASE)
    write_file(root, "resources/secrets.yaml", SECRETS)
    secrets = {"HOOK_TOKEN": HOOK_TOKEN, "OPENAI_KEY": OPENAI_KEY, "PIN": PIN}
    validator = jsonschema.Draft202012Validator(PLAN_SCHEMA)
    first = run("plan", root, "--format", "json", env=secrets).stdout
    validator.validate(json.loads(first))
    run("apply", root, "--auto-approve", env=secrets)
    base = root / "resources/base.yaml"
    edit(base, "Hi, support here.", "Support, hi.")  # update
    edit(base, "type: endCall", "type: dtmf")  # replace (and a repoint of assistant/sales)
    text = base.read_text()
    base.write_text(
        text.replace(
            text[text.index("kind: tool\nname: lookup") : text.index("kind: tool\nname: hangup")], ""
        )
    )
    edit(base, "toolIds: [lookup]", "toolIds: []")  # tool/lookup deleted
    write_file(root, "resources/new.yaml", "kind: tool\nname: fresh\nspec:\n  type: endCall\n")  # create
    result = run(
        "plan",
        root,
        "--format",
        "json",
        "--detailed-exitcode",
        code=2,
        env={**secrets, "HOOK_TOKEN": HOOK_TOKEN_2},
    )
    doc = json.loads(result.stdout)  # stdout is one JSON object and nothing else
    validator.validate(doc)
    actions = {c["address"]: c["action"] for c in doc["changes"]}
    assert actions == {
        "tool/fresh": "create",
        "tool/lookup": "delete",
        "tool/hangup": "replace",
        "assistant/support": "update",
        "assistant/sales": "update",
        "tool/hook": "update",
    }
    assert doc["summary"] == {"add": 2, "change": 3, "destroy": 2, "replace": 1}
    by_address = {c["address"]: c for c in doc["changes"]}
    assert by_address["tool/fresh"]["id"] is None and by_address["tool/lookup"]["id"]
    assert by_address["tool/hook"]["fields"][0]["sensitive"] is True
    for change in doc["changes"]:
        for field in change["fields"]:
            assert re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+|\[\d+\])*", field["path"]), field["path"]
    assert HOOK_TOKEN_2 not in result.stdout and HOOK_TOKEN not in result.stdout
    # The schema is strict enough to catch a create with an id (or an update without one).
    broken = json.loads(result.stdout)
    broken["changes"][0]["id"] = "oops" if broken["changes"][0]["action"] == "create" else None
    assert not validator.is_valid(broken)


def test_a_repoint_shows_the_name_on_both_sides_in_text_and_markdown() -> None:
    old_id = "10000000-0000-4000-8000-000000000002"
    plan = Plan(
        "dev",
        changes=[
            Change(
                "assistant/support",
                "assistant",
                "support",
                Action.UPDATE,
                "i",
                [FieldChange("model.toolIds[0]", old_id, "end-call")],
                reason=Reason.REPOINT,
                detail="repoint to replaced tool/end-call",
            )
        ],
    )
    doc = plan.to_dict()
    assert f'model.toolIds[0]: "end-call (old id {old_id})" -> "end-call (new id)"' in render_text(doc)
    markdown = render_markdown(doc)
    assert f'-"end-call (old id {old_id})"' in markdown and '+"end-call (new id)"' in markdown
    assert doc["changes"][0]["fields"][0]["before"] == old_id  # the JSON document keeps the ID
