"""The `jornada` command line: wiring and clear errors (no services needed)."""

from __future__ import annotations

import pytest

from typer.testing import CliRunner

from jornada.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()


def test_warehouse_commands_are_reachable_from_jornada():
    listed = runner.invoke(app, ["warehouse", "--help"])
    assert listed.exit_code == 0
    for command in ("snapshot", "cdc", "load", "check", "reset", "dbt"):
        assert command in listed.output
    wrong = runner.invoke(app, ["warehouse", "bogus"])
    assert wrong.exit_code == 2


def test_bad_generator_parameters_fail_before_any_database_work():
    result = runner.invoke(app, ["generate", "history", "--orders", "-5"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["generate", "history", "--profile", "huge"])
    assert result.exit_code == 2


def test_stream_needs_a_bound():
    result = runner.invoke(app, ["generate", "stream"])
    assert result.exit_code == 2


def test_every_entry_point_is_a_jornada_command():
    listed = runner.invoke(app, ["--help"])
    for command in ("stack", "db", "generate", "cdc", "warehouse", "course", "exercises", "bench", "check"):
        assert command in listed.output, f"`jornada {command}` missing"


def test_a_negative_seed_names_the_option():
    result = runner.invoke(app, ["generate", "history", "--orders", "10", "--seed", "-1"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "Invalid value for '--seed'" in result.output and "greater than or equal to 0" in result.output
