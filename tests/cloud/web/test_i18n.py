"""zh_CN is complete: every message of the pages is translated, none fuzzy (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from cloud.web import i18n

WEB = Path(i18n.__file__).parent
ROOT = WEB.parent.parent


def _messages() -> set[str]:
    """What ``pybabel extract -F cloud/web/babel.cfg`` finds from the repository root: the
    pages' messages and the domain's sentences marked N_ (cloud/errors.py)."""
    with (WEB / "babel.cfg").open() as f:
        method_map, options = parse_mapping_cfg(f)
    found = set()
    # Babel's default directory filter skips ".venv", ".git" and other dot-directories.
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map, options_map=options
    ):
        found.add(msg if isinstance(msg, str) else msg[0])
    return found


def test_domain_sentences_are_extracted() -> None:
    messages = _messages()
    assert "order %(order)s is %(status)s; confirm needs a saved order" in messages
    assert "stock would go negative: %(why)s (an override needs stock:override and a reason)" in (
        messages
    )
    assert "wrong account, username or password" in messages


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    messages = _messages()
    assert len(messages) > 100  # the extraction did find the templates' messages
    with (WEB / "locales/zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
        catalogue = read_po(f)
    have = {m.id: m for m in catalogue if m.id}
    missing = sorted(messages - set(have))
    untranslated = sorted(k for k, m in have.items() if not m.string)
    fuzzy = sorted(k for k, m in have.items() if m.fuzzy)
    assert not missing, f"not in messages.po: {missing}"
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy: {fuzzy}"


def test_locale_choice() -> None:
    assert i18n.pick(None, None) == "zh_CN"
    assert i18n.pick(None, "zh-Hans-CN,zh;q=0.9") == "zh_CN"
    assert i18n.pick(None, "en-GB,en;q=0.8") == "en"
    assert i18n.pick("en", "zh-CN") == "en"
    assert i18n.pick("xx", "fr") == "zh_CN"
    assert i18n.translations("zh_CN").gettext("Audit queue") == "订单审核"


def test_stored_words_shown_in_chinese(browser_client: Any, demo_app: Any) -> None:
    """Words the hub stores as codes and the pages show: an audit decision's check and
    outcome, an order's history actions and statuses, a node's station kind, a rule's
    conditions and action; none left as the English code on the Chinese page."""
    import re

    from tests.cloud.orders.test_pick_lease import send, started
    from tests.cloud.web.conftest import AUDITED, NODE

    send(demo_app.app.state.engine, NODE, 1, started("pack"))  # the node says what it runs
    c = browser_client()
    zh = {"Accept-Language": "zh-CN"}
    page = c.get(f"/web/orders/{AUDITED}", headers=zh).text
    cells = set(re.findall(r"<td>([^<]*)</td>", page))
    assert {"快递选择", "已指定", "地址检查", "通过", "确认", "已保存", "已确认"} <= cells, cells
    assert not cells & {"courier", "assign", "address", "pass", "confirm", "saved", "audit"}
    # the audit's fixed reasons and the order's channel
    assert {"全部检查通过", "买家无留言", "库存已预留", "手工单"} <= cells, cells
    assert "<dd>手工单</dd>" in page and "all checks passed" not in page
    leases = c.get("/web/pick-leases", headers=zh).text
    assert f"{NODE}</a> (打包)" in leases and "(pack)" not in leases
    rules = c.get("/web/rules", headers=zh).text
    assert "订单金额（元） 不少于" in rules and "total gte" not in rules
    assert "快递（代码）: ZTO" in rules and '{"carrier"' not in rules
    users = c.get("/web/users", headers=zh).text
    assert users.startswith("<!doctype html>")
    assert "admin (管理员)" in users and '<option value="picker">拣货员</option>' in users
    assert "<td>warehouse_lead</td>" not in users
