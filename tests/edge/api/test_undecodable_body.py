"""A body that is not UTF-8, sent with a content type no route reads (issue 19, found by the
PDA API fuzz kind): refused with 422 and a sentence per field, never a 500; nothing stored."""

from __future__ import annotations

import pytest

from tests.edge.api.conftest import Api


@pytest.mark.parametrize("path", ["/api/v1/counts/scan", "/api/v1/scan", "/api/v1/login"])
def test_a_body_that_is_not_utf8_is_refused_with_a_sentence(api: Api, path: str) -> None:
    headers = api.login()
    before = api.outbox(), api.movements()
    r = api.client.post(path, content=b"\xc1HT", headers={**headers, "content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_request"
    assert all(item["msg"] for item in r.json()["detail"])
    assert "input" not in r.json()["detail"][0]  # the undecodable body is not echoed
    assert (api.outbox(), api.movements()) == before
