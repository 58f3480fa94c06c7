"""Node identities on the broker: credentials, password hashes, Mosquitto config and ACLs.

Every edge node gets its own MQTT account whose username is its node id. The
broker config written here makes that identity binding on three levels
(docs/deploy/mosquitto.md explains each line):

* authentication: ``password_file`` with PBKDF2-SHA512 hashes in Mosquitto 2's
  ``$7$`` format (mosquitto_passwd(1)); the plaintext password leaves this
  module once, in the snippet the operator copies onto the node;
* client id: the edge listener sets ``use_username_as_clientid`` so a node's
  client id *is* its node id, whatever it asks for; node A cannot take over
  node B's session by connecting as ``edge-B`` (mosquitto.conf(5), LISTENERS);
* topics: ``pattern`` ACL lines with ``%u`` let a node write only its own
  events/pull/state and read only its own ack/down, plus the hub state
  (mosquitto.conf(5), ``acl_file``);
* shared subscriptions: the dynamic security plugin on the edge listener refuses
  every ``$share/...`` SUBSCRIBE of a node (SUBACK 0x80 / 0x87; its file, its admin and
  how a running broker learns of enrolled and revoked nodes: cloud/sync/enroll_dynsec.py).
  ``acl_file`` cannot:
  Mosquitto's default ACL check grants every SUBSCRIBE and filters only at delivery
  (src/security_default.c, "FIXME - implement ACL subscription strings", 2.0.0 to
  2.0.20 at least), and a node granted ``$share/guanjia-hub/...`` took its turn in the
  hub's round robin and the message was then dropped by the read ACL: with two hub
  workers, 400 of 600 events reached the hub (issue 13, finding 9).

Cloud workers use a second listener with their own password and ACL files
(``per_listener_settings``), so several workers may share one account with
distinct client ids, and no node password works there.

No I/O beyond the credential store and the files the caller asks for.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cloud.errors import DomainError
from cloud.sync.enroll_dynsec import broker_admin, render_edge_dynsec
from protocol import topics
from protocol.messages import MAX_BATCH_BYTES

STORE_NAME: Final = "nodes.json"
STORE_FORMAT: Final = 1
#: Node ids starting with this are refused: the cloud's client ids live there
#: (default ``guanjia-cloud``), and a node with the same client id would
#: disconnect a cloud worker (MQTT 3.1.1 §3.1.4: the server disconnects the
#: existing client with the same client id).
RESERVED_PREFIX: Final = "guanjia-cloud"
DEFAULT_CLOUD_USER: Final = "guanjia-cloud"

#: 32 random bytes (256 bits) from the OS CSPRNG, URL-safe base64 (43 chars), so
#: the password is safe unquoted in TOML, env files and shells.
PASSWORD_BYTES: Final = 32
#: mosquitto_passwd's own default for ``$7$`` (Mosquitto 2.0). Key stretching
#: protects guessable passwords; ours are 256-bit random, so more rounds would
#: only cost the broker CPU on every CONNECT (it verifies the hash each time).
HASH_ITERATIONS: Final = 101
#: mosquitto_passwd(1) ``$7$``: 12-byte salt, 64-byte PBKDF2-HMAC-SHA512 digest,
#: both standard base64: ``$7$<iterations>$<salt>$<digest>``.
_SALT_BYTES: Final = 12
_HASH_ID: Final = "7"

_EDGE_FILES: Final = ("guanjia-edge.passwd", "guanjia-edge.acl", "guanjia-edge.dynsec.json")
_CLOUD_FILES: Final = ("guanjia-cloud.passwd", "guanjia-cloud.acl")


class EnrollError(DomainError):
    """The request cannot be done; the message says why and what to do instead."""


# --- passwords and hashes -------------------------------------------------------------


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = HASH_ITERATIONS
) -> str:
    """Mosquitto 2 ``$7$`` hash (PBKDF2-HMAC-SHA512 over the raw salt bytes)."""
    if salt is None:
        salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return "${}${}${}${}".format(
        _HASH_ID,
        iterations,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(digest).decode("ascii"),
    )


def verify_password(password: str, encoded: str) -> bool:
    try:
        _, hash_id, iterations, salt_b64, digest_b64 = encoded.split("$")
        if hash_id != _HASH_ID:
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        rounds = int(iterations)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, rounds)
    return hmac.compare_digest(got, expected)


# --- identities -----------------------------------------------------------------------


def validate_enrollable_node(node: str) -> str:
    """A node id usable as username, client id and topic level (protocol.topics rules)."""
    topics.validate_node_id(node)
    if node.lower().startswith(RESERVED_PREFIX):
        raise ValueError(
            f"node id {node!r} is reserved: ids starting with {RESERVED_PREFIX!r} "
            "belong to the cloud's MQTT clients"
        )
    return node


def validate_cloud_user(name: str) -> str:
    # The same character rules keep the name safe in the password file (no ':'),
    # the ACL file (no spaces) and env files.
    try:
        return topics.validate_node_id(name)
    except ValueError:
        raise ValueError(
            f"invalid cloud username {name!r}: use 1-64 of A-Z a-z 0-9 _ . -"
        ) from None


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    password_hash: str
    enrolled_at: str
    rotated_at: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "password_hash": self.password_hash,
            "enrolled_at": self.enrolled_at,
            "rotated_at": self.rotated_at,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_json(cls, name: str, raw: dict[str, Any]) -> Account:
        return cls(
            name=name,
            password_hash=str(raw["password_hash"]),
            enrolled_at=str(raw["enrolled_at"]),
            rotated_at=raw.get("rotated_at"),
            revoked_at=raw.get("revoked_at"),
        )


@dataclass(frozen=True, slots=True)
class Issued:
    """Fresh credentials: the only time the plaintext password exists outside the node."""

    username: str
    password: str
    rotated: bool


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write atomically (temp file + rename) with ``mode`` set before any byte lands."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class CredentialStore:
    """``DIR/nodes.json``: node and cloud accounts with password hashes only.

    Read-modify-write happens under an exclusive ``flock`` on ``DIR/.nodes.lock``
    so two operators enrolling at once cannot lose an enrollment.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STORE_NAME

    # reading

    def _load(self) -> tuple[dict[str, Account], dict[str, Account]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, {}
        except json.JSONDecodeError as err:
            raise EnrollError(
                f"{self.path}: not valid JSON ({err}); restore it from backup"
            ) from None
        if raw.get("format") != STORE_FORMAT:
            raise EnrollError(
                f"{self.path}: store format {raw.get('format')!r} not supported (expected {STORE_FORMAT})"
            )
        nodes = {n: Account.from_json(n, a) for n, a in raw.get("nodes", {}).items()}
        cloud = {n: Account.from_json(n, a) for n, a in raw.get("cloud", {}).items()}
        return nodes, cloud

    def nodes(self) -> list[Account]:
        return sorted(self._load()[0].values(), key=lambda a: a.name)

    def cloud_users(self) -> list[Account]:
        return sorted(self._load()[1].values(), key=lambda a: a.name)

    def node(self, node: str) -> Account | None:
        return self._load()[0].get(node)

    # writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[tuple[dict[str, Account], dict[str, Account]]]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / ".nodes.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            nodes, cloud = self._load()
            yield nodes, cloud
            doc = {
                "format": STORE_FORMAT,
                "nodes": {n: a.to_json() for n, a in sorted(nodes.items())},
                "cloud": {n: a.to_json() for n, a in sorted(cloud.items())},
            }
            _write_private(self.path, json.dumps(doc, indent=2) + "\n", 0o600)

    def enroll(self, node: str, *, rotate: bool = False, now: str | None = None) -> Issued:
        """New credentials for ``node``; an active node needs ``rotate=True``."""
        validate_enrollable_node(node)
        stamp = now or _now()
        with self._locked() as (nodes, cloud):
            if node in cloud:
                raise EnrollError(f"{node!r} is a cloud username; pick another node id")
            old = nodes.get(node)
            if old is not None and old.active and not rotate:
                raise EnrollError(
                    f"node {node!r} is already enrolled (since {old.enrolled_at}); "
                    "use --rotate to issue a new password (the old one stops working "
                    "once the broker config is regenerated and reloaded)"
                )
            password = generate_password()
            rotated = old is not None and old.active
            nodes[node] = Account(
                name=node,
                password_hash=hash_password(password),
                enrolled_at=old.enrolled_at if rotated and old else stamp,
                rotated_at=stamp if rotated else None,
            )
        return Issued(node, password, rotated)

    def revoke(self, node: str, *, now: str | None = None) -> Account:
        with self._locked() as (nodes, _cloud):
            old = nodes.get(node)
            if old is None:
                raise EnrollError(f"node {node!r} is not enrolled")
            if not old.active:
                raise EnrollError(f"node {node!r} was already revoked at {old.revoked_at}")
            # Keep the record (who existed, when) but drop the hash: nothing can log in.
            revoked = Account(
                name=node,
                password_hash="",
                enrolled_at=old.enrolled_at,
                rotated_at=old.rotated_at,
                revoked_at=now or _now(),
            )
            nodes[node] = revoked
        return revoked

    def enroll_cloud(
        self, username: str = DEFAULT_CLOUD_USER, *, rotate: bool = False, now: str | None = None
    ) -> Issued:
        validate_cloud_user(username)
        stamp = now or _now()
        with self._locked() as (nodes, cloud):
            if username in nodes:
                raise EnrollError(f"{username!r} is an enrolled node; pick another cloud username")
            old = cloud.get(username)
            if old is not None and not rotate:
                raise EnrollError(
                    f"cloud user {username!r} already exists; use --rotate for a new password"
                )
            password = generate_password()
            cloud[username] = Account(
                name=username,
                password_hash=hash_password(password),
                enrolled_at=old.enrolled_at if old else stamp,
                rotated_at=stamp if old else None,
            )
        return Issued(username, password, old is not None)


# --- snippets handed to the node and the cloud ----------------------------------------


def _toml_str(value: str) -> str:
    # TOML basic string (toml.io v1.0.0 "String"): escape backslash, quote and controls.
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def node_mqtt_snippet(issued: Issued, *, host: str | None = None, port: int | None = None) -> str:
    """The ``[mqtt]`` section for the node's edge config (edge.config.MqttSection keys)."""
    lines = [
        f"# MQTT credentials of node {issued.username}: merge into the node's config file,",
        "# then delete this file. The broker stores only a hash of the password.",
        "[mqtt]",
    ]
    if host is not None:
        lines.append(f"host = {_toml_str(host)}")
    if port is not None:
        lines.append(f"port = {port}")
    lines += [
        f"username = {_toml_str(issued.username)}",
        f"password = {_toml_str(issued.password)}",
    ]
    return "\n".join(lines) + "\n"


def cloud_env_snippet(issued: Issued, *, host: str, port: int) -> str:
    """``GUANJIA_*`` variables for cloud/settings.py (an EnvironmentFile for systemd)."""
    return (
        "# MQTT account of the cloud hub; each worker needs its own GUANJIA_MQTT_CLIENT_ID\n"
        f"# starting with {RESERVED_PREFIX!r} (e.g. {RESERVED_PREFIX}-1).\n"
        f"GUANJIA_MQTT_HOST={host}\n"
        f"GUANJIA_MQTT_PORT={port}\n"
        f"GUANJIA_MQTT_USERNAME={issued.username}\n"
        f"GUANJIA_MQTT_PASSWORD={issued.password}\n"
    )


def write_secret(path: Path, text: str) -> Path:
    """Credentials files are readable by their owner only."""
    _write_private(path, text, 0o600)
    return path


# --- broker config --------------------------------------------------------------------


def node_topic_pattern(channel: topics.Channel) -> str:
    # Built from protocol.topics so the ACL cannot drift from the topic layout.
    return f"{topics.PREFIX}/node/%u/{channel.value}"


#: What a node may do, in the order the ACL lists it (docs/protocol.md, "Topics").
NODE_WRITES: Final = (topics.Channel.EVENTS, topics.Channel.PULL, topics.Channel.STATE)
NODE_READS: Final = (topics.Channel.ACK, topics.Channel.DOWN)


def render_password_file(accounts: list[Account]) -> str:
    """mosquitto_passwd(1) format: ``username:hash`` per line, active accounts only."""
    return "".join(f"{a.name}:{a.password_hash}\n" for a in accounts if a.active)


def render_edge_acl(nodes: list[Account]) -> str:
    lines = [
        "# Generated by `guanjia broker config`; regenerate instead of editing.",
        "# mosquitto.conf(5) acl_file: no line, no access. %u is the username, which the edge",
        "# listener also uses as client id (use_username_as_clientid), so %u = %c = node id.",
        "",
    ]
    for ch in NODE_WRITES:
        lines.append(f"pattern write {node_topic_pattern(ch)}")
    # Event batches on the node's partition (protocol/topics.py, docs/sync.md "Partitions").
    # Patterns for every node, so a node enrolled before partitions existed may publish
    # there as soon as this file is written again (`guanjia broker config`) and the broker
    # reloads it; the unpartitioned line above stays for nodes not yet upgraded. One line
    # per partition, not `events/+`: a level that is no partition (`events/x`, `events/`)
    # stays refused (tests/sync/test_isolation_matrix.py). Another partition than its own
    # is still its own topic: a routing cost to the hub, never another node's data.
    events = node_topic_pattern(topics.Channel.EVENTS)
    lines += [f"pattern write {events}/{p}" for p in range(topics.PARTITIONS)]
    for ch in NODE_READS:
        lines.append(f"pattern read {node_topic_pattern(ch)}")
    # The hub state has no %u level; a `topic` line before any `user` line would only
    # apply to anonymous clients (acl_file), so each node gets it in its own block.
    lines.append("")
    for a in nodes:
        if a.active:
            lines += [f"user {a.name}", f"topic read {topics.HUB_STATE}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_cloud_acl(cloud: list[Account]) -> str:
    lines = ["# Generated by `guanjia broker config`; regenerate instead of editing.", ""]
    for a in cloud:
        if a.active:
            # readwrite covers $share/<group>/guanjia/v1/... too: Mosquitto checks the
            # filter behind the $share/<group>/ prefix.
            lines += [f"user {a.name}", f"topic readwrite {topics.PREFIX}/#", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


#: Where Debian/Ubuntu/Raspberry Pi OS (mosquitto 2.x package) and source builds put the
#: dynamic security plugin.
DYNSEC_PLUGIN_NAME: Final = "mosquitto_dynamic_security.so"
DYNSEC_PLUGIN_DIRS: Final = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/arm-linux-gnueabihf",
    "/usr/lib",
    "/usr/local/lib",
)


def find_dynsec_plugin() -> Path | None:
    for d in DYNSEC_PLUGIN_DIRS:
        path = Path(d) / DYNSEC_PLUGIN_NAME
        if path.is_file():
            return path
    return None


@dataclass(frozen=True, slots=True)
class BrokerLayout:
    """Where the two listeners bind. Nodes reach the edge listener; only the hub the cloud one."""

    edge_host: str = "0.0.0.0"
    edge_port: int = 1883
    cloud_host: str = "127.0.0.1"
    cloud_port: int = 1884


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    conf: Path
    edge_passwd: Path
    edge_acl: Path
    edge_dynsec: Path
    cloud_passwd: Path
    cloud_acl: Path


#: Bytes of an MQTT packet beyond its payload: fixed header, topic, packet id, properties.
PACKET_HEADROOM: Final = 64 * 1024
#: The largest MQTT packet the broker takes; a bigger one disconnects its sender.
MAX_PACKET_SIZE: Final = MAX_BATCH_BYTES + PACKET_HEADROOM
#: QoS 1 messages queued per client beyond those in flight: the hub's client holds every
#: node's window (``[sync] window`` 8 batches) for 1,250 nodes before Mosquitto drops.
MAX_QUEUED_MESSAGES: Final = 10_000
#: …and at most this many bytes of them, so a flood cannot grow the broker without bound.
MAX_QUEUED_BYTES: Final = 256 * 1024 * 1024


def render_mosquitto_conf(layout: BrokerLayout, files: BrokerFiles, dynsec_plugin: Path) -> str:
    return f"""\
# Guanjia broker security, generated by `guanjia broker config`; regenerate instead of
# editing. Can stand alone (mosquitto -c) or sit in /etc/mosquitto/conf.d/.
# After enrolling or revoking a node: regenerate, then reload (SIGHUP) - password and
# ACL files are re-read; `guanjia node enroll/revoke` tell the running dynamic security
# plugin themselves (it reads its file at start only). Changed listeners need a restart
# (mosquitto.conf(5)).

# Each listener below has its own password_file and acl_file (mosquitto.conf(5),
# per_listener_settings), so node passwords do not work on the cloud listener.
per_listener_settings true

# Limits (mosquitto.conf(5); each "applies globally"). No message of ours is larger than
# {MAX_BATCH_BYTES} bytes (protocol MAX_BATCH_BYTES; the hub refuses more), so a bigger
# payload is not accepted (message_size_limit) and a packet bigger than that plus
# {PACKET_HEADROOM} bytes of headers disconnects its sender (max_packet_size): a 200 MiB
# publish was accepted and forwarded before (issue 19, finding 6).
message_size_limit {MAX_BATCH_BYTES}
max_packet_size {MAX_PACKET_SIZE}
# The queue of each client beyond its in-flight messages, sized for the hub's client, which
# receives every node's batches: the default 1,000 messages dropped valid batches under a
# flood. Past these bounds Mosquitto still drops silently; the nodes resend from the
# hub's ack (docs/sync.md, go-back-N), so nothing is lost, and the broker's memory is bounded.
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes {MAX_QUEUED_BYTES}

# Edge nodes. use_username_as_clientid: the client id becomes the username (the
# node id), so no node can disconnect another by reusing its client id
# (mosquitto.conf(5), LISTENERS). Add certfile/keyfile here for TLS on untrusted networks.
listener {layout.edge_port} {layout.edge_host}
allow_anonymous false
use_username_as_clientid true
password_file {files.edge_passwd}
acl_file {files.edge_acl}
# Refuses every $share/... SUBSCRIBE of a node, which acl_file cannot (it grants all
# SUBSCRIBEs): a node in the hub's shared subscription would take its turns and lose
# them. Holds no node passwords; publish and delivery rights stay with acl_file. Its one
# password is its admin's, which `guanjia node enroll/revoke` use to add and disable nodes.
plugin {dynsec_plugin}
plugin_opt_config_file {files.edge_dynsec}

# Cloud hub workers: they share one account with distinct client ids (shared
# subscriptions), so this listener keeps client ids as sent. Bind it privately.
listener {layout.cloud_port} {layout.cloud_host}
allow_anonymous false
password_file {files.cloud_passwd}
acl_file {files.cloud_acl}
"""


def broker_files(conf: Path) -> BrokerFiles:
    conf = conf.absolute()
    d = conf.parent
    return BrokerFiles(
        conf=conf,
        edge_passwd=d / _EDGE_FILES[0],
        edge_acl=d / _EDGE_FILES[1],
        edge_dynsec=d / _EDGE_FILES[2],
        cloud_passwd=d / _CLOUD_FILES[0],
        cloud_acl=d / _CLOUD_FILES[1],
    )


def write_broker_config(
    store: CredentialStore,
    conf: Path,
    layout: BrokerLayout,
    *,
    dynsec_plugin: Path | None = None,
) -> BrokerFiles:
    """Write mosquitto.conf at ``conf`` and its password and ACL files beside it.

    ``dynsec_plugin``: path of mosquitto_dynamic_security.so (found in the usual places
    when not given; refused when missing, since without it nodes may join the hub's
    shared subscription)."""
    nodes, cloud = store.nodes(), store.cloud_users()
    if not any(a.active for a in cloud):
        raise EnrollError("no cloud user yet: create one with `guanjia broker cloud-user`")
    plugin = dynsec_plugin or find_dynsec_plugin()
    if plugin is None:
        raise EnrollError(
            f"{DYNSEC_PLUGIN_NAME} (Mosquitto 2's dynamic security plugin, in the mosquitto "
            "package) was not found; without it a node could join the hub's shared "
            "subscription: pass --dynsec-plugin PATH"
        )
    files = broker_files(conf)
    # The broker must read these (group mosquitto on Debian); others must not.
    _write_private(files.edge_passwd, render_password_file(nodes), 0o640)
    _write_private(files.cloud_passwd, render_password_file(cloud), 0o640)
    _write_private(files.edge_acl, render_edge_acl(nodes), 0o640)
    admin = broker_admin(store.directory, layout.edge_host, layout.edge_port)
    _write_private(
        files.edge_dynsec, render_edge_dynsec([(a.name, a.active) for a in nodes], admin), 0o640
    )
    _write_private(files.cloud_acl, render_cloud_acl(cloud), 0o640)
    _write_private(files.conf, render_mosquitto_conf(layout, files, plugin), 0o644)
    return files
