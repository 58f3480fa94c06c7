"""Front-end files vendored from npm: fetched at pinned versions, committed, checked.

The web pages ship their JavaScript in the wheel (no CDN, no Node at run time), so a
copy of each file is committed beside its licence in a ``vendor`` folder that holds:

* ``package.json`` / ``package-lock.json``: the pinned versions, written by
  ``npm install --package-lock-only --ignore-scripts`` (the lock's ``integrity`` is the
  tarball's SRI hash);
* ``vendor.json``: which file of which package is copied where, with its SHA-256.

``python -m tests.support.npm_vendor sync DIR`` downloads each package's tarball from the
lock's ``resolved`` address, checks its ``integrity`` and (re)writes the files and
``vendor.json``. tests/test_vendored.py checks the committed copies against both: offline
(SHA-256 and versions) and, where the registry answers, byte for byte against the tarball.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CACHE = Path.home() / ".cache" / "guanjia-npm"


@dataclass(frozen=True)
class Entry:
    file: str  # path inside the vendor folder
    package: str  # npm package name
    path: str  # path inside the package's tarball (npm tarballs start with "package/")
    sha256: str = ""


def load(vendor_dir: Path) -> tuple[dict, list[Entry]]:
    lock = json.loads((vendor_dir / "package-lock.json").read_text())
    manifest = json.loads((vendor_dir / "vendor.json").read_text())
    return lock, [Entry(**e) for e in manifest["files"]]


def locked(lock: dict, package: str) -> dict:
    try:
        return lock["packages"][f"node_modules/{package}"]
    except KeyError:
        raise LookupError(f"{package} is not in package-lock.json") from None


def address(package: str, entry: dict) -> str:
    """The lock's ``resolved`` address, or the registry's usual one (npm 11 may omit it)."""
    if "resolved" in entry:
        return str(entry["resolved"])
    base = package.rsplit("/", 1)[-1]
    return f"https://registry.npmjs.org/{package}/-/{base}-{entry['version']}.tgz"


def tarball(lock: dict, package: str) -> bytes:
    """The package's tarball as the lock pins it; raises if its integrity differs."""
    entry = locked(lock, package)
    algo, _, want = entry["integrity"].partition("-")
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"{hashlib.sha256(entry['integrity'].encode()).hexdigest()}.tgz"
    if cached.exists():
        data = cached.read_bytes()
    else:
        with urllib.request.urlopen(address(package, entry), timeout=30) as r:
            data = r.read()
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise ValueError(f"{package}: tarball {algo} {got} is not the lock's {want}")
    cached.write_bytes(data)
    return data


def extract(data: bytes, path: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(path)
        if member is None:
            raise LookupError(f"{path} is not a file in the tarball")
        return member.read()


def offline_problems(vendor_dir: Path) -> list[str]:
    """What differs between the committed files and vendor.json / the lock (no network)."""
    lock, entries = load(vendor_dir)
    problems = []
    wanted = json.loads((vendor_dir / "package.json").read_text()).get("dependencies", {})
    for name, version in wanted.items():
        if locked(lock, name)["version"] != version:
            problems.append(f"{name}: package.json pins {version}, the lock has another version")
    for e in entries:
        f = vendor_dir / e.file
        if not f.is_file():
            problems.append(f"{e.file} is missing")
        elif hashlib.sha256(f.read_bytes()).hexdigest() != e.sha256:
            problems.append(f"{e.file} differs from vendor.json (edited by hand?)")
        if e.package not in wanted:
            problems.append(f"{e.file}: {e.package} is not pinned in package.json")
    return problems


def online_problems(vendor_dir: Path) -> list[str]:
    """Each committed file compared byte for byte with the locked tarball's copy."""
    lock, entries = load(vendor_dir)
    problems = []
    for e in entries:
        if extract(tarball(lock, e.package), e.path) != (vendor_dir / e.file).read_bytes():
            problems.append(f"{e.file} is not {e.package}'s {e.path}")
    return problems


def sync(vendor_dir: Path) -> None:
    lock, entries = load(vendor_dir)
    out = []
    for e in entries:
        data = extract(tarball(lock, e.package), e.path)
        (vendor_dir / e.file).parent.mkdir(parents=True, exist_ok=True)
        (vendor_dir / e.file).write_bytes(data)
        out.append({**e.__dict__, "sha256": hashlib.sha256(data).hexdigest()})
    (vendor_dir / "vendor.json").write_text(json.dumps({"files": out}, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "sync":
        sys.exit("usage: python -m tests.support.npm_vendor sync VENDOR_DIR")
    sync(Path(sys.argv[2]))
