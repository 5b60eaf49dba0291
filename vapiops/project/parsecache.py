"""Parsed manifest files kept in the user's cache, by their text: an unchanged file is not parsed again."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import vapiops
from vapiops.fsio import atomic_write
from vapiops.project import yamlload
from vapiops.vapispec.cache import cache_dir, prune_unused


class _Source:
    """One file's text, parsed again only if a location inside one of its documents is asked for."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename

    @functools.cached_property
    def documents(self) -> list[tuple[Any, dict[tuple, int]]]:
        return yamlload.load_yaml_with_lines(self.text, self.filename)


class Lines(Mapping[tuple, int]):
    """A document's {path: line}, as load_yaml_with_lines gives it. The cache keeps only the line of
    the document itself; the rest comes from parsing the file again, only when a location inside
    the document is asked for (a problem, a warning): a valid manifest never pays for it."""

    def __init__(self, root: int, source: _Source, index: int):
        self._root = root
        self._source = source
        self._index = index

    def _map(self) -> dict[tuple, int]:
        return self._source.documents[self._index][1]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._root if key == () else self._map().get(key, default)

    def __getitem__(self, key: tuple) -> int:
        return self._root if key == () else self._map()[key]

    def __contains__(self, key: object) -> bool:
        return key == () or key in self._map()

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


class ParsedFiles:
    """Every manifest file of one project as last parsed: {digest of its text: its documents' values
    and lines}, one file per project in the user's cache (like the spec and the schema checks),
    read once per run and written once when the run parsed anything new. It holds what the last
    run read, so it never grows beyond the project. A text that fails to parse is never kept: its
    error is raised on every run. Unreadable, unwritable or damaged means parsing, silently."""

    def __init__(self, root: Path):
        self.path: Path | None = None
        self.known: dict[str, list[list[Any]]] = {}
        self.used: dict[str, list[list[Any]]] = {}
        self.new = False
        with contextlib.suppress(OSError, ValueError):
            project = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
            self.path = cache_dir() / f"parsed-{project}-{_loader_key()[:16]}.json"
            known = json.loads(self.path.read_text("utf-8"))
            if isinstance(known, dict):
                self.known = known

    def load(self, text: str, filename: str) -> list[tuple[Any, Mapping[tuple, int]]]:
        """yamlload.load_yaml_with_lines(text, filename), from the cache when this text was parsed before."""
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
        cached = self.known.get(digest)
        if isinstance(cached, list):
            with contextlib.suppress(ValueError, TypeError):
                source = _Source(text, filename)
                docs: list[tuple[Any, Mapping[tuple, int]]] = [
                    (value, Lines(root, source, index)) for index, (value, root) in enumerate(cached)
                ]
                self.used[digest] = cached
                return docs
        parsed = yamlload.load_yaml_with_lines(text, filename, record_lines=False)
        self.used[digest] = [[value, lines[()]] for value, lines in parsed]
        self.new = True
        source = _Source(text, filename)
        return [(value, Lines(lines[()], source, index)) for index, (value, lines) in enumerate(parsed)]

    def save(self) -> None:
        """Keep what this run read (when it parsed anything new, or no longer reads some file)."""
        if self.path is None or (not self.new and len(self.used) == len(self.known)):
            return
        with contextlib.suppress(OSError, ValueError):
            text = json.dumps(self.used, ensure_ascii=False, separators=(",", ":"))
            atomic_write(self.path, text, what="parse cache", durable=False)
            prune_unused(self.path, "parsed-*.json")  # projects long gone (a deleted checkout, a temp dir)


@functools.cache
def _loader_key() -> str:
    """What a cached parse depends on besides the text: vapiops' version and the loader's code."""
    source = Path(yamlload.__file__).read_bytes() + Path(__file__).read_bytes()
    return hashlib.sha256(vapiops.__version__.encode() + source).hexdigest()
