"""`vapiops init`: the files of a new project (and, with --ci github, the example workflows); never overwrites."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vapiops import fsio
from vapiops.errors import VapiopsError

CI_PROVIDERS = ("github",)
# The example workflows of examples/ci/, shipped in the package (a test keeps the copies equal).
WORKFLOWS = Path(__file__).resolve().parents[1] / "data" / "ci"

CONFIG = """\
# vapiops project: one set of manifests, one Vapi org per environment (docs/manifests.md).
resources: [resources]
environments:
  dev:
    api_key_env: VAPI_API_KEY_DEV        # the variable holding this org's private key
    vars: {hooks_url: https://dev.example.com/vapi}
  staging:
    api_key_env: VAPI_API_KEY_STAGING
    vars: {hooks_url: https://staging.example.com/vapi}
  prod:
    api_key_env: VAPI_API_KEY_PROD
    vars: {hooks_url: https://api.example.com/vapi}
# State a team and CI share (docs/state.md "Shared backends"); without it, state is local files.
# state: {backend: s3, bucket: my-vapiops-state, prefix: voice/, region: eu-west-1}
"""

ASSISTANT = """\
# An assistant: `spec` is the body of Vapi's Create Assistant DTO (docs/manifests.md).
kind: assistant
name: receptionist
spec:
  firstMessage: "Hello, how can I help you today?"
  model:
    provider: openai
    model: gpt-4.1-mini
    messages:
      - role: system
        content: "${{ include('prompts/receptionist.md') }}"
"""

PROMPT = """\
You are the receptionist. Greet the caller, find out what they need, and keep answers short.
"""

GITIGNORE = """\
# vapiops: local state, locks and the sandbox's data; saved plans
.vapiops/
*.plan
"""


@dataclass
class Scaffold:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already there: left as they were


def init(root: Path, ci: str | None = None) -> Scaffold:
    """Write the starter files under `root` (created if needed); existing files are kept."""
    if root.exists() and not root.is_dir():
        raise VapiopsError("is a file, not a directory", where=str(root), hint="give a directory to init")
    files = {
        "vapiops.yaml": CONFIG,
        "resources/receptionist.yaml": ASSISTANT,
        "prompts/receptionist.md": PROMPT,
        ".gitignore": GITIGNORE,
    }
    if ci == "github":
        for workflow in sorted(WORKFLOWS.glob("*.yml")):
            files[f".github/workflows/vapiops-{workflow.name}"] = workflow.read_text()
    done = Scaffold()
    for rel, text in files.items():
        target = root / rel
        if target.exists():
            done.kept.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fsio.atomic_write(target, text, what=rel)
        done.written.append(rel)
    return done
