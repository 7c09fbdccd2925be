"""Every service of the native runtime, in start order. Adding one = one declaration here."""

from __future__ import annotations

from ..config import Settings, settings as load_settings
from .airflow import airflow_service
from .kafka import connect_service, kafka_service
from .postgres import olap_endpoint, oltp_endpoint, postgres_service
from .runtime import Service, Stack


def _init_oltp(s: Settings) -> None:
    from ..schema import init_oltp

    init_oltp()


def all_services() -> list[Service]:
    return [
        postgres_service("oltp", "OLTP Postgres (3NF, wal_level=logical)", oltp_endpoint,
                         after_database=_init_oltp),
        postgres_service("olap", "OLAP Postgres (warehouse)", olap_endpoint),
        kafka_service(),
        connect_service(),
        airflow_service(),
    ]


def stack(s: Settings | None = None) -> Stack:
    return Stack(s or load_settings(), all_services())
