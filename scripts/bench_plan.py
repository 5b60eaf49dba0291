"""Benchmark: validate, apply and re-plan N generated resources against the sandbox on 127.0.0.1.

Usage: python scripts/bench_plan.py [N]   (default 1000). Prints seconds per phase and request counts.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from vapiops.cli.commands import cli
from vapiops.sandbox import SandboxServer


def write_project(root: Path, n: int) -> None:
    res = root / "resources"
    res.mkdir(parents=True)
    tools = n // 5
    docs = []
    for i in range(tools):
        docs.append(f"""kind: tool
name: tool-{i}
spec:
  type: function
  function: {{name: fn_{i}, description: "Tool {i}", parameters: {{type: object, properties: {{q: {{type: string}}}}}}}}
  server: {{url: "https://hooks.example.com/t/{i}"}}
""")
    for i in range(n - tools):
        docs.append(f"""kind: assistant
name: assistant-{i}
spec:
  firstMessage: "Hello from {i}"
  model:
    provider: openai
    model: gpt-4o
    messages: [{{role: system, content: "You are assistant {i}. Caller: {{{{ customer.number }}}}"}}]
    toolIds: [tool-{i % tools}]
""")
    for chunk in range(0, len(docs), 100):
        (res / f"part-{chunk // 100:03}.yaml").write_text("---\n".join(docs[chunk : chunk + 100]))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp, SandboxServer() as server:
        root = Path(tmp) / "proj"
        write_project(root, n)
        env = {"VAPI_BASE_URL": server.url, "VAPI_API_KEY": "bench", "NO_COLOR": "1"}

        def timed(*args: str) -> float:
            started = time.perf_counter()
            result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
            elapsed = time.perf_counter() - started
            assert result.exit_code in (0, 2), result.stderr
            return elapsed

        print(f"{n} resources")
        print(f"validate:        {timed('validate', str(root)):.2f} s")
        server.clear_requests()
        print(
            f"apply (create):  {timed('apply', str(root), '--auto-approve'):.2f} s  ({len(server.requests)} requests)"
        )
        server.clear_requests()
        print(
            f"plan (no-op):    {timed('plan', str(root), '--detailed-exitcode'):.2f} s  ({len(server.requests)} requests)"
        )


if __name__ == "__main__":
    main()
