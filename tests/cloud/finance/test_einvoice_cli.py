"""``guanjia finance invoice …`` against the simulator over HTTP: connect, issue (a bad tax id
refused, nothing stored), tick until issued, query, red by lines, title change."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cloud.db.einvoice import EInvoice
from cloud.finance.cli import finance_app
from simulators.einvoice.app import EInvoiceApp, serve
from simulators.einvoice.service import Provider

CODE = "1090101990000000000"


@pytest.fixture
def sim() -> Iterator[tuple[Provider, str]]:
    p = Provider()
    p.faults.polls_before_final = 0
    srv = serve(EInvoiceApp(p), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield p, f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def run(db_url: str, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(finance_app, ["invoice", *args, "--database-url", db_url])
    return r.exit_code, r.output


def test_invoice_commands(
    books: sessionmaker[Session], db_url: str, sim: tuple[Provider, str]
) -> None:
    acct = ["--account", "default"]
    code, out = run(
        db_url, "issue", *acct, "--buyer-name", "个人", "--line", f"膜,{CODE},0.13,1,11.30"
    )
    assert code == 1 and "no e-invoice provider is connected" in out
    code, out = run(
        db_url,
        "connect",
        *acct,
        "--url",
        sim[1],
        "--app-key",
        "sim-appkey",
        "--app-secret",
        "sim-secret",
        "--token",
        "sim-token",
        "--tax-id",
        "91350100M000100Y43",
        "--name",
        "管家演示店",
    )
    assert code == 0, out
    code, out = run(
        db_url,
        "issue",
        *acct,
        "--buyer-name",
        "某公司",
        "--buyer-tax-id",
        "91110000600037341A",
        "--line",
        f"膜,{CODE},0.13,1,11.30",
    )
    assert code == 1 and "check character is wrong (should be L" in out
    with books() as s:
        assert s.execute(select(func.count()).select_from(EInvoice)).scalar_one() == 0
    code, out = run(
        db_url,
        "issue",
        *acct,
        "--buyer-name",
        "个人",
        "--line",
        f"金甲系列皮套,{CODE},0.13,2,113.00",
        "--line",
        f"钢化膜,{CODE},0.06,1,10.00",
    )
    assert code == 0 and "queued" in out, out
    no = out.split()[0]
    code, out = run(db_url, "tick", "--wait", "20")
    assert code == 0, out
    code, out = run(db_url, "query", *acct, no)
    assert code == 0 and "issued" in out and "123.00" in out and ".pdf" in out, out
    assert re.search(r"\b\d{20}\b", out)
    assert "100.00  13.00" in out and "9.43  0.57" in out  # per line, half up
    code, out = run(db_url, "red", *acct, no, "--reason", "02", "--line", "1:56.50")
    assert code == 0 and "-56.50" in out, out
    code, out = run(db_url, "red", *acct, no, "--reason", "02", "--line", "1:56.51")
    assert code == 1 and "never exceeds its blue" in out
    code, out = run(db_url, "tick", "--wait", "20")
    code, out = run(db_url, "title", *acct, no, "--buyer-name", "新抬头")
    assert code == 1 and "partly reversed already" in out
    code, out = run(db_url, "query", *acct)
    assert code == 0 and out.count("issued") == 2, out
