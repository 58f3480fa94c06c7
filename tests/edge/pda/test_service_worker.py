"""The app shell's service worker (docs/pda.md "Offline on the LAN"): where the context is
secure (127.0.0.1 is one) and the node's setting is on, a reload with the node unreachable
opens the page from the cache and the scans still go through the IndexedDB queue, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.api.operators import Operator
from edge.pda import shell
from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import Node, pending, ready, scan, serve, settle, wait_sent
from tests.edge.pda.test_pick_page import start_w1
from tests.support import wait

C = SKUS["C"]

CACHE_URLS = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    out[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
  }
  return out;
}"""


@pytest.fixture
def node(node_db: Path, pda_operators: list[Operator], request: Any) -> Iterator[Node]:
    # The conftest's node with the setting on (this module's default) or off.
    yield from serve(node_db, pda_operators, pda_service_worker=getattr(request, "param", True))


def controlled(page: Any) -> None:
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)


@pytest.mark.browser
def test_offline_reload_opens_the_cached_shell_and_the_scan_reaches_the_node_once(
    context: Any, page: Any, node: Node
) -> None:
    start_w1(page)
    controlled(page)  # installed (the shell cached) and in control of this page
    version = node.app.state.pda_shell_version
    caches = page.evaluate(CACHE_URLS)
    assert list(caches) == [f"pda-shell-{version}"]
    kept = set(caches[f"pda-shell-{version}"])
    assert {"/pda/pick", "/pda/static/js/pda.js", "/pda/static/js/queue.js"} <= kept
    scan(page, "BIN-P4")
    wait_sent(page)

    context.set_offline(True)
    response = page.reload()
    assert response is not None and response.from_service_worker
    ready(page)
    assert page.locator("#t-bin").text_content() == "P4"
    scan(page, C)
    # Queued in IndexedDB (the scan handler done), shown as pending.
    page.wait_for_function("!window.__pda.busy")
    assert pending(page) == 1
    settle(0.5)
    assert node.scans() == ["BIN-P4"]

    context.set_offline(False)
    wait_sent(page)
    assert node.scans() == ["BIN-P4", C]  # once
    settle(0.5)
    assert node.scans() == ["BIN-P4", C]
    # Nothing the node answered (the API, the fragments) was ever put in a cache.
    urls = [u for names in page.evaluate(CACHE_URLS).values() for u in names]
    assert not [u for u in urls if u.startswith(("/api/", "/pda/api/", "/pda/frag/"))], urls


@pytest.mark.browser
def test_a_new_shell_version_replaces_the_old_cache(page: Any, node: Node) -> None:
    page.goto("/pda/login")
    ready(page)
    controlled(page)
    old = f"pda-shell-{node.app.state.pda_shell_version}"
    assert list(page.evaluate(CACHE_URLS)) == [old]
    node.app.state.pda_shell_version = "0123456789abcdef"  # as after an upgrade of the node
    page.reload()
    ready(page)
    # The new worker took over and deleted the old cache on activate.
    wait(
        lambda: list(page.evaluate(CACHE_URLS)) == ["pda-shell-0123456789abcdef"],
        30,
        "the new shell's cache, alone",
    )
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith(
        "/pda/sw.js?v=0123456789abcdef"
    )


@pytest.mark.browser
@pytest.mark.parametrize("node", [False], indirect=True)
def test_setting_off_registers_no_service_worker(page: Any, node: Node) -> None:
    page.goto("/pda/login")
    ready(page)
    assert page.evaluate("window.isSecureContext")  # it could register: the setting says no
    settle(0.5)
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0
    assert page.evaluate("navigator.serviceWorker.controller") is None
    assert page.request.get(f"{node.url}/pda/sw.js").status == 404


def test_shell_version_changes_with_a_file(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("one")
    before = shell.version(tmp_path)
    assert shell.version(tmp_path) == before
    (tmp_path / "js" / "a.js").write_text("two")
    assert shell.version(tmp_path) != before
    (tmp_path / "js" / "a.js").write_text("one")
    (tmp_path / "b.css").write_text("")
    assert shell.version(tmp_path) != before


def test_worker_script_lists_the_shell_and_never_the_api() -> None:
    script = shell.worker_script("v1")
    assert script.startswith('const SHELL = {"version":"v1","pages":["/pda",')
    assert "/pda/static/js/sw.js" not in script.split("\n", 1)[0]
    assert "/api/" not in script.split("\n", 1)[0]
