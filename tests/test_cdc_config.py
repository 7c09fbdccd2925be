"""The course connector as declared (stack/register-liga-oltp.json) and filled from settings: no service."""

from __future__ import annotations

import json

import pytest

from jornada import cdc
from jornada.config import settings

pytestmark = pytest.mark.unit

def test_topic_names():
    assert cdc.topic_for("pedidos") == "liga.public.pedidos"
    assert cdc.topic_for("pessoas", schema="public") == "liga.public.pessoas"


def test_register_json_has_no_secret_and_placeholders_are_filled():
    path = cdc.register_files()[cdc.CONNECTOR]
    text = path.read_text()
    s = settings()
    password = s.debezium_password.get_secret_value()
    assert password not in text, "the password must never be in the JSON"
    config = cdc.connector_config()
    # only Connect's own config provider resolves the secret, inside the worker
    assert config["database.password"] == "${env:DEBEZIUM_PASSWORD}"
    assert password not in json.dumps(config), "the secret must never enter the connector config"
    assert not any("${" in v for k, v in config.items() if k != "database.password"), config
    assert config["database.user"] == s.debezium_user
    assert config["database.dbname"] == s.oltp.dbname


def test_connector_settings_are_the_documented_ones():
    c = cdc.connector_template()
    assert c["plugin.name"] == "pgoutput"
    assert c["publication.autocreate.mode"] == "disabled"
    assert c["key.converter.schemas.enable"] == c["value.converter.schemas.enable"] == "false"
    assert c["decimal.handling.mode"] in ("string", "double")
    assert c["tombstones.on.delete"] == "true"
    assert int(c["heartbeat.interval.ms"]) > 0 and "cdc_heartbeat" in c["heartbeat.action.query"]
    # the original six tables are all captured, plus the two our model added
    from jornada.schema import OLTP_TABLES, ORIGINAL_TABLES

    assert set(ORIGINAL_TABLES) <= set(cdc.captured_tables())
    assert set(OLTP_TABLES) <= set(cdc.captured_tables())
    assert set(cdc.captured_tables()) <= set(cdc.REPLICA_IDENTITY)


def test_unknown_placeholder_is_reported(monkeypatch):
    template = dict(cdc.connector_template(), **{"database.hostname": "${NOPE}"})
    monkeypatch.setattr(cdc.config, "connector_template", lambda name=cdc.CONNECTOR: template)
    with pytest.raises(cdc.CdcError, match="NOPE"):
        cdc.connector_config()
