"""End to end against a sandbox made to behave like the real API (docs/sandbox.md: fields beyond the
spec set from the dashboard, masked secrets, version pins): vapiops loses nothing it does not know."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import KEY, apply, assistant_spec, clean, doc, live, writes

pytestmark = pytest.mark.e2e

BEYOND_SPEC = {"assistant": ["model.serviceTier", "silenceTimeoutSeconds"]}


@pytest.fixture
def sandbox() -> Iterator:
    """The real API's breadth: it stores fields the published spec lacks and masks secrets."""
    from vapiops.sandbox import SandboxServer

    server = SandboxServer(allow_fields=BEYOND_SPEC, mask_secrets=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_dashboard_settings_beyond_the_spec_survive_an_update_of_their_neighbours(proj, run, sandbox):
    proj.put(doc("assistant", "a", assistant_spec("Hi!")))
    apply(run, proj)
    obj_id = proj.ids()["assistant/a"]
    model = {**live(sandbox, "assistant", obj_id)["model"], "serviceTier": "priority"}
    sandbox.edit("assistant", KEY, obj_id, {"model": model, "silenceTimeoutSeconds": 30})

    proj.spec("assistant/a")["model"]["temperature"] = 0.2
    proj.spec("assistant/a")["firstMessage"] = "Hello!"
    proj.save()
    shown = run("plan", proj.root)
    assert "model.serviceTier sent back as the API returned it: not in Vapi's published spec" in (
        shown.stdout + shown.stderr
    )
    sandbox.clear_requests()
    apply(run, proj)
    (patch,) = writes(sandbox, succeeded=True)
    assert set(patch["body"]) == {"firstMessage", "model"}
    after = live(sandbox, "assistant", obj_id)
    assert after["model"]["serviceTier"] == "priority" and after["model"]["temperature"] == 0.2
    assert after["silenceTimeoutSeconds"] == 30 and after["firstMessage"] == "Hello!"
    clean(run, proj)
