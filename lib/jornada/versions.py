"""Versions of the course's services, read from stack/versions.env — the ONE place that names them.

Both runtimes read that file: docker compose as an `--env-file` (image tags), the native runtime
through this module (the Maven poms under stack/maven/ get the versions as `-D` properties, and the
jar cache is keyed by them). tests/test_versions.py checks that the jars actually fetched, the
compose images and this file agree.

    >>> from jornada import versions
    >>> versions.get("KAFKA_VERSION")
    '4.3.1'
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .config import REPO_ROOT

VERSIONS_FILE = REPO_ROOT / "stack" / "versions.env"


class VersionsError(RuntimeError):
    """stack/versions.env is missing a key or is malformed; the message names the fix."""


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments, blanks and `export ` skipped, quotes stripped)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


@lru_cache(maxsize=4)
def _read(path: Path) -> dict[str, str]:
    try:
        return parse(path.read_text())
    except OSError as exc:
        raise VersionsError(f"{path} not found — run from a course clone ({exc})") from None


def all_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Every pin of stack/versions.env as a dict (a copy: safe to modify)."""
    return dict(_read(path))


def get(key: str, path: Path = VERSIONS_FILE) -> str:
    values = _read(path)
    if not values.get(key):
        raise VersionsError(f"{key} is not set in {path} — that file is the one place of versions")
    return values[key]


def kafka_version() -> str:
    """Apache Kafka (broker and Connect runtime), e.g. '4.3.1'."""
    return get("KAFKA_VERSION")


def debezium_version() -> str:
    """Debezium (every Debezium artifact and the connect image), e.g. '3.6.1.Final'."""
    return get("DEBEZIUM_VERSION")


def major_minor(version: str) -> tuple[int, int]:
    """(4, 3) for '4.3.1' or '4.3.0'; (3, 6) for '3.6.1.Final'."""
    m = re.match(r"(\d+)\.(\d+)", version)
    if not m:
        raise VersionsError(f"not a version: {version!r}")
    return int(m.group(1)), int(m.group(2))


def image_tag(image: str) -> str:
    """The tag of an image reference: 'apache/kafka:4.3.1@sha256:…' → '4.3.1'."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2]


def clear_cache() -> None:
    _read.cache_clear()
