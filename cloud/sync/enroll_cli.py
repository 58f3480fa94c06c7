"""``guanjia node ...`` and ``guanjia broker ...``: node identities and the broker config.

Thin Typer shells over :mod:`cloud.sync.enroll` (credentials) and
:mod:`cloud.nodes.ownership` (which account owns a node, in the hub's database); every
rule lives there.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cloud.errors import DomainError
from cloud.sync import enroll_dynsec
from cloud.sync.enroll import (
    DEFAULT_CLOUD_USER,
    BrokerLayout,
    CredentialStore,
    EnrollError,
    Issued,
    cloud_env_snippet,
    node_mqtt_snippet,
    validate_enrollable_node,
    write_broker_config,
    write_secret,
)

if TYPE_CHECKING:  # loaded by the commands that use them, not by `guanjia --help`
    from sqlalchemy.orm import Session

    from cloud.nodes.ownership import Enrolled

T = TypeVar("T")

node_app = typer.Typer(help="Node identities on the MQTT broker.", no_args_is_help=True)
broker_app = typer.Typer(help="Mosquitto config with per-node isolation.", no_args_is_help=True)

StoreDir = Annotated[
    Path,
    typer.Option(
        "--dir",
        envvar="GUANJIA_BROKER_DIR",
        help="Credential store directory (holds nodes.json: hashes only).",
        file_okay=False,
    ),
]
DEFAULT_DIR = Path("./guanjia-broker")
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="The hub's database, where the node's owner is recorded (overrides "
        "GUANJIA_DATABASE_URL; migrated with `guanjia cloud migrate`)."
    ),
]
Account = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="The seller account that owns the node. Without it the node waits for a "
        "one-time claim code, printed here, that an admin of the account enters.",
    ),
]
ClaimHours = Annotated[
    int, typer.Option(help="Hours a claim code stays valid.", min=1, max=24 * 14)
]
ACTOR = "operator"


def _in_hub(database_url: str | None, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction of the hub's database."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from cloud.db.engine import make_engine, session_factory, transaction
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    try:
        with transaction(session_factory(engine)) as s:
            return work(s)
    except (OperationalError, ProgrammingError) as err:
        raise EnrollError(
            f"the hub's database cannot record node owners ({type(err).__name__}); "
            "check GUANJIA_DATABASE_URL and run `guanjia cloud migrate`"
        ) from None
    finally:
        engine.dispose()


def _echo_claim(enrolled: Enrolled) -> None:
    assert enrolled.claim_code is not None
    assert enrolled.expires_at is not None
    typer.echo(
        f"claim code of node {enrolled.node_id}: {enrolled.claim_code} "
        f"(single use, valid until {enrolled.expires_at.isoformat(timespec='minutes')})"
    )
    typer.echo(
        "an admin of the seller's account enters it (POST /api/v1/nodes/claim) to make "
        "the node theirs; until then no account sees the node or its events"
    )


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(1)


def _issued_path(directory: Path, name: str) -> Path:
    return directory / "issued" / name


def _tell_broker(directory: Path, node: str, *, enable: bool) -> bool:
    """Tell the running broker's dynamic security plugin (cloud/sync/enroll_dynsec.py);
    False, with a warning saying what to do, when it could not be told."""
    try:
        admin = enroll_dynsec.load_broker_admin(directory)
        if admin is None:
            typer.echo(
                "note: no broker config yet (`guanjia broker config`): the broker learns of "
                f"node {node} when it starts with it",
                err=True,
            )
            return False
        # One admin session at a time: the edge listener names every session after its
        # username, so a second operator's would end the first's (use_username_as_clientid).
        with open(directory / ".broker-admin.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            (enroll_dynsec.enable_node if enable else enroll_dynsec.disable_node)(admin, node)
    except enroll_dynsec.BrokerNotTold as err:
        typer.echo(f"warning: the running broker was not told: {err}", err=True)
        typer.echo(
            "it learns at its next start: `guanjia broker config --out ...` and restart mosquitto",
            err=True,
        )
        return False
    return True


@node_app.command("enroll")
def enroll(
    node: Annotated[str, typer.Argument(help="Node id (as in the node's [node] id).")],
    directory: StoreDir = DEFAULT_DIR,
    rotate: Annotated[bool, typer.Option(help="Replace the password of an enrolled node.")] = False,
    host: Annotated[
        str | None, typer.Option(help="Broker host to put in the node's snippet.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Broker port to put in the node's snippet.", min=1, max=65535)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the node's [mqtt] snippet (default DIR/issued/NODE.toml)."
        ),
    ] = None,
    account: Account = None,
    database_url: DatabaseUrl = None,
    claim_hours: ClaimHours = 24,
) -> None:
    """Create NODE's MQTT credentials, write its [mqtt] config snippet, and record in the
    hub's database which account owns it (--account) or print its one-time claim code."""
    from cloud.db.models import NodeOwner
    from cloud.nodes import ownership

    store = CredentialStore(directory)
    now = datetime.now(UTC)

    def record(s: Session) -> Enrolled | None:
        known = s.get(NodeOwner, node) is not None
        if rotate and account is None and known:
            return None  # new credentials only: who owns the node does not change
        return ownership.enroll(s, node, account, ACTOR, now, ttl=timedelta(hours=claim_hours))

    try:
        validate_enrollable_node(node)
        old = store.node(node)
        if old is not None and old.active and not rotate:
            store.enroll(node)  # refuses, saying why (already enrolled: --rotate)
        enrolled = _in_hub(database_url, record)
        issued = store.enroll(node, rotate=rotate)
    except (DomainError, ValueError) as err:
        raise _fail(err) from None
    path = write_secret(
        out or _issued_path(directory, f"{node}.toml"),
        node_mqtt_snippet(issued, host=host, port=port),
    )
    verb = "rotated the password of" if issued.rotated else "enrolled"
    owner = f" for account {account}" if account else ""
    typer.echo(f"{verb} node {node}{owner}")
    typer.echo(
        f"wrote {path} (mode 600): merge its [mqtt] section into the node's config, then delete it"
    )
    if enrolled is not None and enrolled.claim_code is not None:
        _echo_claim(enrolled)
    if _tell_broker(directory, node, enable=True):
        typer.echo(f"the running broker refuses shared subscriptions ($share) of {node}")
    typer.echo("next: `guanjia broker config --out ...` and reload mosquitto")


@node_app.command("claim-code")
def claim_code(
    node: Annotated[str, typer.Argument(help="Node id, enrolled without --account.")],
    database_url: DatabaseUrl = None,
    claim_hours: ClaimHours = 24,
) -> None:
    """Issue a new claim code for a node that waits to be claimed (the old code dies)."""
    from cloud.nodes import ownership

    now = datetime.now(UTC)
    try:
        enrolled = _in_hub(
            database_url,
            lambda s: ownership.issue_claim_code(
                s, node, ACTOR, now, ttl=timedelta(hours=claim_hours)
            ),
        )
    except DomainError as err:
        raise _fail(err) from None
    _echo_claim(enrolled)


@node_app.command("transfer")
def transfer(
    node: Annotated[str, typer.Argument(help="Node id.")],
    account: Annotated[str, typer.Option("--account", help="The account that gets the node.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Move a node to another seller account (the platform operator's act, never the API's).

    Its warehouse assignment ends; the node's stored events become the new owner's to read.
    """
    from cloud.nodes import ownership

    now = datetime.now(UTC)
    try:
        done = _in_hub(database_url, lambda s: ownership.transfer(s, node, account, ACTOR, now))
    except DomainError as err:
        raise _fail(err) from None
    typer.echo(f"node {node}: {done.old_account or 'no account'} -> {done.new_account}")
    typer.echo(
        f"its assignment ended; its {done.events} stored event(s) are now readable by "
        f"{done.new_account} only"
    )


@node_app.command("list")
def list_nodes(directory: StoreDir = DEFAULT_DIR) -> None:
    """List enrolled and revoked nodes."""
    try:
        nodes = CredentialStore(directory).nodes()
    except EnrollError as err:
        raise _fail(err) from None
    if not nodes:
        typer.echo(f"no nodes enrolled in {directory}")
        return
    for a in nodes:
        state = "active" if a.active else f"revoked {a.revoked_at}"
        rotated = f", rotated {a.rotated_at}" if a.rotated_at else ""
        typer.echo(f"{a.name}\t{state}\tenrolled {a.enrolled_at}{rotated}")


@node_app.command("revoke")
def revoke(
    node: Annotated[str, typer.Argument(help="Node id.")],
    directory: StoreDir = DEFAULT_DIR,
) -> None:
    """Revoke NODE's credentials: the running broker disconnects and refuses it at once."""
    try:
        CredentialStore(directory).revoke(node)
    except EnrollError as err:
        raise _fail(err) from None
    typer.echo(f"revoked node {node}")
    if _tell_broker(directory, node, enable=False):
        typer.echo(f"the running broker disconnected {node} and refuses it from now on")
    typer.echo("next: `guanjia broker config --out ...` and reload mosquitto")


def _write_cloud_env(directory: Path, issued: Issued, layout: BrokerLayout) -> Path:
    return write_secret(
        _issued_path(directory, "cloud.env"),
        cloud_env_snippet(issued, host=layout.cloud_host, port=layout.cloud_port),
    )


EdgeHost = Annotated[str, typer.Option(help="Address the edge listener binds.")]
EdgePort = Annotated[int, typer.Option(help="Port of the edge listener.", min=1, max=65535)]
CloudHost = Annotated[str, typer.Option(help="Address the cloud listener binds (keep it private).")]
CloudPort = Annotated[int, typer.Option(help="Port of the cloud listener.", min=1, max=65535)]


@broker_app.command("config")
def config(
    out: Annotated[
        Path, typer.Option(help="mosquitto.conf to write; password and ACL files go beside it.")
    ],
    directory: StoreDir = DEFAULT_DIR,
    edge_host: EdgeHost = "0.0.0.0",
    edge_port: EdgePort = 1883,
    cloud_host: CloudHost = "127.0.0.1",
    cloud_port: CloudPort = 1884,
    dynsec_plugin: Annotated[
        Path | None,
        typer.Option(
            help="mosquitto_dynamic_security.so (default: looked up in the usual places); "
            "it refuses nodes' $share subscriptions."
        ),
    ] = None,
) -> None:
    """Write mosquitto.conf plus password and ACL files from the credential store."""
    layout = BrokerLayout(edge_host, edge_port, cloud_host, cloud_port)
    store = CredentialStore(directory)
    try:
        if not any(a.active for a in store.cloud_users()):
            issued = store.enroll_cloud()
            env = _write_cloud_env(directory, issued, layout)
            typer.echo(f"created cloud user {issued.username}; wrote {env} (mode 600) for the hub")
        files = write_broker_config(store, out, layout, dynsec_plugin=dynsec_plugin)
    except EnrollError as err:
        raise _fail(err) from None
    active = sum(a.active for a in store.nodes())
    typer.echo(f"wrote {files.conf}")
    for p in (
        files.edge_passwd,
        files.edge_acl,
        files.edge_dynsec,
        files.cloud_passwd,
        files.cloud_acl,
    ):
        typer.echo(f"wrote {p}")
    typer.echo(f"{active} node(s) may connect on {edge_host}:{edge_port}")
    typer.echo(
        "now: `systemctl reload mosquitto` (or kill -HUP its pid); the first time, and "
        "after changing listeners: `systemctl restart mosquitto`"
    )


@broker_app.command("cloud-user")
def cloud_user(
    directory: StoreDir = DEFAULT_DIR,
    username: Annotated[str, typer.Option(help="Cloud MQTT username.")] = DEFAULT_CLOUD_USER,
    rotate: Annotated[bool, typer.Option(help="Replace the password of an existing user.")] = False,
    cloud_host: CloudHost = "127.0.0.1",
    cloud_port: CloudPort = 1884,
) -> None:
    """Create (or --rotate) the cloud hub's MQTT account and write its env file."""
    layout = BrokerLayout(cloud_host=cloud_host, cloud_port=cloud_port)
    try:
        issued = CredentialStore(directory).enroll_cloud(username, rotate=rotate)
    except (EnrollError, ValueError) as err:
        raise _fail(err) from None
    env = _write_cloud_env(directory, issued, layout)
    verb = "rotated the password of" if issued.rotated else "created"
    typer.echo(f"{verb} cloud user {username}; wrote {env} (mode 600) for the hub")
    typer.echo("next: `guanjia broker config --out ...` and reload mosquitto")
