"""``guanjia channels add-shop | download | list`` against the simulator over a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cloud.accounts import create_account
from cloud.cli import channels_app
from cloud.db.engine import session_factory, transaction
from cloud.db.models import ChannelOrder
from cloud.db.waybills import WaybillSource
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market


@pytest.fixture
def sim() -> Iterator[tuple[Market, str]]:
    # The CLI signs with the wall clock, so the simulator's clock is set to it.
    market = Market(seed=11, now=time.time() - 900)
    market.add_shop("12345678", "cli-secret", "cli-session", "cli-shop")
    server = serve(MarketplaceApp(market), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield market, f"http://127.0.0.1:{server.server_port}/router/rest"
    server.shutdown()
    server.server_close()


def test_add_download_list(
    sim: tuple[Market, str], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    market, url = sim
    with transaction(session_factory(engine)) as s:
        create_account(s, "acme", datetime.now(UTC))
    tids = [market.place() for _ in range(3)]
    for tid in tids:
        market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    market.now = time.time()
    secret = tmp_path / "secret"
    secret.write_text("cli-secret\n")
    runner = CliRunner()
    common = ["--account", "acme", "--database-url", db_url]
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    added = runner.invoke(
        channels_app,
        [
            "add-shop",
            "tb",
            "--api-url",
            url,
            "--app-key",
            "12345678",
            "--session-key",
            "cli-session",
            "--secret-file",
            str(secret),
            "--start-from",
            start,
            *common,
        ],
    )
    assert added.exit_code == 0, added.output
    run = runner.invoke(channels_app, ["download", "--shop", "tb", *common])
    assert run.exit_code == 0, run.output
    result = orjson.loads(run.output)
    assert result["outcome"] == "ok" and result["new"] == 3
    with session_factory(engine)() as s:
        stored = {r.external_id: r.state for r in s.execute(select(ChannelOrder)).scalars()}
    # Paid, but no SKU of theirs is in this account's catalogue: held, not dropped.
    assert stored == {str(t): "held" for t in tids}
    listed = runner.invoke(channels_app, ["list", *common])
    row = orjson.loads(listed.output.splitlines()[0])
    assert row["code"] == "tb" and row["last_run"]["outcome"] == "ok"
    missing = runner.invoke(channels_app, ["download", "--shop", "nope", *common])
    assert missing.exit_code == 1 and "no shop nope" in missing.output
    # Scheduling, queueing for the hub and courier codes.
    sched = runner.invoke(
        channels_app, ["schedule", "--shop", "tb", "--every", "120", "--off", *common]
    )
    assert sched.exit_code == 0 and "every 120 s, off" in sched.output, sched.output
    bad = runner.invoke(channels_app, ["schedule", "--shop", "tb", "--every", "5", *common])
    assert bad.exit_code == 1 and "60 to 86400" in bad.output
    queued = runner.invoke(channels_app, ["download", "--shop", "tb", "--queue", *common])
    assert orjson.loads(queued.output)["outcome"] == "queued"
    twice = runner.invoke(channels_app, ["download", "--shop", "tb", "--queue", *common])
    assert twice.exit_code == 1 and "queued already" in twice.output
    mapped = runner.invoke(
        channels_app,
        ["courier", "--shop", "tb", "--carrier", "ZTO", "--company-code", "ZTO", *common],
    )
    assert mapped.exit_code == 0 and "ZTO is ZTO" in mapped.output
    # E-waybills: ZTO's drawn from the shop's Cainiao account; a bad phone changes nothing.
    sender = ["--sender-name", "仓", "--sender-province", "浙江省", "--sender-city", "杭州市"]
    sender += ["--sender-address", "文一西路 1 号", "--shop", "tb", "--cp-code", "ZTO"]
    source = ["waybill-source", "--carrier", "ZTO", *sender, *common]
    refused = runner.invoke(channels_app, [*source, "--sender-phone", "call me"])
    assert refused.exit_code == 1 and "phone" in refused.output
    with session_factory(engine)() as s:
        assert s.execute(select(WaybillSource)).first() is None
    drawn = runner.invoke(channels_app, [*source, "--sender-phone", "0571-8888"])
    assert drawn.exit_code == 0 and "ZTO: waybills from ZTO on shop tb" in drawn.output
    with session_factory(engine)() as s:
        row = s.execute(select(WaybillSource)).scalar_one()
        assert (row.carrier, row.cp_code, row.sender["phone"]) == ("ZTO", "ZTO", "0571-8888")
