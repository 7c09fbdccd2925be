"""One place of versions, at run time: the jars Maven fetched and the running services are the
pinned ones, and the Debezium/Kafka pair is one Debezium ships together (same Kafka Connect API
line). The static agreement of pins, poms and compose images is tests/test_pins.py."""

from __future__ import annotations

import re

import pytest

from jornada import versions
from jornada.stack import kafka as kafka_stack

# kafka-python 3.0 still loads its protocol schemas with a deprecated importlib API
pytestmark = [pytest.mark.services, pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]

@pytest.fixture(scope="module")
def jars():
    """The native runtime's jars (fetched with Maven on first use, then cached)."""
    return kafka_stack.ensure_jars(log=lambda *_: None)


def test_native_jars_are_the_pinned_versions(jars):
    kv, dv = versions.kafka_version(), versions.debezium_version()
    assert (jars.kafka_version, jars.debezium_version) == (kv, dv)
    names = sorted(p.name for p in jars.kafka_dir.glob("*.jar"))
    for required in (f"kafka_2.13-{kv}.jar", f"kafka-server-{kv}.jar", f"kafka-clients-{kv}.jar",
                     f"connect-runtime-{kv}.jar", f"connect-json-{kv}.jar", f"connect-api-{kv}.jar"):
        assert required in names, f"{required} missing from {jars.kafka_dir}"
    kafka_jars = [n for n in names if re.match(r"(kafka[-_]|connect-)", n)]
    wrong = [n for n in kafka_jars if not n.endswith(f"-{kv}.jar")]
    assert not wrong, f"Kafka jars of another version in the classpath: {wrong}"
    plugin = sorted(p.name for p in jars.debezium_dir.glob("*.jar"))
    assert f"debezium-connector-postgres-{dv}.jar" in plugin
    wrong = [n for n in plugin if n.startswith("debezium-") and not n.endswith(f"-{dv}.jar")]
    assert not wrong, f"Debezium jars of another version: {wrong}"
    leaked = [n for n in plugin if re.match(r"(kafka[-_]|connect-api|slf4j|jackson-(core|databind|annotations)-)", n)]
    assert not leaked, f"the plugin folder must not carry the worker's own classes: {leaked}"


def test_debezium_is_built_for_this_kafka_connect_line(jars):
    api = jars.manifest["debezium"]["kafka_connect_api"]
    assert api, "the fetch did not record Debezium's Kafka Connect API version"
    assert versions.major_minor(api) == versions.major_minor(versions.kafka_version()), (
        f"Debezium {versions.debezium_version()} is built against Kafka Connect {api}, "
        f"but stack/versions.env runs Kafka {versions.kafka_version()}: choose the pair Debezium "
        "ships together")


def test_running_services_report_the_pinned_versions(stack_up):
    import requests

    url = kafka_stack.connect_url(stack_up.settings)
    assert requests.get(url + "/", timeout=5).json()["version"] == versions.kafka_version()
    plugins = requests.get(url + "/connector-plugins", timeout=5).json()
    postgres = [p for p in plugins if p["class"].endswith("PostgresConnector")]
    assert [p["version"] for p in postgres] == [versions.debezium_version()]
    assert versions.kafka_version() in kafka_stack.kafka_health(stack_up.settings).detail
