"""Round-trip editing of manifest files: change values at paths, and no other byte of the file moves.

ruamel.yaml (round-trip mode) keeps comments, key order, quoting, anchors and block-scalar style
of what it loads; what it cannot promise is to re-emit every untouched line exactly as written
(indentation of lists, spacing in flow mappings, `---` markers). So the edited document is dumped,
the unedited one is dumped too, and only the lines that differ between those two dumps are carried
into the original text, at the place the alignment of original and dump gives them. If a changed
line cannot be placed that way, the edit is refused rather than reformatting the user's file.
"""

from __future__ import annotations

import difflib
import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from vapiops.errors import ManifestError
from vapiops.paths import Path


class WritebackError(ManifestError):
    """A file that cannot be edited without moving text the edit does not change."""


def _yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long line the user wrote on one line
    mapping, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=mapping + offset, offset=offset)
    return yaml


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, list dash offset) as the file writes them, so the dump matches it most often."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping: int | None = None
    offset: int | None = None
    for parent, child in zip(lines, lines[1:], strict=False):  # lines[1:] is one shorter
        if not parent.rstrip().endswith(":"):
            continue
        depth = len(child) - len(child.lstrip()) - (len(parent) - len(parent.lstrip()))
        if child.lstrip().startswith("- ") and offset is None and depth >= 0:
            offset = depth
        elif not child.lstrip().startswith("- ") and mapping is None and depth > 0:
            mapping = depth
    return mapping or 2, offset or 0


class YamlFile:
    """One manifest file loaded round trip; `set`/`delete` edit it, `text()` gives the new text."""

    def __init__(self, name: str, text: str):
        self.name = name
        self.original = text
        self._yaml = _yaml(text)
        self.documents: list[Any] = list(self._yaml.load_all(text))
        self.changed = False

    def document(self, kind: str, name: str) -> CommentedMap:
        """The document whose `kind` and `name` are these (manifest addresses are unique)."""
        for doc in self.documents:
            if isinstance(doc, CommentedMap) and doc.get("kind") == kind and doc.get("name") == name:
                return doc
        raise WritebackError(f"no document for {kind}/{name} in this file", where=self.name)

    def set(self, doc: CommentedMap, path: Path, value: Any) -> None:
        """Write value at path (all parents but the last must exist), keeping the old value's style."""
        parent = _walk(doc, path[:-1])
        key = path[-1]
        if isinstance(parent, dict) and key in parent:
            parent[key] = replaced(parent[key], value)
        elif isinstance(parent, dict):
            parent[key] = replaced(None, value)
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            parent[key] = replaced(parent[key], value)
        else:
            raise WritebackError(f"cannot write at {path!r}", where=self.name)
        self.changed = True

    def delete(self, doc: CommentedMap, path: Path) -> None:
        parent = _walk(doc, path[:-1])
        if isinstance(parent, dict) and path[-1] in parent:
            del parent[path[-1]]
            self.changed = True

    def _dump(self, documents: list[Any]) -> str:
        out = io.StringIO()
        self._yaml.dump_all(documents, out)
        return out.getvalue()

    def text(self) -> str:
        """The original text with only the lines the edits changed replaced."""
        if not self.changed:
            return self.original
        before = self._dump(list(_yaml(self.original).load_all(self.original)))
        after = self._dump(self.documents)
        if before == self.original:
            return after
        return splice(self.original, before, after, self.name)


def _walk(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def replaced(old: Any, new: Any) -> Any:
    """new, in old's clothes: containers edited in place (their comments stay), strings keep their quoting."""
    if isinstance(old, CommentedMap) and isinstance(new, dict):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = replaced(old[key], value) if key in old else replaced(None, value)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        for i, value in enumerate(new):
            if i < len(old):
                old[i] = replaced(old[i], value)
            else:
                old.append(replaced(None, value))
        del old[len(new) :]
        return old
    if isinstance(new, str):
        return _styled_string(old, new)
    return new


def _styled_string(old: Any, new: str) -> str:
    if type(old) is type(new) and old == new:
        return old  # the same text: keep it exactly as it was written
    multiline = "\n" in new.rstrip("\n")
    if isinstance(old, FoldedScalarString):
        return FoldedScalarString(new)
    if isinstance(old, LiteralScalarString) or multiline and not isinstance(old, DoubleQuotedScalarString):
        return LiteralScalarString(new)
    if isinstance(old, DoubleQuotedScalarString) or "\n" in new:
        return DoubleQuotedScalarString(new)
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(new)
    return new


def anchored(value: Any) -> str | None:
    """The anchor name of a node that other places of the document share (`&name`), if any."""
    anchor = getattr(value, "anchor", None)
    name = getattr(anchor, "value", None)
    return name if isinstance(name, str) else None


def splice(original: str, before: str, after: str, name: str) -> str:
    """original with the line changes between two dumps (before -> after) carried over.

    `before` is the dump of the unedited file, so its lines align with the original's except
    where the dumper formats differently; every changed run of lines must sit in an aligned stretch.
    """
    orig, old, new = (t.splitlines(keepends=True) for t in (original, before, after))
    to_orig: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, orig, old, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            to_orig[block.b + k] = block.a + k
    edits: list[tuple[int, int, list[str]]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            start = to_orig.get(i1)
            if start is None or any(to_orig.get(i) != start + (i - i1) for i in range(i1, i2)):
                raise _unplaceable(name, old[i1])
            edits.append((start, start + (i2 - i1), new[j1:j2]))
        elif i1 in to_orig:
            edits.append((to_orig[i1], to_orig[i1], new[j1:j2]))
        elif i1 - 1 in to_orig:
            edits.append((to_orig[i1 - 1] + 1, to_orig[i1 - 1] + 1, new[j1:j2]))
        else:
            raise _unplaceable(name, new[j1] if j1 < j2 else "")
    for start, end, lines in sorted(edits, reverse=True):
        orig[start:end] = lines
    return "".join(orig)


def _unplaceable(name: str, line: str) -> WritebackError:
    return WritebackError(
        f"cannot rewrite {line.strip()!r} without reformatting lines around it; no file was written",
        where=name,
        hint="make this change by hand; `vapiops plan --refresh-only` shows the live value",
    )
