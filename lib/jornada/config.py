"""One place that knows every endpoint and credential of the course.

Values come, in increasing priority, from `.env.example` (documented defaults), `.env` (this
machine's secrets, created by `make`/`jornada env`) and the process environment (compose sets them
there). Notebooks, generators, DAGs and tests all call :func:`settings` so the same code runs in
the native runtime and in docker compose.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dotenv import dotenv_values

REPO_ROOT = Path(os.environ.get("JORNADA_HOME", Path(__file__).resolve().parents[2]))
ENV_EXAMPLE = REPO_ROOT / ".env.example"
ENV_FILE = REPO_ROOT / ".env"
GENERATE_MARKER = "generate"


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


def _raw_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for source in (ENV_EXAMPLE, ENV_FILE):
        if source.exists():
            values.update({k: v for k, v in dotenv_values(source).items() if v is not None})
    values.update({k: v for k, v in os.environ.items() if k in values or k.startswith("JORNADA_")})
    return values


@dataclass(frozen=True)
class PostgresEndpoint:
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


@dataclass(frozen=True)
class Settings:
    oltp: PostgresEndpoint
    olap: PostgresEndpoint
    pg_superuser: str
    pg_superuser_password: str
    stack_dir: Path
    jupyter_port: int
    # "native" (local processes started by `jornada stack`) or "compose" (docker compose runs them)
    runtime: str
    raw: dict

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.raw.get(key, default)


def _endpoint(values: dict[str, str], prefix: str, name: str) -> PostgresEndpoint:
    password = values.get(f"{prefix}_PASSWORD", "")
    if password in ("", GENERATE_MARKER):
        raise ConfigError(
            f"{prefix}_PASSWORD is not set — run `make env` (or `jornada env`) to create .env "
            "with generated secrets"
        )
    try:
        port = int(values[f"{prefix}_PORT"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{prefix}_PORT must be a number in .env (see .env.example)") from exc
    return PostgresEndpoint(
        name=name, host=values.get(f"{prefix}_HOST", "127.0.0.1"), port=port,
        dbname=values[f"{prefix}_DB"], user=values[f"{prefix}_USER"], password=password,
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    values = _raw_values()
    if not values:
        raise ConfigError(f"neither {ENV_FILE} nor {ENV_EXAMPLE} exists — run from a course clone")
    stack_dir = Path(values.get("JORNADA_STACK_DIR", ".stack"))
    if not stack_dir.is_absolute():
        stack_dir = REPO_ROOT / stack_dir
    return Settings(
        oltp=_endpoint(values, "OLTP", "OLTP Postgres"),
        olap=_endpoint(values, "OLAP", "OLAP Postgres"),
        pg_superuser=values.get("PG_SUPERUSER", "postgres"),
        pg_superuser_password=values.get("PG_SUPERUSER_PASSWORD", ""),
        stack_dir=stack_dir,
        jupyter_port=int(values.get("JUPYTER_PORT", "8888")),
        runtime=values.get("JORNADA_RUNTIME", "native"),
        raw=values,
    )


def reload() -> Settings:
    settings.cache_clear()
    return settings()
