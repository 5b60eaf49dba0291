"""The ownership rules (docs/plan.md) on plain values: what differs between desired, live and prior.

Only what the desired value declares is owned: objects compare over the desired keys only, so a
server default or a dashboard-only setting never shows up as a change. A path declared at the last
apply (prior) and no longer declared is "removed". Secrets compare by hash and are never shown.

A small recursive walk of our own rather than deepdiff: the rules (desired keys only, set-like ID
arrays, numbers by value but bools apart, null == absent) are not deepdiff's, and a walk over the
declared keys alone is what makes planning 1,000 resources cheap.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vapiops.model import ABSENT, SENSITIVE, FieldChange
from vapiops.paths import Path, copy_json, format_path, get, has, matches, parse_path
from vapiops.planning.secrets import (
    Hasher,
    Redactor,
    default_hash,
    is_mask,
    secret_values,
)

Pattern = Path  # a parsed path pattern (may hold "[]", "*", "**")


def path_key(path: Path) -> tuple[tuple[int, Any], ...]:
    """Sort key for paths: indexes numerically (messages[2] before messages[10]), keys by name."""
    return tuple((0, s) if isinstance(s, int) else (1, s) for s in path)


def _patterns(patterns: Iterable[str | Path]) -> tuple[Pattern, ...]:
    if type(patterns) is tuple:
        try:
            return _parsed(patterns)  # a kind's set_fields: parsed once, not once per resource
        except TypeError:  # unhashable (a list inside)
            pass
    return _parse_all(patterns)


def _parse_all(patterns: Iterable[str | Path]) -> tuple[Pattern, ...]:
    return tuple(parse_path(p) if isinstance(p, str) else tuple(p) for p in patterns)


@functools.lru_cache(maxsize=1024)
def _parsed(patterns: tuple[str | Path, ...]) -> tuple[Pattern, ...]:
    return _parse_all(patterns)


@functools.lru_cache(maxsize=8192)
def _matches_any(patterns: tuple[Pattern, ...], path: Path) -> bool:
    # Remembered: the same few patterns meet the same paths in every resource of a kind.
    return any(matches(p, path) for p in patterns)


# -- ignore_changes ---------------------------------------------------------------------------


def ignore_patterns(patterns: Iterable[str | Path]) -> tuple[Pattern, ...]:
    """lifecycle.ignore_changes as parsed patterns.

    A pattern ending in a list index (`model.toolIds[]`, `tools[2]`) is taken to mean the whole
    list: dropping single elements would shift the positions the rest of the list is compared by.
    """
    if type(patterns) is tuple:
        try:
            return _ignore_patterns(patterns)  # the same few per project, asked of every resource
        except TypeError:  # unhashable (a list inside)
            pass
    return _wholes(_parse_all(patterns))


@functools.lru_cache(maxsize=1024)
def _ignore_patterns(patterns: tuple[str | Path, ...]) -> tuple[Pattern, ...]:
    return _wholes(_parse_all(patterns))


def _wholes(patterns: tuple[Pattern, ...]) -> tuple[Pattern, ...]:
    out = []
    for p in patterns:
        while p and (isinstance(p[-1], int) or p[-1] == "[]"):
            p = p[:-1]
        if p:
            out.append(p)
    return tuple(out)


def strip_ignored(value: Any, patterns: Iterable[str | Path]) -> Any:
    """A copy of value without the dict keys an ignore pattern matches (value itself if none)."""
    pats = ignore_patterns(patterns)
    if not pats:
        return value
    return _strip(value, pats, ())


def _strip(value: Any, pats: tuple[Pattern, ...], at: Path) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            p = at + (k,)
            if not _matches_any(pats, p):
                out[k] = _strip(v, pats, p)
        return out
    if isinstance(value, list):
        return [_strip(v, pats, at + (i,)) for i, v in enumerate(value)]
    return value


# -- comparison -------------------------------------------------------------------------------


def scalar_equal(a: Any, b: Any) -> bool:
    """Numbers by value (1 == 1.0), but a bool is not a number (True != 1); strings exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _freeze(value: Any) -> Any:
    """A hashable form in which equal values (by scalar_equal) are equal: for multiset comparison."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)  # 1 and 1.0 hash and compare equal
    if isinstance(value, dict):
        return ("d", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("l", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value)


def _missing(value: Any) -> bool:
    return value is ABSENT or value is None


# Scalars of one of these types that are == are equal by scalar_equal too (same type: no True vs 1).
_SCALARS = frozenset({str, int, float, bool})


class _Walk:
    """One comparison: collects (path, before, after, sensitive) of every owned difference."""

    def __init__(
        self,
        *,
        set_paths: Iterable[str | Path],
        sensitive: Iterable[Path],
        prior_secrets: Mapping[str, str],
        hash_secret: Hasher,
        skip: Iterable[Path],
        redact: Callable[[], Redactor] | None = None,
        stop_early: bool = False,
    ):
        self.set_pats = _patterns(set_paths)
        self.sensitive = frozenset(tuple(p) for p in sensitive)
        self.prior_secrets = prior_secrets
        self.hash_secret = hash_secret
        self.skip = frozenset(tuple(p) for p in skip)
        # Built at the first difference: most resources of a no-op plan have none to redact.
        self.make_redact = redact
        self.redact: Redactor | None = None
        self.stop_early = stop_early
        # Equal scalars of one type are skipped without a call (most of a no-op plan's leaves); only
        # where no path is compared specially, since a sensitive path compares by hash, not by value.
        self.fast = not self.sensitive and not self.skip
        self.out: list[tuple[Path, Any, Any, bool]] = []

    def _emit(self, path: Path, before: Any, after: Any) -> None:
        if self.redact is None and self.make_redact is not None:
            self.redact = self.make_redact()
        if self.redact is not None:
            before, after = self.redact(before, path), self.redact(after, path)
        secret = before is SENSITIVE or after is SENSITIVE
        self.out.append((path, before, after, secret))

    def _is_set(self, path: Path) -> bool:
        return bool(self.set_pats) and _matches_any(self.set_pats, path)

    def compare(self, d: Any, live: Any, path: Path) -> None:
        """Record where desired `d` differs from `live` under the ownership rules (docs/plan.md)."""
        if self.stop_early and self.out:
            return
        if self.skip and path in self.skip:
            return
        if self.sensitive and path in self.sensitive:
            self._secret(d, live, path)
            return
        if type(d) is type(live) and type(d) in _SCALARS and d == live:
            return  # equal either way, masked or not
        if is_mask(live):
            return  # the API hides this value: nothing can be known about it, so nothing differs
        if d is None:  # a declared null equals an absent field
            if not _missing(live):
                self._emit(path, live, None)
            return
        if isinstance(d, dict):
            if isinstance(live, dict) or _missing(live):
                # Over the desired keys only; an absent object is compared as an empty one, so a
                # new nested object shows each declared field, and `{}` is no change.
                inner = live if isinstance(live, dict) else {}
                fast = self.fast
                for k, v in d.items():
                    lv = inner.get(k, ABSENT)
                    if fast and type(v) is type(lv) and type(v) in _SCALARS and v == lv:
                        continue
                    self.compare(v, lv, path + (k,))
            else:
                self._emit(path, live, d)
            return
        if isinstance(d, list):
            if not d and _missing(live):
                return  # an empty list equals an absent one: servers drop either, no perpetual diff
            if not isinstance(live, list):
                self._emit(path, live, d)
            elif self._is_set(path):
                if Counter(map(_freeze, d)) != Counter(map(_freeze, live)):
                    self._emit(path, live, d)
            elif len(d) != len(live):
                self._emit(path, live, d)
            else:
                fast = self.fast
                for i, (dv, lv) in enumerate(zip(d, live, strict=True)):
                    if fast and type(dv) is type(lv) and type(dv) in _SCALARS and dv == lv:
                        continue
                    self.compare(dv, lv, path + (i,))
            return
        if not scalar_equal(d, live):
            self._emit(path, live, d)

    def _secret(self, d: Any, live: Any, path: Path) -> None:
        prior_hash = self.prior_secrets.get(format_path(path))
        if prior_hash is not None:
            # The live value is not consulted: Vapi may mask it. The hash of what we last sent is the truth.
            changed = self.hash_secret(d) != prior_hash
        else:
            changed = not owned_equal(d, live)
        if changed:
            before = ABSENT if _missing(live) else SENSITIVE
            self.out.append((path, before, SENSITIVE, True))

    def removed(self, prior: Any, d: Any, live: Any, path: Path) -> None:
        """Record paths declared in prior, no longer declared, that the live object still has."""
        if self.skip and path in self.skip:
            return
        if isinstance(prior, dict) and isinstance(d, dict):
            for k, pv in prior.items():
                if k in d:
                    dv = d[k]
                    # Only where both are objects or both lists can anything below be removed.
                    if _both_containers(pv, dv):
                        self.removed(pv, dv, _child(live, k), path + (k,))
                    continue
                p = path + (k,)
                if not (self.skip and p in self.skip) and not _missing(_child(live, k)):
                    self._emit(p, _child(live, k), ABSENT)
        elif isinstance(prior, list) and isinstance(d, list) and len(prior) == len(d):
            for i, (pv, dv) in enumerate(zip(prior, d, strict=True)):
                if _both_containers(pv, dv):
                    self.removed(pv, dv, _child(live, i), path + (i,))


def _both_containers(a: Any, b: Any) -> bool:
    return (isinstance(a, dict) and isinstance(b, dict)) or (isinstance(a, list) and isinstance(b, list))


def _child(value: Any, step: str | int) -> Any:
    """get(value, (step,), ABSENT), without the loop: called for every key a prior declared."""
    if isinstance(step, str):
        return value.get(step, ABSENT) if isinstance(value, dict) else ABSENT
    if isinstance(value, list) and 0 <= step < len(value):
        return value[step]
    return ABSENT


def compare(
    desired: Any,
    live: Any,
    prior: Any = None,
    *,
    set_paths: Iterable[str | Path] = (),
    ignore: Iterable[str | Path] = (),
    sensitive: Iterable[Path] = frozenset(),
    prior_secrets: Mapping[str, str] | None = None,
    hash_secret: Hasher = default_hash,
    skip: Iterable[Path] = (),
) -> list[tuple[Path, FieldChange]]:
    """Every owned difference as (path, FieldChange), sorted by path. See `diff`."""
    ignore_pats = ignore_patterns(ignore)
    if ignore_pats:
        desired = _strip(desired, ignore_pats, ())
        prior = _strip(prior, ignore_pats, ()) if prior is not None else None
        sensitive = [p for p in sensitive if has(desired, tuple(p))]
    sensitive = frozenset(tuple(p) for p in sensitive)
    prior_secrets = dict(prior_secrets or {})
    walk = _Walk(
        set_paths=set_paths,
        sensitive=sensitive,
        prior_secrets=prior_secrets,
        hash_secret=hash_secret,
        skip=skip,
        redact=lambda: Redactor(sensitive, prior_secrets, secret_values(desired, sensitive)),
    )
    walk.compare(desired, live, ())
    changed = [p for p, *_ in walk.out]
    if prior is not None:
        walk.removed(prior, desired, live, ())
    # A removal under a path that already changes as a whole is part of that change.
    out = [
        (p, FieldChange(format_path(p), before, after, sensitive=secret))
        for p, before, after, secret in walk.out
        if after is not ABSENT or not any(p[: len(c)] == c and p != c for c in changed)
    ]
    return sorted(out, key=lambda pc: path_key(pc[0]))


def diff(
    desired: Any,
    live: Any,
    prior: Any = None,
    *,
    set_paths: Iterable[str | Path] = (),
    ignore: Iterable[str | Path] = (),
    sensitive: Iterable[Path] = frozenset(),
    prior_secrets: Mapping[str, str] | None = None,
    hash_secret: Hasher = default_hash,
    skip: Iterable[Path] = (),
) -> list[FieldChange]:
    """The owned differences between desired and live (plus removals against prior), sorted by path.

    desired/live/prior are plain JSON values in the same "name space" (references as names).
    set_paths: patterns of arrays compared as multisets. ignore: patterns never diffed.
    sensitive: paths of desired holding secrets; compared by hash against prior_secrets
    ({dotted path: hash}) when there is one, else against live; shown as SENSITIVE.
    skip: concrete paths not compared at all. A removed field has after=ABSENT.
    """
    return [
        fc
        for _, fc in compare(
            desired,
            live,
            prior,
            set_paths=set_paths,
            ignore=ignore,
            sensitive=sensitive,
            prior_secrets=prior_secrets,
            hash_secret=hash_secret,
            skip=skip,
        )
    ]


def owned_equal(
    desired: Any, live: Any, *, set_paths: Iterable[str | Path] = (), skip: Iterable[Path] = ()
) -> bool:
    """True when every field desired declares equals live's (the ownership rules; extra live keys ignored)."""
    walk = _Walk(
        set_paths=set_paths,
        sensitive=(),
        prior_secrets={},
        hash_secret=default_hash,
        skip=skip,
        stop_early=True,
    )
    walk.compare(desired, live, ())
    return not walk.out


# -- the PATCH body ---------------------------------------------------------------------------


def overlay(live: Any, desired: Any, path: Path = (), set_paths: Iterable[str | Path] = ()) -> Any:
    """live with desired laid over it: dicts merge recursively, equal-length lists element-wise,
    anything else (and set-like ID arrays) is the desired value. Returns a fresh copy."""
    return _overlay(live, desired, path, _patterns(set_paths))


def _overlay(live: Any, d: Any, path: Path, set_pats: tuple[Pattern, ...]) -> Any:
    if d is ABSENT:
        return copy_json(live)
    if isinstance(d, dict) and isinstance(live, dict):
        out = {k: copy_json(v) for k, v in live.items()}
        for k, v in d.items():
            out[k] = _overlay(live.get(k, ABSENT), v, path + (k,), set_pats)
        return out
    if (
        isinstance(d, list)
        and isinstance(live, list)
        and len(d) == len(live)
        and not (set_pats and _matches_any(set_pats, path))
    ):
        return [
            _overlay(lv, dv, path + (i,), set_pats) for i, (lv, dv) in enumerate(zip(live, d, strict=True))
        ]
    return copy_json(d)


def build_patch(
    desired: dict[str, Any],
    live: dict[str, Any],
    changed: Iterable[Path],
    removed: Iterable[Path] = (),
    *,
    required: Iterable[str] = (),
    set_paths: Iterable[str | Path] = (),
    ignore: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """The PATCH body for the changed and removed paths (docs/plan.md: a key is sent whole).

    Top-level keys: those of every changed/removed path plus `required` (e.g. squad `members`)
    when either side has it. Each is the live value with the desired one laid over it, so nested
    settings nobody declared survive; removed paths are taken out (a removed top-level key is sent
    as null); ignored paths keep their live value because they are stripped from desired first.
    """
    desired = strip_ignored(desired, ignore)
    removed = [tuple(p) for p in removed]
    # Top-level steps of a path into an object are always keys (str).
    keys = {str(p[0]) for p in [*map(tuple, changed), *removed] if p}
    keys |= {k for k in required if k in desired or k in live}
    body: dict[str, Any] = {}
    for key in sorted(keys):
        if (key,) in removed:
            body[key] = None
            continue
        body[key] = overlay(live.get(key, ABSENT), desired.get(key, ABSENT), (key,), set_paths)
    # Deepest first, so removing a key never disturbs the path of another removal.
    for p in sorted((p for p in removed if len(p) > 1), key=len, reverse=True):
        parent = get(body, p[:-1])
        if isinstance(parent, dict):
            parent.pop(p[-1], None)
    return body
