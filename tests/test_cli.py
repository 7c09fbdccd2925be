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


def test_every_learner_command_is_a_jornada_command():
    listed = runner.invoke(app, ["--help"])
    for command in ("start", "check", "lab"):
        assert command in listed.output, f"`jornada {command}` missing"
    assert "--json" in runner.invoke(app, ["check", "--help"], env={"COLUMNS": "200"}).output


def test_start_keeps_the_learners_copy_and_check_needs_one(tmp_path, monkeypatch):
    from jornada import exercises

    monkeypatch.setattr(exercises, "WORKSPACE", tmp_path)
    env = {"COLUMNS": "300"}
    missing = runner.invoke(app, ["check", "01"], env=env)
    assert missing.exit_code == 2 and "run `jornada start 01` first" in missing.output
    assert runner.invoke(app, ["start", "01"], env=env).exit_code == 0
    copy = next(tmp_path.glob("01_*.ipynb"))
    copy.write_text(copy.read_text().replace("raise NotImplementedError", "return 42  # mine", 1))
    mine = copy.read_text()
    again = runner.invoke(app, ["start", "01"], env=env)
    assert again.exit_code == 0 and "already exists — kept" in again.output and copy.read_text() == mine
    forced = runner.invoke(app, ["start", "01", "--force"], env=env)
    assert forced.exit_code == 0 and "previous one is in" in forced.output
    assert [p.read_text() for p in (tmp_path / ".backup").glob("01_*.ipynb")] == [mine]
    everything = runner.invoke(app, ["start", "--all"], env=env)
    assert everything.exit_code == 0 and len(list(tmp_path.glob("0*.ipynb"))) == len(exercises.lessons())
    assert runner.invoke(app, ["start"]).exit_code == 2
    assert runner.invoke(app, ["start", "01", "--all"]).exit_code == 2


def test_lab_passes_allow_root_only_as_root():
    import os

    shown = runner.invoke(app, ["lab", "--dry-run", "--port", "28888"])
    assert shown.exit_code == 0
    command, *env = shown.output.splitlines()
    assert ("--allow-root" in command) == (os.geteuid() == 0)
    assert "--port 28888" in command and "--ip 127.0.0.1" in command
    assert any(line.startswith("JUPYTER_CONFIG_PATH=") and "stack/jupyter" in line for line in env)
