"""A real browser for the web pages' tests: Debian's Chromium driven by Playwright.

Never ``playwright install``: it downloads a browser from outside, which this project's
machines cannot reach. ``make test`` and ``.ci/run`` install Debian's ``chromium``
(and a CJK font, so screenshots show the Chinese text). Flags as the machine notes say:
no sandbox as root, and no background networking (its calls out are refused here).

Use from a conftest: ``from tests.support.browser import browser  # noqa: F401`` (one
Chromium per test module) and
``context = browser.new_context(...)``; ``axe_violations(page)`` runs axe-core (vendored
in tests/support/vendor) and returns the serious and critical ones; ``screenshot(page,
name)`` keeps a PNG under test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("GUANJIA_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
AXE = Path(__file__).with_name("vendor") / "axe.min.js"


# Per module, not per session: while a sync Playwright is open its event loop runs in the
# main thread, and every later test's ``asyncio.run`` fails ("cannot be called from a
# running event loop"). A module's browser is closed before the next module's tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    args = [*ARGS, "--no-sandbox"] if os.geteuid() == 0 else ARGS
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        yield b
        b.close()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']}: {v['id']} — {v['help']} ({len(v['nodes'])}×: "
        f"{', '.join(str(n['target']) for n in v['nodes'][:3])})"
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
