"""Render a resource for one environment: ${{ }} Jinja2 in a sandbox, overrides merged, secrets marked.

Only `${{ … }}`, `${% … %}` and `${# … #}` are template syntax. Vapi's own call-time Liquid
(`{{ customer.name }}`, `{% if … %}`) uses the default Jinja delimiters, which are deliberately not
configured here, so it is plain text and reaches Vapi byte for byte.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, TemplateNotFound, UndefinedError
from jinja2.runtime import missing
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vapiops import paths
from vapiops.errors import Location, TemplateError
from vapiops.project.config import Environment
from vapiops.project.manifest import Resource

MARKER = "${"  # a string without it has no template syntax and is returned as it is
SCOPE = ("env", "vars", "secret", "include")
# The sandbox stops escapes, not resource exhaustion: cap the two operators that make a tiny
# expression allocate gigabytes or spin ('x' * 10**10, 10**10**10).
MAX_PRODUCT = 1_000_000
MAX_POWER_BITS = 100_000
_TEMPLATE_CACHE = 4096


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


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > MAX_POWER_BITS:
                raise SecurityError(f"a power larger than {MAX_POWER_BITS} bits is not allowed")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(times, int)
                    and len(seq) * times > MAX_PRODUCT
                ):
                    raise SecurityError(f"a repetition longer than {MAX_PRODUCT} is not allowed")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # `vars.items` means the var named items, not dict.items: data keys win over methods.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENV = _Sandbox(
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
    return lambda scope: template.render(**scope)


def _text(value: Any) -> str:
    """What `${{ value }}` prints inside a longer string (as Jinja would: str(), undefined fails)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return str(value)


@dataclass
class TemplateContext:
    """What a template can see: the environment's name and vars, secret() and include()."""

    env_name: str
    vars: dict[str, Any]
    root: Path  # project root; include() never reads outside it
    used_secret: bool = False  # set by secret() during one render_string call
    secret_values: list[str] = field(default_factory=list)  # to scrub from error messages

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
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
        value = os.environ.get(name)
        if value is None:
            raise TemplateError(f"secret {name} is not set", hint=f"export {name}=...")
        self.used_secret = True
        if value:
            self.secret_values.append(value)
        return value

    def include(self, name: Any) -> str:
        """A file's text relative to the project root, unrendered; never outside it, never hidden files."""
        if not isinstance(name, str) or not name:
            raise TemplateError("include() takes a file path relative to the project root")
        if (
            PurePosixPath(name).is_absolute()
            or PureWindowsPath(name).is_absolute()
            or PureWindowsPath(name).drive
        ):
            raise TemplateError(
                f"include({name!r}): absolute paths are not allowed; use a path relative to the project root"
            )
        target = (self.root / name).resolve()
        if not target.is_relative_to(self.root):
            raise TemplateError(f"include({name!r}): the path leads outside the project root")
        # .env files and .git/config hold credentials a plan would print: hidden files are off limits.
        if any(part.startswith(".") for part in target.relative_to(self.root).parts):
            raise TemplateError(f"include({name!r}): hidden files and folders are not allowed")
        if not target.is_file():
            raise TemplateError(f"include({name!r}): no such file in the project")
        try:
            return target.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"include({name!r}): not UTF-8 text") from exc


def render_string(text: str, ctx: TemplateContext) -> tuple[Any, bool]:
    """Render one string value: (value, used_secret). TemplateError (unlocated) when it fails."""
    if MARKER not in text:
        return text, False
    ctx.used_secret = False
    try:
        value = _compile(text)(ctx.scope())
    except TemplateError as exc:
        raise TemplateError(_scrub(exc.message, ctx), hint=exc.hint) from None
    except TemplateSyntaxError as exc:
        raise TemplateError(_scrub(f"syntax error: {exc.message}", ctx)) from None
    except SecurityError as exc:
        raise TemplateError(
            _scrub(str(exc), ctx),
            hint=f"templates are sandboxed: only {', '.join(SCOPE)} and plain values are available",
        ) from None
    except (UndefinedError, TemplateNotFound) as exc:
        raise TemplateError(_scrub(str(exc), ctx)) from None
    except TypeError as exc:
        if "no loader" in str(exc):  # ${% include %}, ${% import %}, ${% extends %}: no loader, by design
            raise TemplateError(
                "Jinja's include/import/extends tags are not available; use ${{ include('path') }}"
            ) from None
        raise TemplateError(_scrub(f"TypeError: {exc}", ctx)) from None
    except Exception as exc:  # any failing expression (1/0, 'a' + 1, ...) is the user's template error
        raise TemplateError(_scrub(f"{type(exc).__name__}: {exc}", ctx)) from None
    return value, ctx.used_secret


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


def render_resource(resource: Resource, env: Environment, project_root: Path) -> Rendered:
    """The resource's spec for env: spec and overrides[env] rendered, then merged; secret() paths marked."""
    ctx = TemplateContext(env.name, env.vars, project_root)
    base_sensitive: set[tuple] = set()
    spec = _render_tree(
        resource.spec, (), ctx, base_sensitive, lambda p: (resource.location(p), "spec" + _suffix(p))
    )
    override = resource.overrides.get(env.name)
    if not override:
        return Rendered(spec, base_sensitive)
    over_sensitive: set[tuple] = set()
    partial = _render_tree(
        override,
        (),
        ctx,
        over_sensitive,
        lambda p: (resource.override_location(env.name, p), f"overrides.{env.name}" + _suffix(p)),
    )
    kept = {p for p in base_sensitive if not _overridden(p, spec, partial)}
    return Rendered(merge(spec, partial), kept | over_sensitive)


def _suffix(path: tuple) -> str:
    text = paths.format_path(path)
    return "" if not text else text if text.startswith("[") else "." + text


def _render_tree(
    value: Any,
    path: tuple,
    ctx: TemplateContext,
    sensitive: set[tuple],
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
            sensitive.add(path)
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
