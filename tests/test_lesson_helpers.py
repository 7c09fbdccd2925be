"""The helpers lessons use in their cells: `your_turn` (one line that teaches) and the cells whose
outputs nbval checks (no services: plain functions on small notebooks)."""

from __future__ import annotations

from decimal import Decimal

import nbformat
import numpy as np
import pytest

from jornada import course
from jornada.checks import YOUR_TURN, ___, your_turn

pytestmark = pytest.mark.unit


def test_a_blank_left_is_not_yet_never_an_error(capsys):
    your_turn("orders", ___, expected=3, hint="count them")
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "your turn" in line and "count them" in line
    assert YOUR_TURN["orders"] == "todo"
    assert not ___ and repr(___) == "___"


@pytest.mark.parametrize("value, expected", [
    (3, 3), (np.int64(3), 3), (Decimal("24.90"), 24.9), ("SP", "SP"), (7, lambda v: v > 5),
    (0.1 + 0.2, 0.3),
])
def test_right_answers_pass(capsys, value, expected):
    your_turn("t", value, expected=expected, hint="never shown when right")
    out = capsys.readouterr().out
    assert out.startswith("✔") and "hint" not in out and YOUR_TURN["t"] == "passed"


@pytest.mark.parametrize("value, expected", [
    (4, 3), ("24.90", 24.9), (None, 0), (np.array([1, 2]), 3), ("x", lambda v: v > 5),
])
def test_wrong_answers_give_the_hint_in_one_line(capsys, value, expected):
    your_turn("t", value, expected=expected, hint="try again")
    out = capsys.readouterr().out
    assert out.startswith("✘") and "(hint: try again)" in out and out.count("\n") == 1
    assert YOUR_TURN["t"] == "failed"


def _nb(tmp_path, name, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / name
    path.write_text(nbformat.writes(nb) + "\n")
    return path


def test_marked_cells_follow_nbvals_rule():
    code = nbformat.v4.new_code_cell
    assert course.output_is_checked(code("# NBVAL_CHECK_OUTPUT\nprint(1)"))
    assert course.output_is_checked(code("x = 1\n  #  NBVAL_CHECK_OUTPUT  "))
    assert not course.output_is_checked(code("# NBVAL_CHECK_OUTPUT: the facts\nprint(1)"))  # nbval ignores it
    assert not course.output_is_checked(code("print('# NBVAL_CHECK_OUTPUT')"))
    assert not course.output_is_checked(nbformat.v4.new_markdown_cell("# NBVAL_CHECK_OUTPUT"))


def test_keep_checked_outputs_copies_only_the_marked_cells(tmp_path):
    code = nbformat.v4.new_code_cell
    stream = nbformat.v4.new_output("stream", name="stdout", text="2,000 orders\n")
    lesson = _nb(tmp_path, "lesson.ipynb", [code("x = 1"), code("# NBVAL_CHECK_OUTPUT\nprint(x)")])
    nb = nbformat.read(lesson, as_version=4)
    ran = nbformat.from_dict(nb)
    for i, cell in enumerate(ran.cells):
        cell.execution_count = i + 7
        cell.outputs = [stream]
    executed = tmp_path / "executed.ipynb"
    executed.write_text(nbformat.writes(ran))

    assert course.keep_checked_outputs(executed, lesson) == [nb.cells[1].id]
    kept = nbformat.read(lesson, as_version=4)
    assert kept.cells[0].outputs == [] and kept.cells[0].execution_count is None
    assert kept.cells[1].outputs == [stream]
    assert kept.cells[1].execution_count == course.CHECKED_EXECUTION_COUNT
    assert course.keep_checked_outputs(executed, lesson) == []  # the same run again: nothing changes


def test_layout_sql_only_breaks_lines():
    sql = ("insert into raw.t as r (id, v) select (e.after ->> 'id')::int, (e.after ->> 'v')::text "
           "from _cdc_in e where e.tbl = %(tbl)s and e.op <> 'd' on conflict (id) do update set v = excluded.v "
           "where (r._offset is null or r._offset < excluded._offset) and (r.v) is distinct from (excluded.v)")
    laid = course.layout_sql(sql)
    assert " ".join(laid.split()) == " ".join(sql.split())
    lines = laid.splitlines()
    assert [ln.split()[0] for ln in lines if not ln.startswith(" ")] == \
        ["insert", "select", "from", "where", "on", "do", "where"]
    assert "is distinct from (excluded.v)" in laid and "'d'" in laid
    assert course.layout_sql("delete from raw.t r using x e where a = 'from where'").splitlines() == \
        ["delete from raw.t r", "using x e", "where a = 'from where'"]


def test_code_block_is_a_fenced_markdown_block():
    block = course.code_block("select 1\n", "sql", "warehouse/models/x.sql")
    assert block.data == "`warehouse/models/x.sql`\n\n```sql\nselect 1\n```"


def test_course_runner_screenshots_only_the_maps_a_lesson_saved(tmp_path, monkeypatch):
    """Without Chromium the runner still lists each new map, with the fix instead of a PNG."""
    import os

    from jornada import browser

    monkeypatch.setenv(browser.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    maps_dir = tmp_path / course.MAPS_DIR
    maps_dir.mkdir()
    old, new = maps_dir / "00_old.html", maps_dir / "02_orders_map.html"
    old.write_text("<html></html>")
    new.write_text("<html></html>")
    os.utime(old, (1_000, 1_000))
    rows = course.screenshot_maps(maps_dir, since=2_000)
    assert [r["html"] for r in rows] == [str(new)]
    assert rows[0]["png"] is None and "make system-deps web-assets" in rows[0]["note"]
    assert course.screenshot_maps(tmp_path / "absent") == []
