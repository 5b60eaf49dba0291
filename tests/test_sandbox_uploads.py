"""The sandbox's uploads and attached sets, through Api (no HTTP): multipart parsing, the purpose
filter the real API requires, attach/detach with their 404s and 409, links dropped on delete."""

from __future__ import annotations

import httpx
import pytest

from vapiops.kinds import KINDS
from vapiops.sandbox.api import Api
from vapiops.sandbox.store import Store
from vapiops.sandbox.uploads import parse_multipart, sub_route

ORG = "org-1"
KB = KINDS["knowledge-base"].path


def _multipart(files: dict, data: dict) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://x/file", files=files, data=data)
    return request.headers["Content-Type"], request.read()


def _upload(api: Api, name: str = "faq.md", content: bytes = b"# FAQ\n", **data: str) -> dict:
    ctype, raw = _multipart({"file": (name, content, "text/markdown")}, data)
    body, ok = parse_multipart(ctype, raw)
    assert ok
    response = api.handle("POST", "/file", {}, body, ORG)
    assert response.status == 201, response.body
    return response.body


def test_multipart_parts_and_fields_are_parsed():
    ctype, raw = _multipart(
        {"file": ("a b.md", b"\x00\xffbinary", "text/markdown")}, {"purpose": "assistant"}
    )
    body, ok = parse_multipart(ctype, raw)
    assert ok and body == {
        "purpose": "assistant",
        "file": {"filename": "a b.md", "contentType": "text/markdown", "content": b"\x00\xffbinary"},
    }


@pytest.mark.parametrize(
    ("ctype", "raw"),
    [("multipart/form-data; boundary=x", b"not multipart"), ("text/plain", b"plain")],
)
def test_a_body_that_is_not_multipart_is_refused(ctype, raw):
    assert parse_multipart(ctype, raw) == (None, False)


def test_an_upload_records_what_the_api_reports_and_lists_by_purpose():
    api = Api(Store())
    made = _upload(api, purpose="knowledge-base-v2", metadata='{"team": "support"}')
    assert {k: made[k] for k in ("name", "originalName", "bytes", "mimetype", "purpose", "metadata")} == {
        "name": "faq.md",
        "originalName": "faq.md",
        "bytes": 6,
        "mimetype": "text/markdown",
        "purpose": "knowledge-base-v2",
        "metadata": {"team": "support"},
    }
    default = _upload(api, "plain.txt")
    assert default["purpose"] == "assistant"
    assert api.handle("GET", "/file", {}, None, ORG).status == 400  # `purpose` is required
    listed = api.handle("GET", "/file", {"purpose": "knowledge-base-v2"}, None, ORG).body
    assert [o["id"] for o in listed] == [made["id"]]
    renamed = api.handle("PATCH", f"/file/{made['id']}", {}, {"name": "FAQ"}, ORG)
    assert renamed.status == 200 and renamed.body["name"] == "FAQ" and renamed.body["bytes"] == 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"purpose": "assistant"}, "file should not be empty"),
        (
            {"file": {"filename": "a", "contentType": "text/plain", "content": b""}, "purpose": "other"},
            "allowed values",
        ),
        ({"file": {"filename": "a", "contentType": "text/plain", "content": b""}, "metadata": "{"}, "JSON"),
        ({"file": {"filename": "a", "contentType": "text/plain", "content": b""}, "colour": "red"}, "colour"),
    ],
)
def test_a_bad_upload_is_a_400(body, message):
    response = Api(Store()).handle("POST", "/file", {}, body, ORG)
    assert response.status == 400 and message in str(response.body["message"])


def test_attach_list_detach_and_links_go_with_deletes():
    api = Api(Store())
    faq = _upload(api, purpose="knowledge-base-v2")
    kb = api.handle("POST", KB, {}, {"name": "support"}, ORG).body
    at = f"{KB}/{kb['id']}/file"
    assert api.handle("POST", at, {}, {"fileId": faq["id"]}, ORG).status == 201
    assert api.handle("POST", at, {}, {"fileId": faq["id"]}, ORG).status == 409
    assert api.handle("POST", at, {}, {"fileId": "00000000-0000-4000-8000-000000000000"}, ORG).status == 404
    assert api.handle("POST", f"{KB}/nope/file", {}, {"fileId": faq["id"]}, ORG).status == 404
    assert [x["fileId"] for x in api.handle("GET", at, {}, None, ORG).body] == [faq["id"]]
    assert [x["fileId"] for x in api.handle("GET", f"{KB}/{kb['id']}", {}, None, ORG).body["files"]] == [
        faq["id"]
    ]
    assert api.handle("DELETE", f"{at}/{faq['id']}", {}, None, ORG).status == 200
    assert api.handle("DELETE", f"{at}/{faq['id']}", {}, None, ORG).status == 404
    api.handle("POST", at, {}, {"fileId": faq["id"]}, ORG)
    api.handle("DELETE", f"/file/{faq['id']}", {}, None, ORG)  # deleting the file detaches it
    assert api.handle("GET", at, {}, None, ORG).body == []


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (f"{KB}/k1/file", ("knowledge-base", "k1", None)),
        (f"{KB}/k1/file/f1", ("knowledge-base", "k1", "f1")),
        (f"{KB}/k1/other", None),
        ("/file/f1", None),
    ],
)
def test_attached_set_routes(path, found):
    routed = sub_route({k.path: k for k in KINDS.values()}, path)
    assert (None if routed is None else (routed[0].name, routed[2], routed[3])) == found
