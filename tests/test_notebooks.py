"""Every lesson and solution executes headless with papermill; every exercise fails only at its blanks.

Lesson-specific assertions on recorded results live in tests/test_lessonNN*.py; this file holds the
rules every notebook obeys.
"""

from __future__ import annotations


import nbformat
import pytest

from jornada import course, exercises

pytestmark = pytest.mark.notebooks

LESSONS = course.lesson_paths()
SOLUTIONS = course.lesson_paths(course.SOLUTIONS)
EXERCISES = course.lesson_paths(exercises.EXERCISES)


def _ids(paths):
    return [p.stem for p in paths]



@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_executes(path, course_run):
    """(The solutions execute in tests/test_graders.py, where every task must pass and no other
    cell may raise.)"""
    row = course_run[f"{path.parent.name}/{path.stem}"]
    assert row["status"] == "ok", row.get("error")
    executed = nbformat.read(row["output"], as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors



@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_fails_only_at_its_blanks(path, stack_up):
    executed = exercises.run_notebook(path)
    errors = [o["ename"] for c in executed.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors, f"{path.name}: an untouched exercise must not pass"
    assert set(errors) == {"NotImplementedError"}, f"{path.name}: unexpected errors {errors}"
    results = exercises.task_results(executed)
    assert len(results) >= 3 and all(r["status"] == "todo" for r in results), results


@pytest.mark.parametrize("path", LESSONS + SOLUTIONS, ids=_ids(LESSONS + SOLUTIONS))
def test_recording_cells_are_out_of_the_learners_way(path):
    """record(...) only in hidden cells (tagged remove-input, source collapsed), one per section."""
    nb = nbformat.read(path, as_version=4)
    section, seen = 0, set()
    for cell in nb.cells:
        if cell.cell_type == "markdown" and any(line.startswith("## ") for line in cell.source.splitlines()):
            section += 1
        if cell.cell_type != "code" or "record(" not in cell.source:
            continue
        calls = [line for line in cell.source.splitlines() if line.startswith("record(")]
        assert len(calls) == 1 and cell.source.count("record(") == 1, f"{path.name}: one call per cell\n{cell.source}"
        assert "remove-input" in cell.metadata.get("tags", []), f"{path.name}: tag the record cell remove-input"
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, path.name
        assert section not in seen, f"{path.name}: one record cell per section"
        seen.add(section)


def test_lesson00_marks_the_lessons_not_written_yet():
    nb = nbformat.read(course.NOTEBOOKS / "00_the_stack.ipynb", as_version=4)
    table = next(c.source for c in nb.cells if "| lesson | you build |" in c.source)
    written = {p.name[:2] for p in LESSONS}
    for row in table.splitlines():
        number = row.split("|")[1].strip() if row.startswith("| 0") else None
        if number:
            assert ("coming" in row) == (number not in written), row


@pytest.mark.parametrize("path", LESSONS + SOLUTIONS, ids=_ids(LESSONS + SOLUTIONS))
def test_live_orders_run_on_a_shop_clock(path):
    """A lesson's stream gets a clock: by the wall clock its ages, baskets and every later draw
    would change from one day to the next (the fact cells would stop matching)."""
    import ast

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "run_stream(" not in cell.source:
            continue
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "run_stream":
                assert "clock" in {k.arg for k in node.keywords}, \
                    f"{path.name}: run_stream without clock= (use generators.shop_clock(now)):\n{cell.source}"
