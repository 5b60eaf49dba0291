"""Templates: ${{ }} in a sandbox, Liquid untouched, include/secret rules, overrides, speed."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from conftest import time_budget

from vapiops.errors import Location, TemplateError
from vapiops.model import Lifecycle
from vapiops.project.config import Environment, load_project
from vapiops.project.manifest import Resource, load_manifests
from vapiops.project.template import TemplateContext, in_environment, merge, render_resource, render_string

LIQUID = (
    "You are {{ assistant.name }}. Greet {{customer.name}} by name.\n"
    "{% if customer.vip %}Offer the VIP line.{% else %}Be brief.{% endif %}\n"
    "{%- for item in order.items -%}\n  - {{ item.sku | upcase }}{% endfor %}\n"
    "{{#customer}}Hi {{name}}{{/customer}} {{ 'now' | date: '%Y' }} }} %} #} {# liquid comment #}\n"
    "Price: $ {{ price }} and a lone $ sign, {{{ raw }}}\n"
)


def ctx(tmp_path: Path, **env_vars) -> TemplateContext:
    return TemplateContext("dev", env_vars or {"a": 1, "b": "two"}, tmp_path)


def resource(
    spec: dict, overrides: dict | None = None, environments=None, file="resources/a.yaml"
) -> Resource:
    return Resource(
        kind="assistant",
        name="a",
        spec=spec,
        lifecycle=Lifecycle(),
        environments=environments,
        overrides=overrides or {},
        where=Location(file, 1),
        lines={},
    )


# ---------------------------------------------------------------- Liquid survives


def test_liquid_without_marker_is_untouched(tmp_path):
    value, used = render_string(LIQUID, ctx(tmp_path))
    assert value == LIQUID and used is False


def test_liquid_survives_byte_for_byte_next_to_our_templates(tmp_path):
    text = (
        "${# our comment #}Hooks at ${{ vars.b }}.\n"
        + LIQUID
        + "${% if env == 'dev' %}dev only{{ x }}${% endif %}\n"
    )
    value, _ = render_string(text, ctx(tmp_path))
    assert value == "Hooks at two.\n" + LIQUID + "dev only{{ x }}\n"


def test_mixed_variables_in_one_string(tmp_path):
    value, _ = render_string(
        "Hi {{ customer.name }}, env ${{ env }} {{customer.number}}${{ vars.a }}", ctx(tmp_path)
    )
    assert value == "Hi {{ customer.name }}, env dev {{customer.number}}1"


def test_trailing_newlines_are_kept(tmp_path):
    assert render_string("${{ env }}\n\n", ctx(tmp_path))[0] == "dev\n\n"


def test_included_file_is_returned_unrendered(tmp_path):
    body = "Dear {{ customer.name }},\r\n${{ not_a_var }} {% raw %}\n\tend\n"
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.md").write_bytes(body.encode())
    value, _ = render_string("${{ include('prompts/p.md') }}", ctx(tmp_path))
    assert value == body
    value, _ = render_string("Intro {{ x }}\n${{ include('./prompts/p.md') }}", ctx(tmp_path))
    assert value == "Intro {{ x }}\n" + body


# ---------------------------------------------------------------- what is in scope


def test_native_type_for_a_whole_string_expression(tmp_path):
    c = ctx(tmp_path, timeout=30, flag=True, text="30", items=[1, 2], nested={"k": "v"})
    assert render_string("${{ vars.timeout }}", c)[0] == 30
    assert render_string("${{- vars.timeout -}}", c)[0] == 30
    assert render_string("${{ vars.flag }}", c)[0] is True
    assert render_string("${{ vars.text }}", c)[0] == "30"  # a string var stays a string
    assert render_string("${{ vars.items }}", c)[0] == [1, 2]
    assert render_string("${{ vars.nested }}", c)[0] == {"k": "v"}
    assert render_string("${{ vars.timeout * 2 }}", c)[0] == 60
    # anything around the expression makes it a string
    assert render_string(" ${{ vars.timeout }}", c)[0] == " 30"
    assert render_string("${{ vars.timeout }}${{ vars.timeout }}", c)[0] == "3030"
    assert render_string("${{ vars.timeout }}\n", c)[0] == "30\n"


def test_non_json_expression_results_are_refused(tmp_path):
    with pytest.raises(TemplateError, match="not a JSON value"):
        render_string("${{ range(3) }}", ctx(tmp_path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ vars.nope }}", "'vars' has no attribute 'nope' (defined vars: a, b)"),
        ("x ${{ vars.nope }}", "'vars' has no attribute 'nope' (defined vars: a, b)"),
        ("${{ [vars.nope] }}", "'vars' has no attribute 'nope'"),
        ("${{ foo }}", "'foo' is undefined"),
        ("${{ os.environ }}", "'os' is undefined"),
        ("${{ environ['HOME'] }}", "'environ' is undefined"),
        ("${{ env.HOME }}", "no attribute 'HOME'"),
        ("${{ vars.b.nope }}", "no attribute 'nope'"),
        ("${{ 1/0 }}", "ZeroDivisionError"),
        ("${{ vars.a", "syntax error"),
        ("${% include 'x' %}", "use ${{ include('path') }}"),
    ],
)
def test_undefined_names_and_failures(tmp_path, text, expected):
    with pytest.raises(TemplateError) as info:
        render_string(text, ctx(tmp_path))
    assert expected in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "${{ ''.__class__ }}",
        "${{ ''.__class__.__mro__ }}",
        "x ${{ ''.__class__.__mro__[1].__subclasses__() }}",
        "${{ ''['__class__'] }}",
        "${{ cycler.__init__.__globals__ }}",
        "${{ lipsum.__globals__['os'] }}",
        "${{ include.__globals__ }}",
        "${{ secret.__globals__['os'].environ }}",
        "${{ vars.update({'a': 2}) }}",
        "${{ ''.format.__self__ }}",
        "${{ 'a' * 100000000 }}",
        "${{ 10 ** 1000000 }}",
        "${{ (2 ** 1000) ** 1000 }}",
        "${% for i in range(10**9) %}x${% endfor %}",
    ],
)
def test_sandbox_escapes_and_bombs_raise(tmp_path, text):
    with pytest.raises(TemplateError):
        render_string(text, ctx(tmp_path))


def test_secret_reads_the_named_variable_and_marks_use(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-value")
    assert render_string("Bearer ${{ secret('HOOK_TOKEN') }}", ctx(tmp_path)) == ("Bearer s3cr3t-value", True)
    assert render_string("${{ vars.a }}", ctx(tmp_path)) == (1, False)


def test_missing_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(TemplateError) as info:
        render_string("${{ secret('NOT_SET_ANYWHERE') }}", ctx(tmp_path))
    assert info.value.message == "secret NOT_SET_ANYWHERE is not set"


def test_secret_value_never_reaches_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-value")
    with pytest.raises(TemplateError) as info:
        render_string("${{ vars[secret('HOOK_TOKEN')] }}", ctx(tmp_path))
    assert "s3cr3t-value" not in str(info.value)
    assert "the value of secret('HOOK_TOKEN')" in info.value.message


# ---------------------------------------------------------------- include()


def test_include_refuses_to_leave_the_project(tmp_path):
    root = tmp_path / "proj"
    (root / "prompts").mkdir(parents=True)
    (tmp_path / "outside.md").write_text("secret stuff")
    (root / "prompts" / "link.md").symlink_to(tmp_path / "outside.md")
    (root / "prompts" / "dirlink").symlink_to(tmp_path)
    (root / ".env").write_text("TOKEN=x")
    (root / "prompts" / "ok.md").write_text("fine")
    c = TemplateContext("dev", {}, root)
    cases = {
        "../outside.md": "outside the project root",
        "prompts/../../outside.md": "outside the project root",
        str(tmp_path / "outside.md"): "absolute paths are not allowed",
        "/etc/passwd": "absolute paths are not allowed",
        "prompts/link.md": "outside the project root",
        "prompts/dirlink/outside.md": "outside the project root",
        ".env": "hidden files",
        "prompts/missing.md": "no such file",
        "prompts": "no such file",
    }
    for path, expected in cases.items():
        with pytest.raises(TemplateError) as info:
            render_string("${{ include('" + path + "') }}", c)
        assert expected in info.value.message, path
    assert render_string("${{ include('prompts/../prompts/ok.md') }}", c)[0] == "fine"


# ---------------------------------------------------------------- resources, overrides, locations


def test_merge_objects_merge_lists_and_scalars_replace():
    base = {"model": {"provider": "openai", "model": "gpt-4o", "toolIds": ["a", "b"]}, "x": 1, "keep": [1]}
    override = {"model": {"model": "gpt-4.1", "toolIds": ["c"]}, "x": {"now": "object"}, "new": True}
    out = merge(base, override)
    assert out == {
        "model": {"provider": "openai", "model": "gpt-4.1", "toolIds": ["c"]},
        "x": {"now": "object"},
        "keep": [1],
        "new": True,
    }
    assert base["model"]["model"] == "gpt-4o" and override == {
        "model": {"model": "gpt-4.1", "toolIds": ["c"]},
        "x": {"now": "object"},
        "new": True,
    }
    out["keep"].append(2)
    assert base["keep"] == [1]


def test_in_environment():
    assert in_environment(resource({}), "anything")
    assert in_environment(resource({}, environments=("staging", "prod")), "prod")
    assert not in_environment(resource({}, environments=("staging", "prod")), "dev")


def write_project(tmp_path: Path, manifest: str) -> Path:
    (tmp_path / "vapiops.yaml").write_text(
        textwrap.dedent("""\
        environments:
          dev:
            vars: {a: 1, b: 2, hooks: https://dev.example.com, timeout: 20}
          prod:
            vars: {a: 1, b: 2, hooks: https://api.example.com, timeout: 30}
        """)
    )
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "a.yaml").write_text(textwrap.dedent(manifest))
    return tmp_path


MANIFEST = """\
kind: assistant
name: support
spec:
  firstMessage: "Hi {{ customer.name }}, this is ${{ env }}."
  server:
    url: "${{ vars.hooks }}/vapi"
    timeoutSeconds: "${{ vars.timeout }}"
    headers:
      Authorization: "Bearer ${{ secret('HOOK_TOKEN') }}"
  model:
    model: gpt-4o
    toolIds: [a, b]
    messages:
      - role: system
        content: "${{ vars.hooks_url }}"
overrides:
  prod:
    server:
      headers:
        Authorization: plain
    model:
      model: gpt-4.1
      toolIds: [c]
      messages:
        - role: system
          content: "${{ secret('PROD_ONLY') }}"
"""


def test_render_resource_errors_are_located(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok")
    project = load_project(write_project(tmp_path, MANIFEST))
    [res] = load_manifests(project)
    with pytest.raises(TemplateError) as info:
        render_resource(res, project.environment("dev"), project.root)
    assert str(info.value) == (
        "resources/a.yaml:15: template error in spec.model.messages[0].content: "
        "'vars' has no attribute 'hooks_url' (defined vars: a, b, hooks, timeout)"
    )


def test_render_resource_merges_overrides_and_marks_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok")
    monkeypatch.setenv("PROD_ONLY", "p-secret")
    project = load_project(write_project(tmp_path, MANIFEST.replace("vars.hooks_url", "vars.hooks")))
    [res] = load_manifests(project)

    dev = render_resource(res, project.environment("dev"), project.root)
    assert dev.spec["firstMessage"] == "Hi {{ customer.name }}, this is dev."
    assert dev.spec["server"] == {
        "url": "https://dev.example.com/vapi",
        "timeoutSeconds": 20,
        "headers": {"Authorization": "Bearer tok"},
    }
    assert dev.spec["model"]["toolIds"] == ["a", "b"]
    assert dev.sensitive == {("server", "headers", "Authorization")}
    assert res.spec["server"]["url"] == "${{ vars.hooks }}/vapi"  # the raw manifest is untouched

    prod = render_resource(res, project.environment("prod"), project.root)
    assert prod.spec["server"] == {
        "url": "https://api.example.com/vapi",
        "timeoutSeconds": 30,
        "headers": {"Authorization": "plain"},
    }
    assert prod.spec["model"] == {
        "model": "gpt-4.1",
        "toolIds": ["c"],
        "messages": [{"role": "system", "content": "p-secret"}],
    }
    # the overridden secret no longer marks its path; the override's own secret does
    assert prod.sensitive == {("model", "messages", 0, "content")}


def test_only_the_selected_environments_override_is_rendered(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok")
    monkeypatch.delenv("PROD_ONLY", raising=False)
    project = load_project(write_project(tmp_path, MANIFEST.replace("vars.hooks_url", "vars.hooks")))
    [res] = load_manifests(project)
    assert render_resource(res, project.environment("dev"), project.root).spec["model"]["model"] == "gpt-4o"
    with pytest.raises(TemplateError) as info:
        render_resource(res, project.environment("prod"), project.root)
    assert str(info.value).startswith(
        "resources/a.yaml:26: template error in overrides.prod.model.messages[0]"
        ".content: secret PROD_ONLY is not set"
    )


def test_missing_secret_in_spec_is_located(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    project = load_project(write_project(tmp_path, MANIFEST))
    [res] = load_manifests(project)
    with pytest.raises(TemplateError) as info:
        render_resource(res, project.environment("dev"), project.root)
    assert info.value.where == Location("resources/a.yaml", 9)
    assert "spec.server.headers.Authorization: secret HOOK_TOKEN is not set" in info.value.message


def test_keys_are_not_templates(tmp_path):
    res = resource({"${{ env }}": "${{ env }}", "list": ["${{ vars.a }}", 2, None]})
    out = render_resource(res, Environment("dev", vars={"a": 1}), tmp_path)
    assert out.spec == {"${{ env }}": "dev", "list": [1, 2, None]}


# ---------------------------------------------------------------- speed


def test_thousand_manifests_load_and_render_quickly(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.md").write_text("You help {{ customer.name }}.\n")
    docs = []
    for i in range(1000):
        docs.append(
            textwrap.dedent(f"""\
            kind: assistant
            name: a{i}
            spec:
              firstMessage: "Hello {{{{ customer.name }}}}, I am number {i}."
              server: {{url: "${{{{ vars.hooks }}}}/a{i}", headers: {{X-Token: "${{{{ secret('HOOK_TOKEN') }}}}"}}}}
              model:
                provider: openai
                model: gpt-4o
                temperature: 0.{i % 10}
                messages:
                  - role: system
                    content: "${{{{ include('prompts/p.md') }}}}Your id is {i}."
            """)
        )
    for n in range(10):
        (tmp_path / f"m{n}.yaml").write_text("---\n".join(docs[n * 100 : (n + 1) * 100]))
    env = Environment("default", vars={"hooks": "https://x.example.com"})
    start = time.perf_counter()
    project = load_project(tmp_path)
    resources = load_manifests(project)
    rendered = [render_resource(r, env, project.root) for r in resources]
    elapsed = time.perf_counter() - start
    print(f"\n1000 manifests loaded and rendered in {elapsed:.3f}s")
    assert len(rendered) == 1000
    assert rendered[7].spec["server"]["url"] == "https://x.example.com/a7"
    assert (
        rendered[7].spec["model"]["messages"][0]["content"] == "You help {{ customer.name }}.\nYour id is 7."
    )
    # generous for slow CI machines; see the printed number for the real figure
    limit = float(os.environ.get("VAPIOPS_PERF_LIMIT", "3.0"))
    assert elapsed < time_budget(limit)


# ---------------------------------------------------------------- the split fast path agrees with Jinja


@pytest.mark.parametrize(
    "text",
    [
        "Hooks: ${{ vars.b }}/x {{ customer.name }} }} %}",
        "${{ vars.a }}${{ vars.b }}",
        "${{ '}}' }} and {{ liquid }} ${{ \"${{\" }}",
        "multi\nline ${{\n  vars.a + 1\n}} text\n",
        "${{ none }} ${{ [1, 'a'] }} ${{ {'k': 1} }} ${{ 1.50 }} ${{ true }} x",
        "a ${{- vars.a }} b ${{ vars.b -}}   c",
    ],
)
def test_fast_path_matches_a_whole_jinja_render(tmp_path, text):
    from vapiops.project.template import _ENV

    c = ctx(tmp_path)
    assert render_string(text, c)[0] == _ENV.from_string(text).render(**c.scope())


def test_a_literal_dollar_before_liquid(tmp_path):
    c = ctx(tmp_path)
    with pytest.raises(TemplateError) as info:
        render_string("Total: ${{ amount }}", c)
    assert "'amount' is undefined" in info.value.message and "${{ '${{' }}" in info.value.message
    assert render_string("Total: ${{ '${{' }} amount }}", c)[0] == "Total: ${{ amount }}"
    assert render_string("Total: ${{ '$' }}{{ amount }}", c)[0] == "Total: ${{ amount }}"


def test_whitespace_control_blocks_and_raw(tmp_path):
    c = ctx(tmp_path)
    assert render_string("a ${{- vars.a }} b", c)[0] == "a1 b"
    assert render_string("${% set x = vars.a + 1 %}x=${{ x }}", c)[0] == "x=2"
    assert (
        render_string("${% raw %}${{ literal }}${% endraw %} {{ liquid }}", c)[0]
        == "${{ literal }} {{ liquid }}"
    )


def test_data_keys_win_over_dict_methods(tmp_path):
    c = ctx(tmp_path, items=[1, 2], keys="k", get="g")
    assert render_string("${{ vars.items }}", c)[0] == [1, 2]
    assert render_string("${{ vars.keys }}-${{ vars.get }}", c)[0] == "k-g"


def test_native_values_are_copies(tmp_path):
    env_vars = {"nested": {"k": ["v"]}}
    value, _ = render_string("${{ vars.nested }}", TemplateContext("dev", env_vars, tmp_path))
    value["k"].append("changed")
    assert env_vars == {"nested": {"k": ["v"]}}


def test_secret_inside_a_native_value_marks_that_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok")
    res = resource(
        {
            "server": {
                "headers": "${{ {'Authorization': 'Bearer ' ~ secret('HOOK_TOKEN')} }}",
                "url": "${{ vars.a }}",
            }
        }
    )
    out = render_resource(res, Environment("dev", vars={"a": "https://x"}), tmp_path)
    assert out.spec == {"server": {"headers": {"Authorization": "Bearer tok"}, "url": "https://x"}}
    assert out.sensitive == {("server", "headers")}


# -- include(path, render=true) ------------------------------------------------------------------------

INCLUDED = "Hello from ${{ env }} at ${{ vars.site }}; Vapi's {{ customer.name }} stays."


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("include('p.md')", INCLUDED),
        ("include('p.md', render=true)", "Hello from dev at acme; Vapi's {{ customer.name }} stays."),
        ("include('plain.md', render=true)", "no template here"),
    ],
    ids=["as text", "rendered", "rendered, nothing to render"],
)
def test_include_returns_text_as_is_or_rendered_in_the_same_sandbox(tmp_path, call, expected):
    (tmp_path / "p.md").write_text(INCLUDED)
    (tmp_path / "plain.md").write_text("no template here")
    ctx = TemplateContext("dev", {"site": "acme"}, tmp_path)
    assert render_string("${{ " + call + " }}", ctx)[0] == expected


def test_include_as_text_of_a_file_with_template_syntax_warns_once(tmp_path):
    (tmp_path / "p.md").write_text(INCLUDED)
    ctx = TemplateContext("dev", {"site": "acme"}, tmp_path)
    render_string("${{ include('p.md') }} ${{ include('p.md') }}", ctx)
    assert ctx.include_warnings == [
        "include('p.md'): the file contains vapiops template syntax (`${{`), sent as text; "
        "write include('p.md', render=true) to render it"
    ]


@pytest.mark.parametrize(
    ("files", "call", "message"),
    [
        (
            {"loop.md": "${{ include('loop.md', render=true) }}"},
            "include('loop.md', render=true)",
            "nested more than 8 deep",
        ),
        ({"p.md": "x"}, "include('p.md', render='yes')", "render=...) takes true or false"),
        ({"p.md": "${{ secret('VAPI_API_KEY') }}"}, "include('p.md', render=true)", "would read an API key"),
    ],
    ids=["self-include", "render not a boolean", "same sandbox rules"],
)
def test_include_render_errors(tmp_path, files, call, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(
        TemplateError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        render_string("${{ " + call + " }}", TemplateContext("dev", {}, tmp_path))


@pytest.mark.parametrize(
    ("value", "templated"),
    [
        ({"a": "plain", "b": [1, {"c": "{{ customer.name }}"}]}, False),
        ({"a": [{"b": ["x", "${{ env }}"]}]}, True),
        ({"a": "tab\t, quote ' \" and é then ${{ env }}"}, True),
        ({"${{ env }}": "a key, never rendered: only the long way round"}, True),
        ({"a": "$ {{ not a template }}"}, False),
    ],
)
def test_a_spec_without_template_syntax_is_copied_not_walked(value, templated):
    from vapiops.project.template import _templated

    assert _templated(value) is templated
