"""The Jinja sandbox templates run in: no escape from it, and bounded in time and in the size of values.

Jinja's sandbox stops escapes, not exhaustion: `${% for %}` nested over range(100000) spins for
hours and `'x'|center(10**9)` allocates a gigabyte. Here every operation that can make a value
large is checked *before* it runs (repetition, `+`, `~`, `%`, str.format, the widening filters and
str methods), every loop iteration, call, attribute, filter and output checks the render's
deadline, and the output of a whole manifest is counted against a size budget.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Namespace
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_VALUE_CHARS = 4_000_000  # no single value (string, or the text of a list) may be larger
MAX_OUTPUT_CHARS = 8_000_000  # everything one manifest renders to, together
MAX_SECONDS = 2.0  # rendering one manifest
MAX_POWER_BITS = 100_000
_LOOP = "__vapiops_loop"
_CONCAT = "__vapiops_concat"


class BudgetExceeded(SecurityError):
    """A template that would run too long or build too large a value."""


@dataclass
class _Budget:
    deadline: float
    output_left: int


_current = threading.local()


@contextlib.contextmanager
def budget(seconds: float = MAX_SECONDS, output_chars: int = MAX_OUTPUT_CHARS) -> Iterator[None]:
    """Bound everything rendered inside (one manifest): time, and the total output size."""
    outer = getattr(_current, "budget", None)
    _current.budget = _Budget(time.monotonic() + seconds, output_chars)
    try:
        yield
    finally:
        _current.budget = outer


def tick() -> None:
    spent = getattr(_current, "budget", None)
    if spent is not None and time.monotonic() > spent.deadline:
        raise BudgetExceeded(
            f"rendering took longer than {MAX_SECONDS:g} s (a loop or recursion too large for a manifest)"
        )


def spend_output(chars: int) -> None:
    spent = getattr(_current, "budget", None)
    if spent is None:
        return
    spent.output_left -= chars
    if spent.output_left < 0:
        raise BudgetExceeded(f"the manifest renders to more than {MAX_OUTPUT_CHARS} characters")


def size(value: Any, limit: int = MAX_VALUE_CHARS, depth: int = 0) -> int:
    """About how many characters value prints as; stops counting once past limit."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict, Namespace)):
        items: Iterable[Any]
        if isinstance(value, Namespace):
            items = getattr(value, "_Namespace__attrs", {}).items()
        else:
            items = value.items() if isinstance(value, dict) else value
        if depth > 50:
            return limit + 1
        total = 2
        for item in items:
            total += 2 + size(item, limit - total, depth + 1)
            if total > limit:
                return total
        return total
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value.bit_length() // 3, 1)
    return 8


def check_size(value: Any, what: str) -> Any:
    if size(value) > MAX_VALUE_CHARS:
        raise BudgetExceeded(f"{what} would be longer than {MAX_VALUE_CHARS} characters")
    return value


def _check_estimate(estimate: int, what: str) -> None:
    if estimate > MAX_VALUE_CHARS:
        raise BudgetExceeded(f"{what} would be longer than {MAX_VALUE_CHARS} characters")


_WIDTH = re.compile(r"\d+")


def check_format(fmt: Any, args: Iterable[Any], what: str) -> None:
    """A printf/str.format template whose widths or precisions would build a huge string."""
    if not isinstance(fmt, str):
        return
    if any(len(run) > 7 or int(run) > MAX_VALUE_CHARS for run in _WIDTH.findall(fmt)):
        raise BudgetExceeded(f"{what}: a field width or precision above {MAX_VALUE_CHARS} is not allowed")
    dynamic = "*" in fmt or re.search(r"\{[^{}]*\{", fmt)
    if dynamic and any(isinstance(a, int) and abs(a) > MAX_VALUE_CHARS for a in _flat(args)):
        raise BudgetExceeded(f"{what}: a field width above {MAX_VALUE_CHARS} is not allowed")


def _flat(args: Iterable[Any]) -> Iterator[Any]:
    for a in args:
        if isinstance(a, (tuple, list)):
            yield from a
        elif isinstance(a, dict):
            yield from a.values()
        else:
            yield a


def _int_arg(args: tuple, kwargs: dict, index: int, name: str, default: int = 0) -> int:
    value = args[index] if len(args) > index else kwargs.get(name, default)
    return value if isinstance(value, int) else default


def _text_len(value: Any) -> int:
    return size(value) if not isinstance(value, str) else len(value)


def _indent(s: Any, a: tuple, k: dict) -> int:
    width = a[0] if a else k.get("width", 4)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    return _text_len(s) + (str(s).count("\n") + 1) * per_line


def _replace(s: Any, a: tuple, k: dict) -> int:
    if len(a) < 2:
        return _text_len(s)
    old, new = str(a[0]), str(a[1])
    hits = str(s).count(old) if old else len(str(s)) + 1
    return _text_len(s) + hits * len(new)


def _join(items: Any, sep: Any) -> int:
    count = len(items) if hasattr(items, "__len__") else 0
    return size(items) + len(str(sep)) * count


# Estimated result size of the widening filters and str methods, from (subject, args, kwargs).
_Estimate = Callable[[Any, tuple, dict], int]
_FILTERS: dict[str, _Estimate] = {
    "center": lambda s, a, k: max(_text_len(s), _int_arg(a, k, 0, "width", 80)),
    "indent": _indent,
    "wordwrap": lambda s, a, k: (
        _text_len(s) * (1 + len(str(k.get("wrapstring", a[2] if len(a) > 2 else ""))))
    ),
    "replace": _replace,
    "join": lambda s, a, k: _join(s, a[0] if a else k.get("d", "")),
    "slice": lambda s, a, k: _int_arg(a, k, 0, "slices") * 4 + size(s),
    "batch": lambda s, a, k: size(s) + _int_arg(a, k, 0, "linecount"),
    "truncate": lambda s, a, k: _text_len(s) + size(a[2] if len(a) > 2 else k.get("end", "")),
    "string": lambda s, a, k: size(s),
    "list": lambda s, a, k: size(s),
    "tojson": lambda s, a, k: size(s) * 2,
    "pprint": lambda s, a, k: size(s) * 2,
    "urlencode": lambda s, a, k: size(s) * 3,
    "sum": lambda s, a, k: size(s),
}
_STR_METHODS: dict[str, _Estimate] = {
    "center": lambda s, a, k: max(len(s), _int_arg(a, k, 0, "width")),
    "ljust": lambda s, a, k: max(len(s), _int_arg(a, k, 0, "width")),
    "rjust": lambda s, a, k: max(len(s), _int_arg(a, k, 0, "width")),
    "zfill": lambda s, a, k: max(len(s), _int_arg(a, k, 0, "width")),
    "expandtabs": lambda s, a, k: len(s) + s.count("\t") * _int_arg(a, k, 0, "tabsize", 8),
    "replace": _replace,
    "join": lambda s, a, k: _join(a[0] if a else "", s),
}


def _filter_join_subject(args: tuple) -> tuple[Any, tuple]:
    return (args[0], args[1:]) if args else ("", ())


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    estimate = _FILTERS.get(name)
    pass_arg = getattr(fn, "jinja_pass_arg", None)

    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        rest = args[1:] if pass_arg is not None else args
        subject, params = _filter_join_subject(rest)
        if name == "format":
            check_format(subject, params + tuple(kwargs.values()), "the format filter")
        if estimate is not None:
            try:
                guess = estimate(subject, params, kwargs)
            except (TypeError, ValueError, IndexError, AttributeError):
                guess = 0  # the filter itself will report the bad arguments
            _check_estimate(guess, f"the {name} filter")
        return check_size(fn(*args, **kwargs), f"the {name} filter's result")

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(bounded, attr, getattr(fn, attr))
    return bounded


def collect(chunks: Iterable[str]) -> str:
    """A generated template's output, counted against the budget chunk by chunk as it is made."""
    out = []
    for chunk in chunks:
        tick()
        spend_output(len(chunk))
        out.append(chunk)
    return "".join(out)


def _bounded_iteration(iterable: Any) -> Iterator[Any]:
    """What `${% for %}` loops over: the deadline is checked at every iteration."""
    for item in iterable:
        tick()
        yield item


def _bounded_concat(*parts: Any) -> str:
    tick()
    _check_estimate(sum(size(p) for p in parts), "the ~ concatenation")
    return "".join(str(p) for p in parts)


class BoundedNamespace(Namespace):
    """namespace() whose attributes cannot grow past the value budget."""

    def __setitem__(self, name: str, value: Any) -> None:
        tick()
        check_size(value, f"namespace attribute {name!r}")
        super().__setitem__(name, value)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every way to spin or to build a huge value bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any):
        super().__init__(finalize=self._finalize, **options)
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}
        self.globals.pop("lipsum", None)  # lipsum(n=10**9): nothing a manifest needs
        self.globals.update(
            {"namespace": BoundedNamespace, _LOOP: _bounded_iteration, _CONCAT: _bounded_concat}
        )

    @staticmethod
    def _finalize(value: Any) -> Any:
        # Every `${{ }}` inside a longer template is printed through here: str() of a list of a
        # million references to a long string would be a huge string.
        tick()
        chars = size(value)
        _check_estimate(chars, "the printed value")
        spend_output(chars)
        return value

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        # Route every loop's iterable and every `~` through the bounded helpers above (templates
        # and compiled expressions alike pass here as a tree).
        tree = source
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name(_LOOP, "load"), [loop.iter], [], None, None, lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            concat.nodes = [
                nodes.Call(
                    nodes.Name(_CONCAT, "load"), list(concat.nodes), [], None, None, lineno=concat.lineno
                )
            ]
        return super()._generate(tree, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > MAX_POWER_BITS:
                raise BudgetExceeded(f"a power larger than {MAX_POWER_BITS} bits is not allowed")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_estimate(size(seq) * times, "the repetition")
        elif operator == "+" and isinstance(left, (str, list, tuple)):
            _check_estimate(size(left) + size(right), "the sum")
        elif operator == "%" and isinstance(left, str):
            check_format(left, right if isinstance(right, (tuple, dict)) else (right,), "the % format")
            _check_estimate(len(left) + size(right), "the % format")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        tick()
        # The sandbox hands out str.format wrapped (functools.wraps keeps the method as __wrapped__).
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        method = getattr(target, "__name__", "")
        if isinstance(owner, str):
            if method in ("format", "format_map"):
                check_format(owner, args + tuple(kwargs.values()), f"str.{method}")
                _check_estimate(len(owner) + size(args) + size(kwargs), f"str.{method}")
            estimate = _STR_METHODS.get(method)
            if estimate is not None:
                try:
                    guess = estimate(owner, args, kwargs)
                except (TypeError, ValueError, IndexError, AttributeError):
                    guess = 0
                _check_estimate(guess, f"str.{method}")
        return check_size(super().call(__context, __obj, *args, **kwargs), "the call's result")

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        # `vars.items` means the var named items, not dict.items: data keys win over methods.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)
