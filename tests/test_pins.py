"""One place of versions: stack/versions.env, the poms' properties and the compose images agree
(static: no Maven, no service)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jornada import versions
from jornada.stack import kafka as kafka_stack

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _pom_property(pom: Path, name: str) -> str:
    return ET.parse(pom).getroot().find(f"m:properties/m:{name}", NS).text.strip()


def _compose_default(var: str) -> str:
    """The `${VAR:-default}` default compose repeats (test_compose checks it equals the pin)."""
    text = (ROOT / "stack" / "docker-compose.yml").read_text()
    defaults = set(re.findall(r"\$\{" + var + r":-([^}]*)\}", text))
    assert len(defaults) == 1, f"{var}: compose uses {defaults or 'no default'}"
    return defaults.pop()

def test_versions_env_names_kafka_and_debezium():
    pins = versions.all_versions()
    assert re.fullmatch(r"4\.\d+\.\d+", pins["KAFKA_VERSION"]), "Kafka 4.x (KRaft only)"
    assert re.fullmatch(r"3\.\d+\.\d+\.Final", pins["DEBEZIUM_VERSION"])
    assert versions.kafka_version() == pins["KAFKA_VERSION"]
    assert versions.image_tag("apache/kafka:4.3.1@sha256:" + "a" * 64) == "4.3.1"
    assert versions.major_minor("3.6.1.Final") == (3, 6)


def test_poms_take_the_versions_as_properties_with_defaults_equal_to_the_pins():
    assert _pom_property(kafka_stack.KAFKA_POM, "kafka.version") == versions.kafka_version()
    assert _pom_property(kafka_stack.DEBEZIUM_POM, "debezium.version") == versions.debezium_version()
    text = kafka_stack.KAFKA_POM.read_text()
    for artifact in ("kafka_2.13", "connect-runtime", "connect-json"):
        assert f"<artifactId>{artifact}</artifactId>" in text
        block = text.split(f"<artifactId>{artifact}</artifactId>")[1].split("</dependency>")[0]
        assert "${kafka.version}" in block, f"{artifact} must use the kafka.version property"


def test_compose_images_are_derived_from_the_same_pins():
    assert _compose_default("KAFKA_VERSION") == versions.kafka_version()
    assert _compose_default("DEBEZIUM_VERSION") == versions.debezium_version()
    text = (ROOT / "stack" / "docker-compose.yml").read_text()
    assert "image: apache/kafka:${KAFKA_VERSION:-" in text
    assert "image: quay.io/debezium/connect:${DEBEZIUM_VERSION:-" in text
