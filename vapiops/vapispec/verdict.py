"""A fast yes/no to "does this body fit this DTO?": the DTO's schema compiled once into closures.

jsonschema stays the judge. A body this verdict accepts is one jsonschema finds no error in (the
two are compared on every request DTO of every kind, tests/test_verdict.py); a body it rejects is
checked again by jsonschema, which says what is wrong. Most bodies are valid, so most bodies
never pay jsonschema's cost (about 350 µs for an assistant; this verdict, about 10 µs).

Only the Draft 7 keywords Vapi's repaired spec uses are compiled, with Draft 7's exact rules
(a `$ref` hides its siblings, bool is not a number, 1.0 is an integer, True does not equal 1 in
`enum`/`const`, formats are not asserted). A node using any other Draft 7 keyword is judged by
jsonschema itself, so the verdict is never a guess. `$ref`s compile on first use: a one-body
run compiles only the part of the spec that body reaches.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vapiops.vapispec.repairs import UNION_MARK
from vapiops.vapispec.walk import REF_PREFIX

Verdict = Callable[[Any], bool]

_COMPILED = frozenset(
    """$ref type enum const properties required additionalProperties items minItems maxItems
    minLength maxLength minimum maximum exclusiveMinimum exclusiveMaximum pattern allOf anyOf
    oneOf not if then else format""".split()
)
# Draft 7's keywords (jsonschema's Draft7Validator.VALIDATORS, compared in tests), written out so
# that checking a valid project never imports jsonschema.
DRAFT7_KEYWORDS = frozenset(
    """$ref additionalItems additionalProperties allOf anyOf const contains dependencies enum
    exclusiveMaximum exclusiveMinimum format if items maxItems maxLength maxProperties maximum
    minItems minLength minProperties minimum multipleOf not oneOf pattern patternProperties
    properties propertyNames required type uniqueItems""".split()
)
# Draft 7 keywords the compiler leaves to jsonschema (none is in Vapi's spec today).
_DELEGATED = DRAFT7_KEYWORDS - _COMPILED


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Verdict] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": _is_integer,
}


def json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema means it (jsonschema's rule): True is not 1, lists and objects
    compare member by member under the same rule."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and json_equal(one[key], two[key]) for key in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _every(verdicts: list[Verdict]) -> Verdict:
    if not verdicts:
        return _always
    if len(verdicts) == 1:
        return verdicts[0]

    def every(value: Any) -> bool:
        for verdict in verdicts:
            if not verdict(value):
                return False
        return True

    return every


class Compiler:
    """Compiles schemas whose `$ref`s point into `components` (Vapi's repaired schemas).
    `delegate(schema)` gives jsonschema's own yes/no for a node this compiler does not handle."""

    def __init__(self, components: dict[str, Any], delegate: Callable[[Any], Verdict]) -> None:
        self._components = components
        self._delegate = delegate
        self._refs: dict[str, Verdict] = {}

    def schema(self, schema: Any) -> Verdict:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            return self._delegate(schema)
        if "$ref" in schema:  # Draft 7: a $ref's siblings are ignored
            return self._ref(schema["$ref"])
        if not _DELEGATED.isdisjoint(schema):
            return self._delegate(schema)
        verdicts = [verdict for verdict in self._keywords(schema) if verdict is not _always]
        return _every(verdicts)

    def _ref(self, ref: Any) -> Verdict:
        if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
            return self._delegate({"$ref": ref})
        name = ref.removeprefix(REF_PREFIX)
        known = self._refs.get(name)
        if known is not None:
            return known
        target: list[Verdict] = []

        def lazy(value: Any) -> bool:  # compiled on first use; recursion finds this same closure
            if not target:
                target.append(self.schema(self._components[name]))
            return target[0](value)

        self._refs[name] = lazy
        return lazy

    def _keywords(self, schema: dict) -> list[Verdict]:
        out: list[Verdict] = []
        if "type" in schema:
            out.append(self._type(schema["type"]))
        if "enum" in schema:
            out.append(self._enum(schema["enum"]))
        if "const" in schema:
            const = schema["const"]
            out.append(lambda value: json_equal(value, const))
        out.append(self._object(schema))
        out.append(self._array(schema))
        out.append(self._string(schema))
        out.append(self._number(schema))
        if "allOf" in schema:
            out.append(self._all_of(schema))
        if "anyOf" in schema:
            any_of = [self.schema(part) for part in schema["anyOf"]]
            out.append(lambda value: any(verdict(value) for verdict in any_of))
        if "oneOf" in schema:
            one_of = [self.schema(part) for part in schema["oneOf"]]
            out.append(lambda value: sum(1 for verdict in one_of if verdict(value)) == 1)
        if "not" in schema:
            negated = self.schema(schema["not"])
            out.append(lambda value: not negated(value))
        if "if" in schema:
            out.append(self._if(schema))
        return out

    def _type(self, types: Any) -> Verdict:
        names = types if isinstance(types, list) else [types]
        checks = [_TYPES[name] for name in names]
        if len(checks) == 1:
            return checks[0]
        return lambda value: any(check(value) for check in checks)

    def _enum(self, values: list) -> Verdict:
        if all(isinstance(each, str) for each in values):
            strings = frozenset(values)
            return lambda value: isinstance(value, str) and value in strings
        return lambda value: any(json_equal(each, value) for each in values)

    def _object(self, schema: dict) -> Verdict:
        props = {key: self.schema(sub) for key, sub in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties", True)
        closed = extra is False
        extra_verdict = None if isinstance(extra, bool) else self.schema(extra)
        required = tuple(schema.get("required") or ())
        if not props and extra is True and not required:
            return _always

        def fits(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for key in required:
                if key not in value:
                    return False
            for key, item in value.items():
                verdict = props.get(key)
                if verdict is not None:
                    if not verdict(item):
                        return False
                elif closed:
                    return False
                elif extra_verdict is not None and not extra_verdict(item):
                    return False
            return True

        return fits

    def _array(self, schema: dict) -> Verdict:
        items = schema.get("items", True)
        low, high = schema.get("minItems"), schema.get("maxItems")
        if items is True and low is None and high is None:
            return _always
        positional = [self.schema(sub) for sub in items] if isinstance(items, list) else None
        each = None if positional is not None else self.schema(items)

        def fits(value: Any) -> bool:
            if not isinstance(value, list):
                return True
            if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                return False
            if positional is not None:
                return all(verdict(item) for verdict, item in zip(positional, value, strict=False))
            assert each is not None
            for item in value:
                if not each(item):
                    return False
            return True

        return fits

    def _string(self, schema: dict) -> Verdict:
        low, high = schema.get("minLength"), schema.get("maxLength")
        pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
        if low is None and high is None and pattern is None:
            return _always

        def fits(value: Any) -> bool:
            if not isinstance(value, str):
                return True
            if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                return False
            return pattern is None or pattern.search(value) is not None

        return fits

    def _number(self, schema: dict) -> Verdict:
        # Each written as "not <jsonschema's failure test>": NaN (YAML's .nan) fails no comparison,
        # so jsonschema accepts it at any bound, and `nan >= bound` would reject it.
        bounds = [
            (schema.get("minimum"), lambda value, bound: not value < bound),
            (schema.get("maximum"), lambda value, bound: not value > bound),
            (schema.get("exclusiveMinimum"), lambda value, bound: not value <= bound),
            (schema.get("exclusiveMaximum"), lambda value, bound: not value >= bound),
        ]
        present = [(bound, holds) for bound, holds in bounds if bound is not None]
        if not present:
            return _always
        return lambda value: not _is_number(value) or all(holds(value, bound) for bound, holds in present)

    def _all_of(self, schema: dict) -> Verdict:
        parts = [self.schema(part) for part in schema["allOf"]]
        every = _every(parts)
        prop = schema.get(UNION_MARK)
        if prop is None:
            return every
        # Our discriminated unions (validators._all_of): on an object only the case whose
        # `if` names the object's value applies.
        cases = [
            (case["if"]["properties"][prop]["const"], self.schema(case["then"])) for case in schema["allOf"]
        ]
        missing = object()

        def union(value: Any) -> bool:
            if not isinstance(value, dict):
                return every(value)
            chosen = value.get(prop, missing)
            return all(then(value) for const, then in cases if const == chosen)

        return union

    def _if(self, schema: dict) -> Verdict:
        condition = self.schema(schema["if"])
        then = self.schema(schema["then"]) if "then" in schema else _always
        otherwise = self.schema(schema["else"]) if "else" in schema else _always
        return lambda value: then(value) if condition(value) else otherwise(value)
