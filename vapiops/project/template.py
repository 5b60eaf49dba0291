"""Render a resource for one environment: ${{ }} Jinja2 in a sandbox, overrides merged, secrets marked.

Only `${{ … }}`, `${% … %}` and `${# … #}` are template syntax. Vapi's own call-time Liquid
(`{{ customer.name }}`, `{% if … %}`) uses the default Jinja delimiters, which are deliberately not
configured here, so it is plain text and reaches Vapi byte for byte.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, TemplateNotFound, UndefinedError
from jinja2.runtime import missing

from vapiops import paths, redact
from vapiops.errors import Location, TemplateError
from vapiops.project.config import Environment
from vapiops.project.includes import read_include
from vapiops.project.manifest import Resource
from vapiops.project.sandboxenv import (
    BoundedSandbox,
    BudgetExceeded,
    budget,
    check_size,
    collect,
    size,
    spend_output,
)

MARKER = "${"  # a string without it has no template syntax and is returned as it is
MAX_INCLUDE_DEPTH = 8  # include(render=true) inside included files, at most this deep
SCOPE = ("env", "vars", "secret", "include")
_TEMPLATE_CACHE = 4096
# secret() never reads an API key: a manifest from a pull request could otherwise print one.
DEFAULT_KEY_VARS = frozenset({"VAPI_API_KEY"})


class _Vars(dict):
    """The `vars` mapping, marked so an undefined lookup can name the defined ones."""


class _Undefined(StrictUndefined):
    """StrictUndefined whose messages speak of `vars` and of what is in scope."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if not self._undefined_hint:
            obj, name = self._undefined_obj, self._undefined_name
            if obj is missing:
                # Often Vapi Liquid after a dollar sign ("${{ amount }}") that was meant literally.
                return (
                    f"{name!r} is undefined (in scope: {', '.join(SCOPE)}; "
                    "a literal '${{' for Vapi is written ${{ '${{' }})"
                )
            if isinstance(obj, _Vars):
                defined = ", ".join(sorted(obj)) or "none"
                return f"'vars' has no attribute {name!r} (defined vars: {defined})"
        return super()._undefined_message


_ENV = BoundedSandbox(
    variable_start_string="${{",
    variable_end_string="}}",
    block_start_string="${%",
    block_end_string="%}",
    comment_start_string="${#",
    comment_end_string="#}",
    undefined=_Undefined,
    autoescape=False,
    keep_trailing_newline=True,
)


@functools.lru_cache(maxsize=_TEMPLATE_CACHE)
def _expression(source: str) -> Callable[..., Any]:
    return _ENV.compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=_TEMPLATE_CACHE)
def _compile(text: str) -> Callable[[dict[str, Any]], Any]:
    """A function of the scope that renders text.

    Most values are text with a few `${{ expr }}` in it. Those are split into literal pieces and
    expressions compiled (and cached) one by one: compiling a whole Jinja template per distinct
    string would dominate rendering a large project. A string that is exactly one `${{ expr }}`
    evaluates to the expression's own value (30, not "30"). Anything else (blocks, comments,
    whitespace control, carriage returns that Jinja would normalise) goes through Jinja whole.
    """
    pieces: list[str | Callable[..., Any]] = []
    if "${%" not in text and "${#" not in text and "\r" not in text:
        inside: list[str] | None = None
        trimmed = False  # `${{-` / `-}}` strip neighbouring text: only Jinja itself gets that right
        for _, kind, value in _ENV.lex(text):
            if kind == "data" and inside is None:
                pieces.append(value)
            elif kind == "variable_begin" and inside is None:
                inside, trimmed = [], trimmed or value != "${{"
            elif kind == "variable_end" and inside is not None:
                pieces.append(_expression("".join(inside)))
                inside, trimmed = None, trimmed or value != "}}"
            elif inside is not None and kind != "variable_begin":
                inside.append(value)
            else:
                break
        else:
            if inside is None and len(pieces) == 1 and not isinstance(pieces[0], str):
                expression = pieces[0]
                return lambda scope: _plain(expression(**scope))
            if inside is None and not trimmed:
                return lambda scope: "".join(p if isinstance(p, str) else _text(p(**scope)) for p in pieces)
    template = _ENV.from_string(text)
    return lambda scope: collect(template.generate(**scope))


def _text(value: Any) -> str:
    """What `${{ value }}` prints inside a longer string (as Jinja would: str(), undefined fails)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    check_size(value, "the printed value")
    return str(value)


@dataclass
class TemplateContext:
    """What a template can see: the environment's name and vars, secret() and include()."""

    env_name: str
    vars: dict[str, Any]
    root: Path  # project root; include() never reads outside it
    key_vars: frozenset[str] = DEFAULT_KEY_VARS  # the API-key variables secret() refuses to read
    used_secret: bool = False  # set by secret() during one render_string call
    secret_values: list[str] = field(default_factory=list)  # to scrub from error messages
    secret_names: list[str] = field(default_factory=list)  # read during one render_string call
    # validate runs with no secret values: an unset secret() is listed here and renders a
    # placeholder, instead of failing (plan and apply leave this None: every value is needed).
    unset_secrets: list[str] | None = None
    include_warnings: list[str] = field(default_factory=list)  # `${{` in a file included as text
    _include_depth: int = 0  # include(render=true) nesting: a file including itself must stop

    def __post_init__(self) -> None:
        self.root = _resolved(Path(self.root))
        self._scope = {
            "env": self.env_name,
            "vars": _Vars(self.vars),
            "secret": self.secret,
            "include": self.include,
        }

    def scope(self) -> dict[str, Any]:
        return self._scope

    def secret(self, name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise TemplateError(
                "secret() takes the name of an environment variable, e.g. secret('API_TOKEN')"
            )
        if name in self.key_vars or name.startswith("VAPI_API_KEY"):
            raise TemplateError(
                f"secret({name!r}) would read an API key, which no template may see",
                hint="give the value its own environment variable",
            )
        value = os.environ.get(name)
        if value is None and self.unset_secrets is not None:
            if name not in self.unset_secrets:
                self.unset_secrets.append(name)
            value = f"unset-secret-{name}"
        if value is None:
            raise TemplateError(f"secret {name} is not set", hint=f"export {name}=...")
        self.used_secret = True
        if name not in self.secret_names:
            self.secret_names.append(name)
        if value:
            self.secret_values.append(value)
            redact.register(value)
        return value

    def include(self, name: Any, render: Any = False) -> Any:
        """A file's text relative to the project root; never outside it, never hidden files.

        As is by default (a prompt full of Vapi's Liquid stays untouched, and a `${{` in it is
        sent as text, with a warning); with render=true rendered in this same sandbox.
        """
        text = read_include(self.root, name)
        if render is not True and render is not False:
            raise TemplateError(f"include({name!r}, render=...) takes true or false")
        if not render:
            if "${{" in text or "${%" in text:
                warning = (
                    f"include({name!r}): the file contains vapiops template syntax (`${{{{`), sent as text; "
                    f"write include({name!r}, render=true) to render it"
                )
                if warning not in self.include_warnings:
                    self.include_warnings.append(warning)
            return text
        if MARKER not in text:
            return text
        if self._include_depth >= MAX_INCLUDE_DEPTH:
            raise TemplateError(f"include({name!r}, render=true): nested more than {MAX_INCLUDE_DEPTH} deep")
        self._include_depth += 1
        try:
            return _compile(text)(self.scope())
        finally:
            self._include_depth -= 1


@functools.lru_cache(maxsize=64)
@functools.cache
def _resolved(root: Path) -> Path:
    """root.resolve(), once per project root: a context is made per resource, and resolving walks
    every component with a system call (8% of validating 10,000 manifests)."""
    return root.resolve()


def render_string(text: str, ctx: TemplateContext) -> tuple[Any, bool]:
    """Render one string value: (value, used_secret). TemplateError (unlocated) when it fails."""
    if MARKER not in text:
        return text, False
    ctx.used_secret = False
    ctx.secret_names = []
    try:
        value = _compile(text)(ctx.scope())
        spend_output(size(value))
        check_size(value, "the rendered value")
    except Exception as exc:  # noqa: BLE001 - every failing expression is the user's template error
        raise _template_error(exc, text, ctx) from None
    return value, ctx.used_secret


def _template_error(exc: Exception, text: str, ctx: TemplateContext) -> TemplateError:
    """The error for a failed render, naming the expression and never quoting a secret's value."""
    if isinstance(exc, TemplateError):
        message, hint = exc.message, exc.hint
    elif isinstance(exc, BudgetExceeded):
        message, hint = f"{exc} in {_excerpt(text)}", "templates are bounded in time and size"
    elif isinstance(exc, TemplateSyntaxError):
        message, hint = f"syntax error: {exc.message}", None
    elif isinstance(exc, SecurityError):
        message = str(exc)
        hint = f"templates are sandboxed: only {', '.join(SCOPE)} and plain values are available"
    elif isinstance(exc, (UndefinedError, TemplateNotFound)):
        message, hint = str(exc), None
    elif isinstance(exc, TypeError) and "no loader" in str(exc):
        # ${% include %}, ${% import %}, ${% extends %}: no loader, by design
        message = "Jinja's include/import/extends tags are not available; use ${{ include('path') }}"
        hint = None
    elif isinstance(exc, (MemoryError, RecursionError, OverflowError)):
        message, hint = f"{type(exc).__name__} in {_excerpt(text)}", "templates are bounded in time and size"
    else:
        message, hint = f"{type(exc).__name__}: {exc}", None
    if ctx.secret_names and not isinstance(exc, (BudgetExceeded, TemplateSyntaxError)):
        # The message may quote the secret transformed (|lower, |list, ...), which no scrubbing can
        # recognise: say what failed, never what the value was.
        names = ", ".join(f"secret({n!r})" for n in ctx.secret_names)
        kind = "TemplateError" if isinstance(exc, TemplateError) else type(exc).__name__
        message = (
            f"{kind} in {_excerpt(text)}, which uses the value of {names}; "
            "the details are withheld because they may quote that value"
        )
    return TemplateError(_scrub(message, ctx), hint=hint)


def _excerpt(text: str, limit: int = 80) -> str:
    one_line = " ".join(text.split())
    return repr(one_line if len(one_line) <= limit else one_line[: limit - 3] + "...")


def _plain(value: Any) -> Any:
    """A native expression result as a JSON value; Undefined raises its error, other objects are refused."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    raise TemplateError(f"the expression gives {type(value).__name__}, not a JSON value")


def _scrub(message: str, ctx: TemplateContext) -> str:
    # An error may quote a value (e.g. vars[secret('X')]); no secret value ever reaches a message.
    for value in ctx.secret_values:
        message = message.replace(value, "(sensitive)")
    return message


@dataclass
class Rendered:
    spec: dict[str, Any]  # rendered spec (overrides for env deep-merged over spec first)
    sensitive: set[tuple] = field(default_factory=set)  # spec paths whose string used secret()
    secret_names: dict[tuple, tuple[str, ...]] = field(default_factory=dict)  # path -> secret() names read
    warnings: list[str] = field(default_factory=list)  # e.g. template syntax in a file included as text


def merge(base: dict, override: dict) -> dict:
    """Deep merge: objects merge key by key, lists and scalars replace. Inputs are not changed."""
    out = {k: paths.copy_json(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = paths.copy_json(value)
    return out


def in_environment(resource: Resource, env: str) -> bool:
    return resource.environments is None or env in resource.environments


def render_resource(
    resource: Resource,
    env: Environment,
    project_root: Path,
    key_vars: Iterable[str] = (),
    unset_secrets: list[str] | None = None,
) -> Rendered:
    """The resource's spec for env: spec and overrides[env] rendered, then merged; secret() paths marked.

    Bounded as a whole (sandboxenv.budget): a manifest that would render for longer than a few
    seconds or to more than a few million characters is a located error naming the expression.
    key_vars are the API-key variables of the project's environments, which secret() refuses.
    With `unset_secrets` (validate), a secret() whose variable is unset is appended there and
    renders a placeholder instead of failing.
    """
    override = resource.overrides.get(env.name)
    templated = _templated(resource.spec)
    if not templated and not override:
        return Rendered(paths.copy_json(resource.spec))  # nothing to render: most manifests
    ctx = TemplateContext(
        env.name,
        env.vars,
        project_root,
        key_vars=DEFAULT_KEY_VARS | frozenset(key_vars),
        unset_secrets=unset_secrets,
    )
    with budget():
        base: dict[tuple, tuple[str, ...]] = {}
        spec = (
            _render_tree(resource.spec, (), ctx, base, lambda p: (resource.location(p), "spec" + _suffix(p)))
            if templated
            else paths.copy_json(resource.spec)
        )
        if not override:
            return Rendered(spec, set(base), base, list(ctx.include_warnings))
        over: dict[tuple, tuple[str, ...]] = {}
        partial = _render_tree(
            override,
            (),
            ctx,
            over,
            lambda p: (resource.override_location(env.name, p), f"overrides.{env.name}" + _suffix(p)),
        )
    kept = {p: n for p, n in base.items() if not _overridden(p, spec, partial)}
    names = {**kept, **over}
    return Rendered(merge(spec, partial), set(names), names, list(ctx.include_warnings))


def _templated(value: Any) -> bool:
    """Whether any string in value may hold template syntax. repr shows `${` as written (it escapes
    only quotes, backslashes and unprintables), so one C-speed scan spares walking the rest of the
    project's specs path by path; a key holding `${` only sends that spec the long way."""
    return MARKER in repr(value)


def _suffix(path: tuple) -> str:
    text = paths.format_path(path)
    return "" if not text else text if text.startswith("[") else "." + text


def _render_tree(
    value: Any,
    path: tuple,
    ctx: TemplateContext,
    sensitive: dict[tuple, tuple[str, ...]],
    locate: Callable[[tuple], tuple[Location, str]],
) -> Any:
    """A rendered copy of value; string values are templates, keys are not."""
    if isinstance(value, str):
        if MARKER not in value:
            return value
        try:
            rendered, used_secret = render_string(value, ctx)
        except TemplateError as exc:
            where, shown = locate(path)
            # The hint goes into the message: validation reports problems as (where, message) only,
            # and "secret X is not set" is much clearer with its "export X=..." beside it.
            raise TemplateError(f"template error in {shown}: {exc}", where=where) from None
        if used_secret:
            sensitive[path] = tuple(ctx.secret_names)
        return rendered
    if isinstance(value, dict):
        return {k: _render_tree(v, path + (k,), ctx, sensitive, locate) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_tree(v, path + (i,), ctx, sensitive, locate) for i, v in enumerate(value)]
    return value


def _overridden(path: tuple, base: dict, override: dict) -> bool:
    """True when merging override over base replaces the value at path (so its marking no longer holds)."""
    for end in range(len(path) + 1):
        prefix = path[:end]
        if not paths.has(override, prefix):
            return False
        if not (isinstance(paths.get(override, prefix), dict) and isinstance(paths.get(base, prefix), dict)):
            return True
    return False
