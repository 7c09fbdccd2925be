"""Settings, .env generation and errors that name the fix: no service is started."""

from __future__ import annotations

import socket
import time

import pytest

from jornada import config
from jornada.db import ServiceUnavailable, connect
from jornada.services import stack
from jornada.stack import StackError

pytestmark = pytest.mark.unit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def test_env_file_is_generated_with_secrets_and_never_overwritten(tmp_path):
    target = tmp_path / ".env"
    assert config.ensure_env_file(target) is True
    text = target.read_text()
    assert "=generate" not in text, "every 'generate' placeholder must become a secret"
    assert (target.stat().st_mode & 0o777) == 0o600, ".env holds secrets: owner-only"
    assert config.ensure_env_file(target) is False
    assert target.read_text() == text


def test_unknown_service_is_named():
    with pytest.raises(StackError, match="unknown service"):
        stack().up(["kafka-typo"], log=lambda *_: None)


def test_missing_server_fails_fast_with_the_fix():
    ep = config.settings().oltp.model_copy(update={"port": _free_port()})
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"OLTP Postgres not reachable at 127\.0\.0\.1:\d+ — .*make up"):
        connect(ep)
    assert time.monotonic() - started < 5


def test_env_file_gains_keys_added_to_the_example_later(tmp_path):
    example = tmp_path / "example"
    example.write_text("# comment\nA=1\nSECRET=generate\n")
    target = tmp_path / ".env"
    config.ensure_env_file(target, example)
    before = target.read_text()
    example.write_text(example.read_text() + "NEW_SECRET=generate\nNEW_PLAIN=x\n")
    assert config.ensure_env_file(target, example) is True
    after = target.read_text()
    assert after.startswith(before), "existing values must never change"
    values = dict(line.split("=", 1) for line in after.splitlines() if "=" in line and not line.startswith("#"))
    assert values["NEW_PLAIN"] == "x" and values["NEW_SECRET"] not in ("", "generate")
    assert config.ensure_env_file(target, example) is False
