"""Exercises are generated from solutions, stay in sync, and fail only at their blanks."""

from __future__ import annotations

import nbformat
import pytest

from jornada import exercises

pytestmark = pytest.mark.unit


def _nb(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_markers_become_a_blank_at_the_same_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION\n\nprint(f)"
    out = exercises.strip_solution(src)
    assert "return x * 2" not in out
    assert '    raise NotImplementedError(' in out
    assert out.endswith("print(f)")
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


@pytest.mark.parametrize("bad", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
])
def test_broken_markers_are_rejected(bad):
    with pytest.raises(exercises.ExerciseError):
        exercises.strip_solution(bad)


def test_a_solution_without_blanks_is_rejected():
    with pytest.raises(exercises.ExerciseError, match="nothing to do"):
        exercises.exercise_from_solution(_nb("x = 1"))


def test_outputs_are_stripped():
    nb = _nb("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="secret answer")]
    ex = exercises.exercise_from_solution(nb)
    assert ex.cells[0].outputs == [] and "x = 1" not in ex.cells[0].source


def test_every_lesson_with_exercises_has_a_solution_and_they_are_in_sync():
    solutions = {p.name for p in exercises.solution_paths()}
    assert solutions, "solutions/ has no notebooks"
    on_disk = {p.name for p in exercises.EXERCISES.glob("[0-9][0-9]_*.ipynb")}
    assert on_disk == solutions, "exercises/ and solutions/ must hold the same lessons"
    assert exercises.generate(check_only=True) == [], \
        "exercises/ is out of date: run `make exercises` (never edit exercises by hand)"


def test_grading_reads_pass_todo_fail_and_error():
    def cell(src, outputs):
        c = nbformat.v4.new_code_cell(src, metadata={"tags": ["check"]})
        c.outputs = outputs
        return c

    err = lambda name, value: nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])  # noqa: E731
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell("lesson01.task_1(f)", []),
                cell("lesson01.task_2(g)", [err("NotImplementedError", "")]),
                cell("lesson01.task_3(h)", [err("TaskFailed", "did you filter on op = 'd'?")]),
                cell("lesson01.task_4(k)", [err("KeyError", "'x'")])]
    got = [(r["task"], r["status"]) for r in exercises.task_results(nb)]
    assert got == [("task_1", "passed"), ("task_2", "todo"), ("task_3", "failed"), ("task_4", "error")]
    assert "op = 'd'" in exercises.task_results(nb)[2]["hint"]


def test_unknown_lesson_is_a_clear_error():
    with pytest.raises(ValueError, match="lesson must be two digits"):
        exercises.find_notebook("1")
    with pytest.raises(ValueError, match="no exercise notebook for lesson 99"):
        exercises.find_notebook("99")
