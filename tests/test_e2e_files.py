"""End to end: uploaded files and knowledge bases' attached files (a content change replaces the file
and repoints the knowledge base and the tools), drift of attachments, and bad paths as located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    KEY,
    Project,
    apply,
    assert_nothing_sent,
    assert_one_error,
    calls,
    clean,
    doc,
    plan_json,
    sandbox_client,
)

from vapiops.kinds import KINDS

pytestmark = pytest.mark.e2e

FAQ = "# FAQ\nQ: Hours? A: 9 to 5.\n"
KB = KINDS["knowledge-base"]


def _attached(sandbox, kb_id: str) -> list[str]:
    with sandbox_client(sandbox, KEY) as client:
        return [x["fileId"] for x in client.get(f"{KB.path}/{kb_id}/file").json()]


def _project(proj: Project) -> Project:
    (proj.root / "knowledge").mkdir(parents=True)
    (proj.root / "knowledge" / "faq.md").write_text(FAQ)
    return proj.put(
        doc("file", "faq", {"path": "knowledge/faq.md", "purpose": "knowledge-base-v2"}),
        doc("knowledge-base", "support", {"name": "support", "files": ["faq"]}),
        doc(
            "tool",
            "answers",
            {
                "type": "query",
                "knowledgeBases": [
                    {"name": "faq", "provider": "google", "description": "FAQ", "fileIds": ["faq"]}
                ],
            },
        ),
    ).save()


def test_a_file_whose_content_changes_is_replaced_and_the_knowledge_base_repointed(run, sandbox, proj):
    _project(proj)
    apply(run, proj)
    ids = proj.ids()
    assert _attached(sandbox, ids["knowledge-base/support"]) == [ids["file/faq"]]
    clean(run, proj)

    (proj.root / "knowledge" / "faq.md").write_text(FAQ + "Q: Returns? A: 30 days.\n")
    plan = plan_json(run, proj)
    actions = {c["address"]: c["action"] for c in plan["changes"]}
    assert actions == {"file/faq": "replace", "knowledge-base/support": "update", "tool/answers": "update"}
    assert FAQ not in run("plan", proj.root, code=None).stdout  # path and hash, never the content
    sandbox.clear_requests()
    apply(run, proj)
    new = proj.ids()
    assert new["file/faq"] != ids["file/faq"]
    assert _attached(sandbox, ids["knowledge-base/support"]) == [new["file/faq"]]
    done = calls(sandbox)
    kb = f"{KB.path}/{ids['knowledge-base/support']}"
    assert ("POST", f"{kb}/file") in done and ("DELETE", f"{kb}/file/{ids['file/faq']}") in done
    assert ("PATCH", kb) not in done  # the set moves by its own calls, never by the body
    # The old upload goes last, after everything let go of it.
    assert done[-1] == ("DELETE", f"/file/{ids['file/faq']}")
    clean(run, proj)

    # Moving the file (same content) is no change.
    (proj.root / "knowledge" / "faq.md").rename(proj.root / "knowledge" / "moved.md")
    proj.spec("file/faq")["path"] = "knowledge/moved.md"
    proj.save()
    clean(run, proj)


def test_a_dashboard_attachment_is_drift_and_apply_detaches_it(run, sandbox, proj):
    _project(proj)
    apply(run, proj)
    ids = proj.ids()
    with sandbox_client(sandbox, KEY) as client:
        other = client.post(
            "/file", files={"file": ("other.txt", b"other", "text/plain")}, data={"purpose": "assistant"}
        )
        assert other.status_code == 201, other.text
        attached = client.post(
            f"{KB.path}/{ids['knowledge-base/support']}/file", json={"fileId": other.json()["id"]}
        )
        assert attached.status_code == 201, attached.text
    drift = run("plan", proj.root, "--refresh-only", "--format", "json", code=None)
    assert '"files' in drift.stdout and other.json()["id"] in drift.stdout
    sandbox.clear_requests()
    apply(run, proj)
    assert calls(sandbox) == [
        ("DELETE", f"{KB.path}/{ids['knowledge-base/support']}/file/{other.json()['id']}")
    ]
    assert _attached(sandbox, ids["knowledge-base/support"]) == [ids["file/faq"]]
    clean(run, proj)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("knowledge/missing.md", "no such file in the project"),
        ("../outside.md", "leads outside the project root"),
        ("/etc/hostname", "absolute paths are not allowed"),
        ("knowledge/link.md", "leads outside the project root"),  # a symlink out
        (".env", "hidden files and folders are not allowed"),
        ("knowledge/big.bin", "more than the"),
        (None, "names the file to upload"),
    ],
)
def test_a_bad_path_is_one_located_error_and_nothing_is_sent(
    run, sandbox, proj, tmp_path: Path, path, message
):
    (proj.root / "knowledge").mkdir(parents=True)
    outside = tmp_path / "outside.md"
    outside.write_text("secret")
    (proj.root / "knowledge" / "link.md").symlink_to(outside)
    (proj.root / ".env").write_text("KEY=1")
    with (proj.root / "knowledge" / "big.bin").open("wb") as fh:
        fh.truncate(KINDS["file"].upload.max_bytes + 1)  # type: ignore[union-attr]
    spec = {"purpose": "knowledge-base-v2", **({"path": path} if path else {})}
    proj.put(doc("file", "faq", spec)).save()
    sandbox.clear_requests()
    for command in ("validate", "plan"):
        result = run(command, proj.root, code=None)
        # The `path` line (5: kind, name, spec, purpose, path), or the document when there is none.
        assert_one_error(result, "resources/all.yaml:5" if path else "resources/all.yaml", message)
        assert_nothing_sent(sandbox, command)  # plan may have listed meanwhile: GETs only


def test_a_computed_field_written_by_hand_is_refused(run, proj):
    proj.root.mkdir(parents=True)
    (proj.root / "faq.md").write_text(FAQ)
    proj.put(doc("file", "faq", {"path": "faq.md", "sha256": "0" * 64})).save()
    assert_one_error(run("validate", proj.root, code=None), None, "`sha256` is computed by vapiops")


@pytest.mark.parametrize("fault", ["/file", "/v2/knowledge-base/"], ids=["upload", "attach"])
def test_a_gateway_failing_after_an_upload_or_attach_makes_no_duplicate(run, sandbox, proj, fault: str):
    """The API acts, then a 502 reaches vapiops: the retry finds the upload (or the attachment) it
    made instead of uploading (attaching) again, and the next plan is clean."""
    _project(proj)
    sandbox.inject("POST", fault, 502, after_effect=True)
    apply(run, proj)
    failed = [r for r in sandbox.requests if r["method"] == "POST" and r["status"] == 502]
    assert len(failed) == 1 and failed[0]["path"].startswith(fault)  # the API acted, vapiops saw a 502
    assert len(sandbox.objects("file", KEY)) == 1
    kb_id = proj.ids()["knowledge-base/support"]
    assert _attached(sandbox, kb_id) == [proj.ids()["file/faq"]]
    clean(run, proj)
