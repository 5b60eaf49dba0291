"""The benchmark suite: a realistic generated project at several sizes, applied to the sandbox with latency.

Usage (one command; not part of the test run):

    python benchmarks/run.py                       # 100, 1,000, 5,000 and 10,000 resources
    python benchmarks/run.py --sizes 1000 --runs 3 # one size, three runs each (min/median/max)

The mix per size: 60% assistants (2-3 KB prompts, two tool references each), 25% tools, 10%
structured outputs, 4% squads, 1% scorecards. The sandbox runs as its own process
(`vapiops sandbox --latency-ms`), so the client's CPU and memory are measured alone: every
command is a separate `python -m vapiops` process, timed by wall clock, with its CPU time and
peak RSS from the kernel (wait4). Requests come from `--debug`'s request counts. The ideal bound
for a fresh apply is resources / parallelism x latency (every call waits once for the server).
Each size runs with its own empty user cache (XDG_CACHE_HOME; only the repaired spec is copied in):
`validate (cold)` is a project new to the machine, `validate (warm)` the same command again, then
apply and the no-op plan, which find what the earlier commands remembered (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MIX = {"assistant": 0.60, "tool": 0.25, "structured-output": 0.10, "squad": 0.04, "scorecard": 0.01}
WORDS = (
    "caller order delivery refund policy account verify politely confirm summarise escalate billing "
    "schedule address tracking warranty return label product replacement apologise clearly"
).split()


def counts(total: int) -> dict[str, int]:
    """How many of each kind a project of `total` resources has (at least one of each)."""
    out = {kind: max(1, int(total * share)) for kind, share in MIX.items()}
    out["assistant"] += total - sum(out.values())
    return out


def prompt(rng: random.Random, index: int) -> str:
    """A 2-3 KB system prompt with Vapi's own Liquid placeholders, as real prompts have."""
    size = rng.randint(2048, 3072)
    words: list[str] = [f"You are assistant {index}. The caller is {{{{ customer.number }}}}."]
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def documents(total: int, seed: int = 7) -> list[str]:
    """The manifests of a project of `total` resources, as YAML documents (JSON-style flow YAML)."""
    import json

    rng = random.Random(seed)
    n = counts(total)
    docs: list[dict] = []
    for i in range(n["tool"]):
        docs.append(
            {
                "kind": "tool",
                "name": f"tool-{i}",
                "spec": {
                    "type": "function",
                    "function": {
                        "name": f"fn_{i}",
                        "description": f"Tool {i}",
                        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                    },
                    "server": {"url": f"https://hooks.example.com/t/{i}"},
                },
            }
        )
    for i in range(n["assistant"]):
        tools = sorted({f"tool-{rng.randrange(n['tool'])}" for _ in range(2)})
        docs.append(
            {
                "kind": "assistant",
                "name": f"assistant-{i}",
                "spec": {
                    "firstMessage": f"Hello, this is assistant {i}.",
                    "model": {
                        "provider": "openai",
                        "model": "gpt-4o",
                        "messages": [{"role": "system", "content": prompt(rng, i)}],
                        "toolIds": tools,
                    },
                },
            }
        )
    for i in range(n["structured-output"]):
        docs.append(
            {
                "kind": "structured-output",
                "name": f"output-{i}",
                "spec": {
                    "type": "ai",
                    "description": f"Outcome {i}",
                    "schema": {"type": "boolean", "description": "Resolved?"},
                    "assistantIds": [f"assistant-{rng.randrange(n['assistant'])}"],
                },
            }
        )
    for i in range(n["squad"]):
        members = sorted({f"assistant-{rng.randrange(n['assistant'])}" for _ in range(3)})
        docs.append(
            {
                "kind": "squad",
                "name": f"squad-{i}",
                "spec": {
                    "members": [{"assistantId": m} for m in members],
                },
            }
        )
    for i in range(n["scorecard"]):
        docs.append(
            {
                "kind": "scorecard",
                "name": f"scorecard-{i}",
                "spec": {
                    "description": f"Scorecard {i}",
                    "metrics": [
                        {
                            "structuredOutputId": f"output-{rng.randrange(n['structured-output'])}",
                            "conditions": [
                                {"type": "comparator", "comparator": "=", "value": True, "points": 100}
                            ],
                        }
                    ],
                },
            }
        )
    return [json.dumps(d) for d in docs]


def write_project(root: Path, total: int) -> None:
    res = root / "resources"
    res.mkdir(parents=True)
    docs = documents(total)
    for chunk in range(0, len(docs), 100):
        (res / f"part-{chunk // 100:04}.yaml").write_text("\n---\n".join(docs[chunk : chunk + 100]) + "\n")


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    requests: int


def run(args: list[str], env: dict[str, str]) -> Run:
    """One `python -m vapiops ...` process: wall time, its CPU time and peak RSS, and its request count."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vapiops", *args, "--debug"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"vapiops {' '.join(args)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    found = re.findall(r"^requests: (.*)$", stderr, flags=re.M)
    requests = sum(int(n) for line in found for n in re.findall(r"\b\w+ (\d+)", line))
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, requests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(min(values), fmt)}-{format(max(values), fmt)} (median {format(statistics.median(values), fmt)})"


def fresh_user_cache(path: Path) -> str:
    """An empty user cache but for the repaired spec (made once per vapiops version, on a user's
    first command ever): the first validate then parses and schema-checks every manifest, as a
    project new to the machine does; the later commands find what it remembered."""
    from vapiops.vapispec.cache import cache_dir

    (path / "vapiops").mkdir(parents=True)
    for spec in cache_dir().glob("spec-*.json"):
        shutil.copy(spec, path / "vapiops" / spec.name)
    return str(path)


def bench(total: int, runs: int, latency_ms: int, parallelism: int) -> list[str]:
    """One row per measured command for a project of `total` resources."""
    rows: dict[str, list[Run]] = {"validate (cold)": [], "validate (warm)": [], "apply": [], "no-op plan": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "project"
            write_project(root, total)
            port = free_port()
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vapiops",
                    "sandbox",
                    "--port",
                    str(port),
                    "--latency-ms",
                    str(latency_ms),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                for _ in range(100):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                env = {
                    **os.environ,
                    "XDG_CACHE_HOME": fresh_user_cache(Path(tmp) / "cache"),
                    "VAPI_BASE_URL": f"http://127.0.0.1:{port}",
                    "VAPI_API_KEY": "bench",
                    "NO_COLOR": "1",
                }
                rows["validate (cold)"].append(run(["validate", str(root)], env))
                rows["validate (warm)"].append(run(["validate", str(root)], env))
                rows["apply"].append(
                    run(["apply", str(root), "--auto-approve", "--parallelism", str(parallelism)], env)
                )
                rows["no-op plan"].append(run(["plan", str(root), "--detailed-exitcode"], env))
            finally:
                server.terminate()
                server.wait()
    ideal = total / parallelism * latency_ms / 1000
    out = []
    for name, measured in rows.items():
        walls = [r.wall for r in measured]
        ratio = f"{statistics.median(walls) / ideal:.1f}x" if name == "apply" else ""
        out.append(
            f"| {total:,} | {name} | {spread(walls, '.2f')} s | {spread([r.cpu for r in measured], '.2f')} s | "
            f"{measured[-1].requests:,} | {max(r.rss_mb for r in measured):.0f} MB | "
            f"{f'{ideal:.1f} s' if name == 'apply' else ''} | {ratio} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000,10000", help="comma-separated resource counts")
    parser.add_argument("--runs", type=int, default=1, help="runs per size")
    parser.add_argument("--latency-ms", type=int, default=20, help="sandbox latency per request")
    parser.add_argument("--parallelism", type=int, default=16, help="apply --parallelism")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores; latency {args.latency_ms} ms; apply --parallelism {args.parallelism}"
    )
    print("| resources | command | wall | client CPU | requests | peak RSS | ideal | wall / ideal |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        for row in bench(size, args.runs, args.latency_ms, args.parallelism):
            print(row, flush=True)


if __name__ == "__main__":
    main()
