"""The edge listener's dynamic security plugin: its file, its admin, and telling a running
broker about an enrolled or revoked node.

The plugin refuses nodes' ``$share/...`` SUBSCRIBEs (cloud/sync/enroll.py says why
``acl_file`` cannot), but only for clients it lists: for a username it does not know it
defers, whatever ``defaultACLAccess`` says, and its anonymous group applies to clients
without a username only (plugins/dynamic-security/acl.c ``acl_check``, Mosquitto 2.0.11
to 2.0.20). And it reads its file at start only. So a node enrolled after the broker
started must be added to the running plugin, through its control topic
``$CONTROL/dynamic-security/v1`` (Mosquitto's "Dynamic Security" documentation:
``createClient``, ``enableClient``, ``disableClient``). Those commands reach the plugin of
the listener the sender is connected to (src/control.c ``control__process``, with
``per_listener_settings``), so the admin connects to the edge listener, as the account
``ADMIN_USER`` that the plugin itself authenticates (a 256-bit password; hash and salt in
the plugin's file) and whose role allows the control topic and nothing else. Nodes never
get that role, and its name starts with the prefix no node id may have.

Revoking disables the node in the plugin: the plugin disconnects it at once and refuses
its CONNECTs from then on (auth.c: a disabled client fails authentication before any
password is looked at), without a reload or a restart.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: The plugin's admin on the edge listener. The reserved prefix keeps it from ever being a
#: node id (cloud/sync/enroll.py ``RESERVED_PREFIX``).
ADMIN_USER: Final = "guanjia-cloud-dynsec"
#: Its plaintext password and where to reach the edge listener: DIR/broker-admin.json,
#: mode 600, written by ``guanjia broker config``.
ADMIN_FILE: Final = "broker-admin.json"
CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC: Final = CONTROL_TOPIC + "/response"
NODE_ROLE: Final = "node"
ADMIN_ROLE: Final = "guanjia-dynsec-admin"
#: How long a command may take, connect to answer. The broker answers in milliseconds.
TIMEOUT_S: Final = 5.0
#: The plugin's own default rounds (PW_DEFAULT_ITERATIONS); the password is 256-bit random.
_ADMIN_ITERATIONS: Final = 101
_SALT_BYTES: Final = 12  # the plugin refuses any other length (clients.c, config load)


class BrokerNotTold(Exception):
    """The running broker could not be reached or refused the command; says which and why."""


@dataclass(frozen=True, slots=True)
class BrokerAdmin:
    username: str
    password: str
    host: str
    port: int


def _reachable(host: str) -> str:
    # A wildcard bind is reached on loopback: the admin runs on the broker's host.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def broker_admin(directory: Path, edge_host: str, edge_port: int) -> BrokerAdmin:
    """The admin of DIR (created on first use), pointed at the edge listener given."""
    path = directory / ADMIN_FILE
    known = load_broker_admin(directory)
    admin = BrokerAdmin(
        ADMIN_USER,
        known.password if known else secrets.token_urlsafe(32),
        _reachable(edge_host),
        edge_port,
    )
    if admin != known:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "username": admin.username,
                    "password": admin.password,
                    "host": admin.host,
                    "port": admin.port,
                },
                f,
                indent=2,
            )
        os.replace(tmp, path)
    return admin


def load_broker_admin(directory: Path) -> BrokerAdmin | None:
    """The admin ``guanjia broker config`` created, or None before its first run."""
    try:
        raw = json.loads((directory / ADMIN_FILE).read_text(encoding="utf-8"))
        return BrokerAdmin(
            str(raw["username"]), str(raw["password"]), str(raw["host"]), int(raw["port"])
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:
        raise BrokerNotTold(
            f"{directory / ADMIN_FILE} is damaged ({err}); run `guanjia broker config` and "
            "restart mosquitto"
        ) from None


def _password_fields(password: str) -> dict[str, Any]:
    """The plugin's stored password: PBKDF2-HMAC-SHA512, 64-byte digest, 12-byte salt,
    both base64 (plugins/dynamic-security/auth.c ``dynsec_auth__pw_hash``)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ADMIN_ITERATIONS, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": _ADMIN_ITERATIONS,
    }


def render_edge_dynsec(nodes: list[tuple[str, bool]], admin: BrokerAdmin) -> str:
    """The plugin's file for the edge listener: no ``$share`` for nodes, and its admin.
    ``nodes``: (node id, active) of every enrolled node.

    Nodes hold no password here: for a client without one the plugin defers to
    ``password_file`` (auth.c). A revoked node is listed disabled, so it stays refused
    even by a broker still running an older password file. Default access defers publish
    and delivery to ``acl_file`` (``false`` = defer) and allows plain SUBSCRIBEs, which
    ``acl_file`` grants anyway; only the ``$share/#`` pattern of the ``node`` role
    decides here. The admin role allows the control topic and denies the rest.
    """
    clients: list[dict[str, Any]] = [
        {
            "username": admin.username,
            **_password_fields(admin.password),
            "roles": [{"rolename": ADMIN_ROLE}],
        }
    ]
    for name, active in nodes:
        entry: dict[str, Any] = {"username": name, "roles": [{"rolename": NODE_ROLE}]}
        if not active:
            entry["disabled"] = True
        clients.append(entry)
    control = "$CONTROL/dynamic-security/#"
    doc = {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": True,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": [
            {
                "rolename": NODE_ROLE,
                "acls": [
                    {
                        "acltype": "subscribePattern",
                        "topic": "$share/#",
                        "allow": False,
                        "priority": 0,
                    }
                ],
            },
            {
                "rolename": ADMIN_ROLE,
                # Higher priority is checked first; '#' does not match '$' topics.
                "acls": [
                    {"acltype": t, "topic": control, "allow": True, "priority": 10}
                    for t in ("publishClientSend", "publishClientReceive", "subscribePattern")
                ]
                + [
                    {"acltype": t, "topic": pattern, "allow": False, "priority": 0}
                    for t, pattern in (
                        ("publishClientSend", "#"),
                        ("subscribePattern", "#"),
                        ("subscribePattern", "$share/#"),
                    )
                ],
            },
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def enable_node(admin: BrokerAdmin, node: str) -> None:
    """The running plugin refuses ``node``'s ``$share`` SUBSCRIBEs from now on (and lets it
    connect again if it was revoked)."""
    _run(
        admin,
        [
            {"command": "createClient", "username": node, "roles": [{"rolename": NODE_ROLE}]},
            {"command": "enableClient", "username": node},
        ],
        tolerate={"createClient": "Client already exists"},
    )


def disable_node(admin: BrokerAdmin, node: str) -> None:
    """The running broker disconnects ``node`` now and refuses its CONNECTs."""
    _run(
        admin,
        [
            {"command": "createClient", "username": node, "roles": [{"rolename": NODE_ROLE}]},
            {"command": "disableClient", "username": node},
        ],
        tolerate={"createClient": "Client already exists"},
    )


def _run(admin: BrokerAdmin, commands: list[dict[str, Any]], tolerate: dict[str, str]) -> None:
    """Send ``commands`` in one control message and wait for the plugin's answers; an
    error other than the tolerated one raises :class:`BrokerNotTold`."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    tag = uuid.uuid4().hex
    for i, c in enumerate(commands):
        c["correlationData"] = f"{tag}-{i}"
    subscribed = threading.Event()
    answered = threading.Event()
    failure: list[str] = []
    responses: list[dict[str, Any]] = []

    def on_connect(c: mqtt.Client, u: object, f: object, rc: Any, p: object) -> None:
        if rc.is_failure:
            failure.append(f"the edge listener refused the admin's CONNECT ({rc})")
            subscribed.set()
            answered.set()
        else:
            c.subscribe(RESPONSE_TOPIC, qos=1)

    def on_subscribe(c: mqtt.Client, u: object, mid: int, rcs: list[Any], p: object) -> None:
        if rcs[0].is_failure:
            failure.append(f"the broker refused the admin's subscription ({rcs[0]})")
            answered.set()
        subscribed.set()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(ValueError):
            for r in json.loads(m.payload).get("responses", []):
                if str(r.get("correlationData", "")).startswith(tag):
                    responses.append(r)
        if len(responses) >= len(commands):
            answered.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=admin.username)
    client.username_pw_set(admin.username, admin.password)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    where = f"{admin.host}:{admin.port}"
    try:
        client.connect(admin.host, admin.port, keepalive=30)
    except OSError as err:
        raise BrokerNotTold(f"cannot reach the broker's edge listener at {where}: {err}") from None
    client.loop_start()
    try:
        if subscribed.wait(TIMEOUT_S) and not failure:
            client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        if not answered.wait(TIMEOUT_S):
            failure.append(
                f"no answer from the dynamic security plugin at {where} within {TIMEOUT_S:.0f} s "
                "(is the broker running the config `guanjia broker config` wrote, and was it "
                "restarted once since that config first had the admin?)"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    if failure:
        raise BrokerNotTold(failure[0])
    for r in responses:
        error = r.get("error")
        if error and tolerate.get(str(r.get("command"))) != error:
            raise BrokerNotTold(f"the plugin refused {r.get('command')}: {error}")
