"""One place that knows every endpoint and credential of the course, typed.

Values come, in increasing priority, from `.env.example` (the documented values: no default is
written in code), `.env` (this machine's secrets, created by `make`/`jornada env`) and the process
environment (compose sets them there). Notebooks, generators, DAGs and tests all call
:func:`settings` so the same code runs in the native runtime and in docker compose.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(os.environ.get("JORNADA_HOME", Path(__file__).resolve().parents[2]))
ENV_EXAMPLE = REPO_ROOT / ".env.example"
ENV_FILE = REPO_ROOT / ".env"
GENERATE_MARKER = "generate"
LOOPBACK = "127.0.0.1"


class ConfigError(RuntimeError):
    """Configuration is missing or wrong; the message says how to fix it."""


def ensure_env_file(path: Path = ENV_FILE, example: Path = ENV_EXAMPLE) -> bool:
    """Create `.env` from `.env.example`, replacing each `generate` value by a random secret.

    An existing `.env` keeps its values (the data directories were initialised with them); keys
    that a newer `.env.example` added are appended, secrets generated. Returns True when written.
    """
    existing = dotenv_values(path) if path.exists() else {}
    lines: list[str] = []
    added = False
    for line in example.read_text().splitlines():
        key, sep, value = line.partition("=")
        is_setting = sep and not line.lstrip().startswith("#")
        if is_setting and key.strip() in existing:
            continue
        if is_setting:
            added = True
            if value.strip() == GENERATE_MARKER:
                line = f"{key}={secrets.token_urlsafe(18)}"
        if path.exists() and not is_setting:
            continue  # comments are only written into a brand-new file
        lines.append(line)
    if not added:
        return False
    text = "\n".join(lines) + "\n"
    if path.exists():
        text = path.read_text().rstrip("\n") + "\n# added from a newer .env.example\n" + text
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)
    return True


class PostgresEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    host: str
    port: int
    dbname: str
    user: str
    password: str

    def conninfo(self, *, dbname: str | None = None, user: str | None = None,
                 password: str | None = None) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host, port=self.port, dbname=dbname or self.dbname,
            user=user or self.user, password=password or self.password, connect_timeout=3,
        )

    def sqlalchemy_url(self) -> str:
        from urllib.parse import quote

        return (f"postgresql+psycopg://{quote(self.user)}:{quote(self.password)}"
                f"@{self.host}:{self.port}/{self.dbname}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Settings(BaseSettings):
    """Every key of `.env.example`, typed. Field `oltp_port` is the variable `OLTP_PORT`."""

    model_config = SettingsConfigDict(
        env_file=(ENV_EXAMPLE, ENV_FILE), env_file_encoding="utf-8", extra="ignore",
        frozen=True, case_sensitive=False)

    oltp_host: str
    oltp_port: int
    oltp_db: str
    oltp_user: str
    oltp_password: SecretStr
    olap_host: str
    olap_port: int
    olap_db: str
    olap_user: str
    olap_password: SecretStr
    pg_superuser: str
    pg_superuser_password: SecretStr
    jornada_stack_dir: Path
    # "native": local processes started by `jornada stack`; "compose": docker compose runs them
    jornada_runtime: Literal["native", "compose"] = "native"
    jupyter_port: int
    kafka_port: int
    kafka_controller_port: int
    connect_port: int
    debezium_user: str
    debezium_password: SecretStr
    airflow_port: int
    airflow_admin_user: str
    airflow_admin_password: SecretStr
    jornada_airflow_triggerer: bool = False
    s3_port: int
    s3_region: str
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    seaweedfs_master_port: int
    seaweedfs_master_grpc_port: int
    seaweedfs_volume_port: int
    seaweedfs_volume_grpc_port: int
    seaweedfs_filer_port: int
    seaweedfs_filer_grpc_port: int
    seaweedfs_s3_grpc_port: int
    minio_console_port: int
    spark_ui_port: int
    spark_master_port: int
    spark_master_ui_port: int
    spark_worker_port: int
    spark_worker_ui_port: int
    spark_auth_secret: SecretStr
    # Set only inside docker compose, where services are reached by name instead of 127.0.0.1.
    jornada_kafka_bootstrap: str | None = None
    jornada_connect_url: str | None = None
    jornada_airflow_url: str | None = None
    jornada_cdc_db_host: str | None = None
    jornada_cdc_db_port: int | None = None
    jornada_s3_endpoint: str | None = None      # e.g. http://s3:9000 inside compose
    jornada_spark_master_url: str | None = None  # e.g. spark://spark-master:7077 inside compose

    @model_validator(mode="after")
    def _secrets_are_generated(self) -> Settings:
        for name, value in self:
            if isinstance(value, SecretStr) and value.get_secret_value() in ("", GENERATE_MARKER):
                raise ValueError(f"{name.upper()} is not set — run `make env` (or `jornada env`) to "
                                 "create .env with generated secrets")
        if not self.jornada_stack_dir.is_absolute():
            object.__setattr__(self, "jornada_stack_dir", REPO_ROOT / self.jornada_stack_dir)
        return self

    # ---- derived, typed views ---------------------------------------------------------------
    @property
    def stack_dir(self) -> Path:
        return self.jornada_stack_dir

    @property
    def runtime(self) -> str:
        return self.jornada_runtime

    @property
    def oltp(self) -> PostgresEndpoint:
        return PostgresEndpoint(name="OLTP Postgres", host=self.oltp_host, port=self.oltp_port,
                                dbname=self.oltp_db, user=self.oltp_user,
                                password=self.oltp_password.get_secret_value())

    @property
    def olap(self) -> PostgresEndpoint:
        return PostgresEndpoint(name="OLAP Postgres", host=self.olap_host, port=self.olap_port,
                                dbname=self.olap_db, user=self.olap_user,
                                password=self.olap_password.get_secret_value())

    @property
    def kafka_bootstrap(self) -> str:
        return self.jornada_kafka_bootstrap or f"{LOOPBACK}:{self.kafka_port}"

    @property
    def connect_url(self) -> str:
        return (self.jornada_connect_url or f"http://{LOOPBACK}:{self.connect_port}").rstrip("/")

    @property
    def airflow_url(self) -> str:
        return (self.jornada_airflow_url or f"http://{LOOPBACK}:{self.airflow_port}").rstrip("/")

    @property
    def s3_endpoint(self) -> str:
        """The S3 API's URL: http://127.0.0.1:<S3_PORT> natively (compose overrides it)."""
        return (self.jornada_s3_endpoint or f"http://{LOOPBACK}:{self.s3_port}").rstrip("/")

    @property
    def spark_master_url(self) -> str:
        """The optional standalone cluster's master (`jornada stack up spark`)."""
        return self.jornada_spark_master_url or f"spark://{LOOPBACK}:{self.spark_master_port}"

    @property
    def in_compose(self) -> bool:
        return self.runtime == "compose" or bool(self.jornada_connect_url or self.jornada_kafka_bootstrap)

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed (tests run isolated stacks on other ports)."""
        return self.model_copy(update=changes)

    def public_environment(self) -> dict[str, str]:
        """Every non-secret setting as environment variables (handed to Airflow's processes)."""
        out = {}
        for name, value in self:
            if value is None or isinstance(value, SecretStr):
                continue
            out[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


@lru_cache(maxsize=1)
def settings() -> Settings:
    if not (ENV_FILE.exists() or ENV_EXAMPLE.exists()):
        raise ConfigError(f"neither {ENV_FILE} nor {ENV_EXAMPLE} exists — run from a course clone")
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            (e["msg"].removeprefix("Value error, ") if e["type"] == "value_error"
             else f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}")
            for e in exc.errors())
        raise ConfigError(f"{problems} (see .env.example)") from None


def reload() -> Settings:
    settings.cache_clear()
    return settings()
