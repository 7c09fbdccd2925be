"""The course's connectors as declared in stack/register-*.json, their topics and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..config import REPO_ROOT, Settings, settings as load_settings
from ..db import ServiceUnavailable

STACK_DIR = REPO_ROOT / "stack"
CONNECTOR = "liga-oltp"


class CdcError(ServiceUnavailable):
    """CDC is not working; the message names the service and the fix."""


class ConnectorFailed(CdcError):
    """The connector or its task is FAILED; the message has the first line of the trace."""


# ---- configuration ---------------------------------------------------------------------------
def register_files() -> dict[str, Path]:
    """Every connector of the course: name → stack/register-<name>.json."""
    files = {}
    for path in sorted(STACK_DIR.glob("register-*.json")):
        files[json.loads(path.read_text())["name"]] = path
    return files


def connector_template(name: str = CONNECTOR) -> dict:
    """The connector's config exactly as in its register JSON (placeholders unfilled)."""
    files = register_files()
    if name not in files:
        raise CdcError(f"no stack/register-*.json defines a connector named {name!r} "
                       f"(known: {', '.join(files) or 'none'})")
    return json.loads(files[name].read_text())["config"]


_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def placeholder_values(s: Settings | None = None) -> dict[str, str]:
    """What the register JSON's ``${...}`` placeholders become, from settings (.env).

    The database address is the one *Kafka Connect* uses: natively the OLTP endpoint itself; in
    docker compose the service name (`oltp:5432`), set through JORNADA_CDC_DB_HOST/_PORT. The
    password is not among them: the JSON says ``${env:DEBEZIUM_PASSWORD}``, which only the
    Connect worker resolves (its EnvVarConfigProvider), so the secret never enters the
    connector's config, Connect's REST answers or its config topic.
    """
    s = s or load_settings()
    return {
        "CDC_DB_HOST": s.jornada_cdc_db_host or s.oltp.host,
        "CDC_DB_PORT": str(s.jornada_cdc_db_port or s.oltp.port),
        "OLTP_DB": s.oltp.dbname,
        "DEBEZIUM_USER": s.debezium_user,
    }


def debezium_password(s: Settings | None = None) -> str:
    return (s or load_settings()).debezium_password.get_secret_value()


def connector_config(name: str = CONNECTOR, s: Settings | None = None) -> dict[str, str]:
    """The config to send to Kafka Connect: the template with every placeholder filled."""
    values = placeholder_values(s)
    config = {}
    for key, value in connector_template(name).items():
        def fill(m: re.Match, key: str = key) -> str:
            if m.group(1) not in values:
                raise CdcError(f"stack/register-{name}.json: unknown placeholder ${{{m.group(1)}}} "
                               f"in {key} (known: {', '.join(values)})")
            return values[m.group(1)]
        config[key] = _PLACEHOLDER.sub(fill, str(value))
    return config


def captured_tables(name: str = CONNECTOR, schema: str = "public") -> list[str]:
    """Tables of the connector's table.include.list, without the schema (the one list)."""
    tables = []
    for entry in connector_template(name).get("table.include.list", "").split(","):
        entry = entry.strip()
        if entry:
            sch, _, table = entry.rpartition(".")
            if (sch or schema) == schema:
                tables.append(table)
    return tables


def topic_prefix(name: str = CONNECTOR) -> str:
    return connector_template(name)["topic.prefix"]


def topic_for(table: str, schema: str = "public", name: str = CONNECTOR) -> str:
    """The Kafka topic of a table's changes: ``topic_for("pedidos")`` → ``"liga.public.pedidos"``."""
    return f"{topic_prefix(name)}.{schema}.{table}"


def message_topic(name: str = CONNECTOR) -> str:
    """The topic of the logical decoding messages the connector captures (its
    ``message.prefix.include.list``): Debezium names it ``<topic.prefix>.message``. Not a table's
    topic: bronze does not ingest it (:func:`jornada.lake.bronze.topics` lists tables only)."""
    return f"{topic_prefix(name)}.message"


def heartbeat_topic(name: str = CONNECTOR) -> str:
    return f"__debezium-heartbeat.{topic_prefix(name)}"


# ---- Postgres side ---------------------------------------------------------------------------
