"""Re-vendor Vapi's OpenAPI spec: gzip a local copy into vapiops/data and record its size and sha256.

Usage: python scripts/refresh_openapi.py PATH/TO/openapi.json

Only a local file is read (download it first, e.g. from https://api.vapi.ai/api-json or GitHub
VapiAI/docs fern/apis/api/openapi.json): vapiops scripts never reach the network. Prints how many
component schemas were added, removed or changed against the copy vendored before, so a reviewer
knows how much to look at; then run scripts/build_schemas.py and the tests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "vapiops" / "data"
GZ_NAME = "openapi.json.gz"
SIZE_LINE = re.compile(r"Size [\d,]+ bytes; sha256 [0-9a-f]{64}\.")


def gzip_bytes(raw: bytes) -> bytes:
    """Deterministic gzip (no timestamp), so re-vendoring the same file changes nothing in git."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="openapi.json", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(raw)
    return buffer.getvalue()


def schema_changes(old: dict, new: dict) -> tuple[int, int, int]:
    """(added, removed, changed) component schemas between two specs."""
    before = old.get("components", {}).get("schemas", {})
    after = new.get("components", {}).get("schemas", {})
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    changed = sum(
        1
        for name in after.keys() & before.keys()
        if json.dumps(after[name], sort_keys=True) != json.dumps(before[name], sort_keys=True)
    )
    return added, removed, changed


def update_source_note(text: str, raw: bytes) -> str:
    """Put the new size and sha256 into SOURCE.md (appending the line if it is not there)."""
    line = f"Size {len(raw):,} bytes; sha256 {hashlib.sha256(raw).hexdigest()}."
    if SIZE_LINE.search(text):
        return SIZE_LINE.sub(line, text, count=1)
    return text.rstrip("\n") + f"\n\n{line}\n"


def refresh(source: Path, data_dir: Path = DATA) -> tuple[int, int, int]:
    raw = source.read_bytes()
    new = json.loads(raw)
    if not isinstance(new, dict) or "components" not in new or "paths" not in new:
        raise SystemExit(f"{source}: not an OpenAPI document (no components/paths)")
    gz_path = data_dir / GZ_NAME
    old = json.loads(gzip.decompress(gz_path.read_bytes())) if gz_path.exists() else {}
    counts = schema_changes(old, new)
    gz_path.write_bytes(gzip_bytes(raw))
    note = data_dir / "SOURCE.md"
    note.write_text(update_source_note(note.read_text() if note.exists() else "", raw))
    return counts


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith(("-", "http://", "https://")):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    added, removed, changed = refresh(Path(argv[0]))
    total = added + removed + changed
    print(f"{total} schemas changed ({added} added, {removed} removed, {changed} modified).")
    print(
        "Now update the provenance (commit, date) in vapiops/data/SOURCE.md by hand, "
        "run scripts/build_schemas.py and the tests."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
