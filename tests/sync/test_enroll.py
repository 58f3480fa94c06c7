"""Enrollment: hashes Mosquitto accepts, refusals, revocation, the files and the CLI."""

from __future__ import annotations

import base64
import json
import re
import shutil
import stat
import subprocess
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloud.db.engine import make_engine, migrate
from cloud.sync import enroll, enroll_dynsec
from cloud.sync.enroll import (
    DEFAULT_CLOUD_USER,
    HASH_ITERATIONS,
    BrokerLayout,
    CredentialStore,
    EnrollError,
    broker_files,
    hash_password,
    node_mqtt_snippet,
    render_edge_acl,
    verify_password,
    write_broker_config,
)
from cloud.sync.enroll_cli import broker_app, node_app
from cloud.sync.enroll_dynsec import load_broker_admin
from edge.config import MqttSection
from protocol import topics
from tests.sync.test_isolation import Mosquitto, Peer, needs_mosquitto

HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]{16})\$([A-Za-z0-9+/=]{88})$")
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "store")


# --- hashes ---------------------------------------------------------------------------


def test_hash_has_mosquitto_7_format_and_fresh_salt() -> None:
    a, b = hash_password("pw"), hash_password("pw")
    m = HASH_RE.match(a)
    assert m and int(m.group(1)) == HASH_ITERATIONS
    assert len(base64.b64decode(m.group(2))) == 12 and len(base64.b64decode(m.group(3))) == 64
    assert a != b  # new salt each time
    assert verify_password("pw", a) and verify_password("pw", b)
    assert not verify_password("pW", a)
    assert not verify_password("pw", "$6$garbage")
    assert not verify_password("pw", "not a hash")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd binary")
def test_hash_equals_mosquitto_passwd_for_the_same_salt(tmp_path: Path) -> None:
    pwfile = tmp_path / "pw"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(pwfile), "u", "s3cret é"], check=True, timeout=10
    )
    theirs = pwfile.read_text().strip().split(":", 1)[1]
    _, _, iterations, salt, _ = theirs.split("$")
    ours = hash_password("s3cret é", salt=base64.b64decode(salt), iterations=int(iterations))
    assert ours == theirs
    assert verify_password("s3cret é", theirs)


# --- the store ------------------------------------------------------------------------


def test_enroll_stores_only_a_hash(store: CredentialStore) -> None:
    issued = store.enroll("wh1-pack-1", now="2026-01-01T00:00:00+00:00")
    assert issued.username == "wh1-pack-1" and not issued.rotated
    assert len(issued.password) >= 43  # 256 bits, URL-safe base64
    text = store.path.read_text()
    assert issued.password not in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    (acct,) = store.nodes()
    assert verify_password(issued.password, acct.password_hash)
    assert acct.enrolled_at == "2026-01-01T00:00:00+00:00" and acct.active
    assert json.loads(text)["format"] == 1


def test_re_enroll_refuses_without_rotate(store: CredentialStore) -> None:
    first = store.enroll("n1")
    with pytest.raises(EnrollError, match=r"already enrolled.*--rotate"):
        store.enroll("n1")
    # The refusal changed nothing: the first password still verifies.
    assert verify_password(first.password, store.nodes()[0].password_hash)
    second = store.enroll("n1", rotate=True, now="2026-02-02T00:00:00+00:00")
    assert second.rotated and second.password != first.password
    (acct,) = store.nodes()
    assert verify_password(second.password, acct.password_hash)
    assert not verify_password(first.password, acct.password_hash)
    assert acct.rotated_at == "2026-02-02T00:00:00+00:00"


@pytest.mark.parametrize(
    ("node", "why"),
    [
        ("", "invalid node id"),
        ("a/b", "invalid node id"),
        ("+", "invalid node id"),
        ("wh1/#", "invalid node id"),
        ("$SYS", "invalid node id"),
        ("-lead", "invalid node id"),
        ("a b", "invalid node id"),
        ("a:b", "invalid node id"),  # ':' would split the password file line
        ("x" * 65, "invalid node id"),
        ("guanjia-cloud", "reserved"),
        ("guanjia-cloud-7", "reserved"),
        ("GUANJIA-CLOUD", "reserved"),
    ],
)
def test_invalid_node_ids_are_refused(store: CredentialStore, node: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        store.enroll(node)
    assert store.nodes() == []


def test_revoke(store: CredentialStore) -> None:
    store.enroll("n1")
    store.enroll("n2")
    with pytest.raises(EnrollError, match="not enrolled"):
        store.revoke("n3")
    revoked = store.revoke("n1", now="2026-03-03T00:00:00+00:00")
    assert revoked.revoked_at == "2026-03-03T00:00:00+00:00" and revoked.password_hash == ""
    with pytest.raises(EnrollError, match="already revoked"):
        store.revoke("n1")
    assert [(a.name, a.active) for a in store.nodes()] == [("n1", False), ("n2", True)]
    # A revoked node may be enrolled afresh (new password), without --rotate.
    again = store.enroll("n1")
    assert not again.rotated and store.nodes()[0].active


def test_corrupt_store_is_an_error_not_an_empty_store(store: CredentialStore) -> None:
    store.directory.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(EnrollError, match="not valid JSON"):
        store.nodes()
    with pytest.raises(EnrollError, match="not valid JSON"):
        store.enroll("n1")
    store.path.write_text('{"format": 9}')
    with pytest.raises(EnrollError, match="format 9 not supported"):
        store.nodes()


def test_cloud_user_and_node_names_do_not_collide(store: CredentialStore) -> None:
    store.enroll_cloud("hub")
    with pytest.raises(EnrollError, match="cloud username"):
        store.enroll("hub")
    store.enroll("n1")
    with pytest.raises(EnrollError, match="enrolled node"):
        store.enroll_cloud("n1")
    with pytest.raises(EnrollError, match="already exists"):
        store.enroll_cloud("hub")
    assert store.enroll_cloud("hub", rotate=True).rotated


# --- rendered files -------------------------------------------------------------------


def test_snippet_is_a_valid_edge_mqtt_section(store: CredentialStore) -> None:
    issued = store.enroll("wh1-pack-1")
    raw = tomllib.loads(node_mqtt_snippet(issued, host="broker.lan", port=1883))
    section = MqttSection.model_validate(raw["mqtt"])
    assert (section.username, section.password) == ("wh1-pack-1", issued.password)
    assert (section.host, section.port) == ("broker.lan", 1883)


def test_edge_acl_lines(store: CredentialStore) -> None:
    store.enroll("n1")
    store.enroll("n2")
    store.revoke("n2")
    rules = [ln for ln in render_edge_acl(store.nodes()).splitlines() if ln and ln[0] != "#"]
    assert rules == [
        "pattern write guanjia/v1/node/%u/events",
        "pattern write guanjia/v1/node/%u/pull",
        "pattern write guanjia/v1/node/%u/state",
        *(f"pattern write guanjia/v1/node/%u/events/{p}" for p in range(64)),
        "pattern read guanjia/v1/node/%u/ack",
        "pattern read guanjia/v1/node/%u/down",
        "user n1",
        "topic read guanjia/v1/hub/state",
    ]


def test_broker_config_files(store: CredentialStore, tmp_path: Path) -> None:
    store.enroll("n1")
    store.enroll("n2")
    store.revoke("n2")
    with pytest.raises(EnrollError, match="no cloud user"):
        write_broker_config(store, tmp_path / "etc" / "mosquitto.conf", BrokerLayout())
    store.enroll_cloud()
    plugin = tmp_path / "mosquitto_dynamic_security.so"
    files = write_broker_config(
        store, tmp_path / "etc" / "mosquitto.conf", BrokerLayout(), dynsec_plugin=plugin
    )
    assert files == broker_files(tmp_path / "etc" / "mosquitto.conf")
    conf = files.conf.read_text()
    directives = [ln for ln in conf.splitlines() if ln and ln[0] != "#"]
    assert directives == [
        "per_listener_settings true",
        "message_size_limit 1048576",  # protocol MAX_BATCH_BYTES (issue 19, finding 6)
        "max_packet_size 1114112",  # + 64 KiB of headers
        "max_queued_messages 10000",
        "max_queued_bytes 268435456",
        "listener 1883 0.0.0.0",
        "allow_anonymous false",
        "use_username_as_clientid true",
        f"password_file {files.edge_passwd}",
        f"acl_file {files.edge_acl}",
        f"plugin {plugin}",
        f"plugin_opt_config_file {files.edge_dynsec}",
        "listener 1884 127.0.0.1",
        "allow_anonymous false",
        f"password_file {files.cloud_passwd}",
        f"acl_file {files.cloud_acl}",
    ]
    edge_users = [ln.split(":")[0] for ln in files.edge_passwd.read_text().splitlines()]
    assert edge_users == ["n1"]  # the revoked node is gone
    cloud_lines = files.cloud_passwd.read_text().splitlines()
    assert [ln.split(":")[0] for ln in cloud_lines] == [DEFAULT_CLOUD_USER]
    assert "topic readwrite guanjia/v1/#" in files.cloud_acl.read_text()
    dynsec = json.loads(files.edge_dynsec.read_text())
    # Nodes without passwords (password_file keeps those), the revoked one disabled, one
    # deny rule; and the plugin's admin, with the only password, in a role of its own.
    admin, *nodes = dynsec["clients"]
    assert nodes == [
        {"username": "n1", "roles": [{"rolename": "node"}]},
        {"username": "n2", "roles": [{"rolename": "node"}], "disabled": True},
    ]
    assert admin["username"] == enroll_dynsec.ADMIN_USER
    assert admin["roles"] == [{"rolename": enroll_dynsec.ADMIN_ROLE}]
    assert len(base64.b64decode(admin["salt"])) == 12
    assert len(base64.b64decode(admin["password"])) == 64
    assert dynsec["roles"][0]["acls"] == [
        {"acltype": "subscribePattern", "topic": "$share/#", "allow": False, "priority": 0}
    ]
    for p in (
        files.edge_passwd,
        files.cloud_passwd,
        files.edge_acl,
        files.cloud_acl,
        files.edge_dynsec,
    ):
        assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_broker_config_refuses_to_go_without_the_share_guard(
    store: CredentialStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.enroll_cloud()
    monkeypatch.setattr(enroll, "DYNSEC_PLUGIN_DIRS", (str(tmp_path / "nowhere"),))
    with pytest.raises(EnrollError, match="--dynsec-plugin PATH"):
        write_broker_config(store, tmp_path / "mosquitto.conf", BrokerLayout())


# --- against the real broker ----------------------------------------------------------


def _connects(port: int, user: str, password: str) -> bool:
    peer = Peer(port, "edge-x", user, password)
    try:
        return not peer.connect().is_failure
    finally:
        peer.close()


@needs_mosquitto
def test_broker_accepts_enrolled_rotated_and_refuses_revoked(
    store: CredentialStore, tmp_path: Path
) -> None:
    store.enroll_cloud()
    with Mosquitto(store, tmp_path) as broker:  # starts fine with no node enrolled
        port = broker.layout.edge_port
        first = store.enroll("n1")
        assert not _connects(port, "n1", first.password)  # not until the reload
        broker.reload()
        assert _connects(port, "n1", first.password)
        assert not _connects(port, "n1", first.password + "x")

        second = store.enroll("n1", rotate=True)
        broker.reload()
        assert not _connects(port, "n1", first.password)
        assert _connects(port, "n1", second.password)

        store.revoke("n1")
        broker.reload()
        assert not _connects(port, "n1", second.password)


# --- the CLI --------------------------------------------------------------------------


def test_cli_enroll_list_revoke_and_config(tmp_path: Path) -> None:
    d = str(tmp_path / "store")
    # Enrollment records the node's owner in the hub's database (docs/sync.md, "Who owns a
    # node"): without --account it prints the node's one-time claim code.
    hub = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(hub)
    hub.dispose()
    res = runner.invoke(
        node_app,
        ["enroll", "wh1-pack-1", "--dir", d, "--port", "1883"],
        env={"GUANJIA_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"},
    )
    assert res.exit_code == 0, res.output
    assert "claim code of node wh1-pack-1:" in res.output
    snippet = tmp_path / "store" / "issued" / "wh1-pack-1.toml"
    assert f"wrote {snippet}" in res.output
    assert stat.S_IMODE(snippet.stat().st_mode) == 0o600
    password = tomllib.loads(snippet.read_text())["mqtt"]["password"]
    assert password not in res.output  # the secret goes to the file, not the terminal log

    res = runner.invoke(node_app, ["enroll", "wh1-pack-1", "--dir", d])
    assert res.exit_code == 1 and "already enrolled" in res.output
    res = runner.invoke(node_app, ["enroll", "bad/id", "--dir", d])
    assert res.exit_code == 1 and "invalid node id 'bad/id'" in res.output
    res = runner.invoke(
        node_app,
        ["enroll", "wh1-pack-1", "--dir", d, "--rotate"],
        env={"GUANJIA_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"},
    )
    assert res.exit_code == 0 and "rotated" in res.output

    out = tmp_path / "etc" / "mosquitto.conf"
    res = runner.invoke(broker_app, ["config", "--dir", d, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "created cloud user guanjia-cloud" in res.output and out.exists()
    env = (tmp_path / "store" / "issued" / "cloud.env").read_text()
    assert "GUANJIA_MQTT_USERNAME=guanjia-cloud" in env and "GUANJIA_MQTT_PORT=1884" in env

    res = runner.invoke(node_app, ["list", "--dir", d])
    assert res.exit_code == 0 and re.search(r"^wh1-pack-1\tactive\t", res.output, re.M)
    res = runner.invoke(node_app, ["revoke", "wh1-pack-1", "--dir", d])
    assert res.exit_code == 0 and "revoked node wh1-pack-1" in res.output
    res = runner.invoke(node_app, ["revoke", "wh1-pack-1", "--dir", d])
    assert res.exit_code == 1 and "already revoked" in res.output
    res = runner.invoke(node_app, ["list", "--dir", d])
    assert "wh1-pack-1\trevoked " in res.output

    res = runner.invoke(broker_app, ["cloud-user", "--dir", d])
    assert res.exit_code == 1 and "already exists" in res.output
    res = runner.invoke(broker_app, ["cloud-user", "--dir", d, "--rotate"])
    assert res.exit_code == 0 and "rotated" in res.output


# --- a running broker learns of enrolled and revoked nodes (issue 13, finding 9) --------

SHARE = topics.subscription(topics.Channel.EVENTS, "guanjia-hub")  # the hub's own group


def _hub_db(tmp_path: Path) -> dict[str, str]:
    hub = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(hub)
    hub.dispose()
    return {"GUANJIA_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}


def _cli_enroll(store: CredentialStore, node: str, env: dict[str, str]) -> str:
    res = runner.invoke(node_app, ["enroll", node, "--dir", str(store.directory)], env=env)
    assert res.exit_code == 0, res.output
    assert f"the running broker refuses shared subscriptions ($share) of {node}" in res.output
    snippet = store.directory / "issued" / f"{node}.toml"
    return str(tomllib.loads(snippet.read_text())["mqtt"]["password"])


def _peer(port: int, node: str, password: str) -> Peer:
    peer = Peer(port, f"edge-{node}", node, password)
    rc = peer.connect()
    assert not rc.is_failure, rc
    return peer


@needs_mosquitto
def test_a_node_enrolled_on_a_running_broker_is_refused_share_after_a_reload_only(
    store: CredentialStore, tmp_path: Path
) -> None:
    # Before: the plugin knew only the nodes of its file at start; a node enrolled later,
    # with the reload that lets it connect, was granted $share/guanjia-hub/... (QoS 1).
    store.enroll_cloud()
    env = _hub_db(tmp_path)
    with Mosquitto(store, tmp_path) as broker:
        password = _cli_enroll(store, "late-1", env)
        broker.reload()  # the password file; no restart
        late = _peer(broker.layout.edge_port, "late-1", password)
        try:
            (rc,) = late.subscribe(SHARE)
            assert rc.is_failure and rc.value == 128, rc
            (ok,) = late.subscribe(topics.topic("late-1", topics.Channel.DOWN))
            assert not ok.is_failure
        finally:
            late.close()


@needs_mosquitto
def test_a_revoked_node_is_cut_off_at_once_and_may_be_enrolled_again(
    store: CredentialStore, tmp_path: Path
) -> None:
    # Before: a revoked node that was online stayed connected until Mosquitto restarted.
    store.enroll_cloud()
    first = store.enroll("n1").password
    env = _hub_db(tmp_path)
    with Mosquitto(store, tmp_path) as broker:
        port = broker.layout.edge_port
        n1 = _peer(port, "n1", first)
        try:
            res = runner.invoke(node_app, ["revoke", "n1", "--dir", str(store.directory)])
            assert res.exit_code == 0, res.output
            assert "the running broker disconnected n1" in res.output
            deadline = time.monotonic() + 5
            while n1.is_connected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not n1.is_connected  # no reload, no restart
        finally:
            n1.close()
        assert not _connects(port, "n1", first)  # and refused from now on
        # Enrolled afresh: it may connect again after the reload, still without $share.
        second = _cli_enroll(store, "n1", env)
        broker.reload()
        again = _peer(port, "n1", second)
        try:
            (rc,) = again.subscribe(SHARE)
            assert rc.is_failure and rc.value == 128, rc
        finally:
            again.close()


@needs_mosquitto
def test_the_plugin_admin_may_use_the_control_topic_only(
    store: CredentialStore, tmp_path: Path
) -> None:
    store.enroll_cloud()
    n1_password = store.enroll("n1").password
    n2_password = store.enroll("n2").password
    with Mosquitto(store, tmp_path) as broker:
        admin = load_broker_admin(store.directory)
        assert admin is not None and admin.port == broker.layout.edge_port
        assert stat.S_IMODE((store.directory / "broker-admin.json").stat().st_mode) == 0o600
        # A node's control command does nothing: its role does not grant the topic.
        n1 = _peer(broker.layout.edge_port, "n1", n1_password)
        n2 = _peer(broker.layout.edge_port, "n2", n2_password)
        try:
            command = {"commands": [{"command": "disableClient", "username": "n1"}]}
            n2.publish("$CONTROL/dynamic-security/v1", json.dumps(command).encode())
            time.sleep(0.3)
            assert n1.is_connected
        finally:
            n1.close()
            n2.close()
        assert _connects(broker.layout.edge_port, "n1", n1_password)
        # The admin's own subscriptions are limited to the control topic.
        peer = _peer(broker.layout.edge_port, admin.username, admin.password)
        try:
            assert peer.subscribe("guanjia/v1/#")[0].is_failure
            assert peer.subscribe(SHARE)[0].is_failure
        finally:
            peer.close()
        wrong = replace(admin, password=admin.password + "x")
        with pytest.raises(enroll_dynsec.BrokerNotTold, match="refused the admin's CONNECT"):
            enroll_dynsec.enable_node(wrong, "n1")
    with pytest.raises(enroll_dynsec.BrokerNotTold, match="cannot reach"):
        enroll_dynsec.enable_node(admin, "n1")
