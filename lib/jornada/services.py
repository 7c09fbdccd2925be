"""The composition root: which services the course runs, and what happens once each is healthy.

The stack runtime (:mod:`jornada.stack`) knows processes, ports and health, nothing of the shop.
This module, above the pipelines, wires them: once ``oltp`` is healthy the OLTP schema is applied
(idempotent); once ``connect`` is, CDC's Postgres side is prepared and the connectors registered;
once ``s3`` is, the lake's buckets exist (idempotent too).
Adding a service is one declaration in :func:`all_services` (see ``jornada/stack/*.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Settings, settings as load_settings
from .stack.airflow import airflow_services
from .stack.compose import ComposeStack
from .stack.kafka import connect_service, kafka_service
from .stack.postgres import olap_endpoint, oltp_endpoint, postgres_service
from .stack.runtime import Hook, Service, Stack, StackError
from .stack.seaweedfs import s3_service
from .stack.spark import spark_services


def all_services(s: Settings) -> list[Service]:
    return [
        postgres_service("oltp", "OLTP Postgres (3NF, wal_level=logical)", oltp_endpoint),
        postgres_service("olap", "OLAP Postgres (warehouse)", olap_endpoint),
        kafka_service(),
        connect_service(),
        s3_service(),
        *airflow_services(s),
        *spark_services(),   # optional: `jornada stack up spark`
    ]


def _init_oltp(s: Settings, log: Callable[[str], None]) -> None:
    from .schema import init_oltp

    init_oltp()


def _capture(s: Settings, log: Callable[[str], None]) -> None:
    from . import cdc

    try:
        cdc.ensure_capture(s, log=log)
    except cdc.CdcError as exc:
        raise StackError(f"connect: running, but the connector is not registered: {exc}") from None


def _buckets(s: Settings, log: Callable[[str], None]) -> None:
    from . import s3 as storage

    storage.ensure_buckets(s, log=log)


def hooks() -> dict[str, list[Hook]]:
    return {"oltp": [_init_oltp], "connect": [_capture], "s3": [_buckets]}


def stack(s: Settings | None = None) -> Stack:
    """The stack of this runtime: local processes natively, health checks only in compose."""
    s = s or load_settings()
    runtime = ComposeStack if s.runtime == "compose" else Stack
    return runtime(s, all_services(s), hooks())
