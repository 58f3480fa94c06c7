"""The front-end files committed from npm are the pinned packages' files, byte for byte."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

from tests.support import npm_vendor

ROOT = Path(__file__).resolve().parents[1]
VENDOR_DIRS = sorted(
    p.parent for p in ROOT.glob("*/**/vendor/vendor.json") if ".venv" not in p.parts
)


def test_every_web_package_vendors_its_files() -> None:
    found = {d.relative_to(ROOT).as_posix() for d in VENDOR_DIRS}
    assert {"edge/pda/static/vendor", "cloud/web/static/vendor", "tests/support/vendor"} <= found


@pytest.mark.parametrize("vendor_dir", VENDOR_DIRS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_committed_copies_match_the_manifest_and_the_lock(vendor_dir: Path) -> None:
    assert npm_vendor.offline_problems(vendor_dir) == []


@pytest.mark.parametrize("vendor_dir", VENDOR_DIRS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_committed_copies_are_the_registrys_files(vendor_dir: Path) -> None:
    try:
        problems = npm_vendor.online_problems(vendor_dir)
    except urllib.error.URLError as e:  # the offline check above still holds
        pytest.skip(f"npm registry unreachable: {e}")
    assert problems == []


def test_an_edited_copy_is_caught(tmp_path: Path) -> None:
    src = ROOT / "edge/pda/static/vendor"
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "htmx.min.js").write_bytes(b"alert(1);" + (src / "htmx.min.js").read_bytes())
    assert npm_vendor.offline_problems(tmp_path) == [
        "htmx.min.js differs from vendor.json (edited by hand?)"
    ]
