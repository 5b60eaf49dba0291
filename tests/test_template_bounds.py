"""Template bombs: every one is a located error within seconds and a few hundred MB, never a hang."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from vapiops.errors import Location, TemplateError
from vapiops.project.config import Environment
from vapiops.project.manifest import Lifecycle, Resource
from vapiops.project.template import render_resource

LONG_LITERAL = "y" * 10_000
BOMBS = [
    ("nested loops", "${% for i in range(100000) %}${% for j in range(100000) %}${% endfor %}${% endfor %}"),
    (
        "nested loops printing",
        "${% for i in range(100000) %}${% for j in range(100000) %}x${% endfor %}${% endfor %}",
    ),
    ("center filter", "${{ 'x'|center(10**9) }}"),
    ("center literal width", "a ${{ 'x'|center(1000000000) }}"),
    ("indent filter", "${{ 'x'|indent(10**9) }}"),
    ("indent many lines", "${{ ('\\n' * 1000000)|indent(1000) }}"),
    ("str.format width", "${{ '{:0999999999}'.format(1) }}"),
    ("str.format nested width", "${{ '{:{}}'.format(1, 10**9) }}"),
    ("str.format precision", "${{ '{:.999999999f}'.format(1.0) }}"),
    ("percent width", "${{ '%0999999999d' % 1 }}"),
    ("percent star width", "${{ '%*d' % (10**9, 1) }}"),
    ("format filter", "${{ '%0999999999d'|format(1) }}"),
    ("tilde concatenation", "${% set a = 'x' * 1000000 %}${% set b = a ~ a ~ a ~ a ~ a %}${{ b ~ b }}"),
    (
        "tilde in an expression",
        "${{ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ 'x' }}",
    ),
    (
        "namespace doubling",
        "${% set ns = namespace(x='ab') %}${% for i in range(64) %}${% set ns.x = ns.x ~ ns.x %}${% endfor %}${{ ns.x }}",
    ),
    ("join of repeated references", "${{ (['x' * 1000000] * 1000)|join }}"),
    ("list of repeated references", "${{ ['x' * 100000] * 100000 }}"),
    ("str.ljust", "${{ 'x'.ljust(10**9) }}"),
    ("str.zfill", "${{ '1'.zfill(10**9) }}"),
    ("replace widening", "${{ ('x' * 1000000)|replace('x', 'yyyy') }}"),
    ("wordwrap wrapstring", "${{ ('x ' * 500000)|wordwrap(1, wrapstring='y' * 100) }}"),
    ("loop over a long literal", "${% for i in range(100000) %}" + LONG_LITERAL + "${% endfor %}"),
    (
        "exponential macro recursion",
        "${% macro f(n) %}${% if n %}${{ f(n - 1) }}${{ f(n - 1) }}${% endif %}${% endmacro %}${{ f(60) }}",
    ),
    ("power", "${{ 10 ** 1000000 }}"),
    ("repetition", "${{ 'a' * 100000000 }}"),
]


def _resource(text: str) -> Resource:
    return Resource(
        kind="assistant",
        name="bomb",
        spec={"firstMessage": text},
        lifecycle=Lifecycle(),
        environments=None,
        overrides={},
        where=Location("resources/bomb.yaml", 3),
        lines={("spec", "firstMessage"): 4},
    )


@pytest.mark.parametrize("text", [t for _, t in BOMBS], ids=[n for n, _ in BOMBS])
def test_a_template_bomb_is_a_located_error_within_seconds_and_memory(tmp_path, text):
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TemplateError) as info:
            render_resource(_resource(text), Environment("dev"), tmp_path)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 5.0
    assert peak < 300 * 1024 * 1024
    assert str(info.value.where) == "resources/bomb.yaml:4"
    assert "spec.firstMessage" in info.value.message


@pytest.mark.parametrize(
    "text, expected",
    [
        ("${% for i in range(1000) %}${{ i }},${% endfor %}", ",".join(str(i) for i in range(1000)) + ","),
        ("${{ range(20000)|map('string')|join(',')|length }}", 108889),
        ("${{ 'x'|center(9) }}", "    x    "),
        ("${{ '{:>5}'.format(1) }}", "    1"),
        ("${{ '%05d' % 42 }}", "00042"),
        ("${{ 'a' ~ 'b' ~ 1 }}", "ab1"),
        (
            "${% set ns = namespace(x='') %}${% for i in range(3) %}${% set ns.x = ns.x ~ i %}${% endfor %}${{ ns.x }}",
            "012",
        ),
        ("${{ ('ab\\ncd')|indent(2, true) }}", "  ab\n  cd"),
        ("${{ ['a', 'b']|join('-') }}", "a-b"),
        ("${{ 'x' * 1000 }}", "x" * 1000),
    ],
)
def test_ordinary_templates_stay_within_the_bounds(tmp_path, text, expected):
    assert render_resource(_resource(text), Environment("dev"), tmp_path).spec["firstMessage"] == expected
