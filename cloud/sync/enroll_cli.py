"""``guanjia node ...`` and ``guanjia broker ...``: node identities and the broker config.

Thin Typer shells over :mod:`cloud.enroll`; every rule lives there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloud.sync.enroll import (
    DEFAULT_CLOUD_USER,
    BrokerLayout,
    CredentialStore,
    EnrollError,
    Issued,
    cloud_env_snippet,
    node_mqtt_snippet,
    write_broker_config,
    write_secret,
)

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


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(1)


def _issued_path(directory: Path, name: str) -> Path:
    return directory / "issued" / name


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
) -> None:
    """Create NODE's MQTT credentials and write its [mqtt] config snippet."""
    store = CredentialStore(directory)
    try:
        issued = store.enroll(node, rotate=rotate)
    except (EnrollError, ValueError) as err:
        raise _fail(err) from None
    path = write_secret(
        out or _issued_path(directory, f"{node}.toml"),
        node_mqtt_snippet(issued, host=host, port=port),
    )
    verb = "rotated the password of" if issued.rotated else "enrolled"
    typer.echo(f"{verb} node {node}")
    typer.echo(
        f"wrote {path} (mode 600): merge its [mqtt] section into the node's config, then delete it"
    )
    typer.echo("next: `guanjia broker config --out ...` and restart mosquitto")


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
    """Revoke NODE's credentials (takes effect at the next broker config + reload)."""
    try:
        CredentialStore(directory).revoke(node)
    except EnrollError as err:
        raise _fail(err) from None
    typer.echo(f"revoked node {node}")
    typer.echo(
        "next: `guanjia broker config --out ...` and reload mosquitto; a connection that "
        "is already open survives a reload, so restart mosquitto to cut it now"
    )


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
        "after revoking: `systemctl reload mosquitto` (or kill -HUP its pid); after "
        "enrolling a node: `systemctl restart mosquitto` (the plugin that refuses $share "
        "subscriptions reads its file at start only)"
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
