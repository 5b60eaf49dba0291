"""Benchmark: apply N generated creates with state in local files, then in S3 (moto's server on 127.0.0.1).

Usage: python scripts/bench_state.py [N]   (default 1000). Needs the test extras (moto[server], boto3).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_plan import write_project  # noqa: E402
from servers import S3_CREDENTIALS, create_bucket, s3_server  # noqa: E402

from vapiops.cli.commands import cli  # noqa: E402
from vapiops.sandbox import SandboxServer  # noqa: E402


def timed_apply(root: Path, env: dict[str, str]) -> float:
    with SandboxServer() as server:
        started = time.perf_counter()
        result = CliRunner().invoke(
            cli,
            ["apply", str(root), "--auto-approve"],
            env={**env, "VAPI_BASE_URL": server.url, "VAPI_API_KEY": "bench", "NO_COLOR": "1"},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.stderr
        return time.perf_counter() - started


def count_s3_requests() -> Counter[str]:
    """Counts every S3 request the backend sends, by operation (PutObject, HeadObject, ...)."""
    import boto3

    counts: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.s3", count)
    return counts


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    os.environ.update(S3_CREDENTIALS)
    requests = count_s3_requests()
    with tempfile.TemporaryDirectory() as tmp, s3_server() as endpoint:
        create_bucket(endpoint, "vapiops-bench")
        local, s3 = Path(tmp) / "local", Path(tmp) / "s3"
        write_project(local, n)
        write_project(s3, n)
        (s3 / "vapiops.yaml").write_text(
            f"state: {{backend: s3, bucket: vapiops-bench, endpoint_url: '{endpoint}', region: us-east-1}}\n"
        )
        local_s = timed_apply(local, {})
        s3_s = timed_apply(s3, {})
        print(
            f"apply of {n} creates: local state {local_s:.1f} s, s3 state {s3_s:.1f} s ({s3_s / local_s:.1f}x); "
            f"s3 requests: {', '.join(f'{op} {c}' for op, c in sorted(requests.items()))}"
        )


if __name__ == "__main__":
    main()
