"""The `jornada` command line: wiring and clear errors (no services needed)."""

from __future__ import annotations

from typer.testing import CliRunner

from jornada.cli import app

runner = CliRunner()


def test_warehouse_commands_are_reachable_from_jornada():
    listed = runner.invoke(app, ["warehouse"])
    assert listed.exit_code == 0 and "snapshot" in listed.output and "dbt ARGS" in listed.output
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
