"""Found by the hub HTTP API fuzz kind (issue 19): a shop code of blanks alone was refused
with "no shop \n", a sentence that names nothing. Now the code is shown quoted; nothing made."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.models import ChannelShop


def test_a_shop_code_of_blanks_is_named_in_the_refusal(client: TestClient) -> None:
    r = client.post("/api/v1/channels/shops/%0A/download")
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "no shop '\\n'"
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(func.count()).select_from(ChannelShop)).scalar_one() == 0
