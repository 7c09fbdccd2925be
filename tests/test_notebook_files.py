"""Rules every committed notebook obeys, read from the files (nothing is executed)."""

from __future__ import annotations


import nbformat
import pytest

from jornada import course, exercises

pytestmark = pytest.mark.unit

LESSONS = course.lesson_paths()
SOLUTIONS = course.lesson_paths(course.SOLUTIONS)
EXERCISES = course.lesson_paths(exercises.EXERCISES)


CHECKED_LESSONS = [p for p in LESSONS if "01" <= p.name[:2] <= "07"]  # tests/test_nbval.py
MAX_CHECKED_OUTPUT_CHARS = 2_000   # a few lines of facts, not a table


def _ids(paths):
    return [p.stem for p in paths]

def test_lessons_are_numbered_without_gaps_and_every_exercise_has_its_solution():
    numbers = sorted(int(p.name[:2]) for p in LESSONS)
    assert numbers == list(range(len(numbers))), f"lesson numbers have a gap: {numbers}"
    assert len(numbers) >= 6, "lessons 00-05 at least"
    assert {p.name for p in EXERCISES} == {p.name for p in SOLUTIONS}


@pytest.mark.parametrize("path", LESSONS + SOLUTIONS + EXERCISES, ids=_ids(LESSONS + SOLUTIONS + EXERCISES))
def test_notebook_is_committed_clean_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    with_outputs = [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")]
    unmarked = [c.get("id") for c in with_outputs if not course.output_is_checked(c)]
    assert not unmarked, f"{path.name}: strip outputs before committing (cells {unmarked}); only a " \
                         f"`{course.CHECK_OUTPUT_MARKER}` cell of a lesson keeps its output"
    if path.parent != course.NOTEBOOKS:
        assert not with_outputs, f"{path.name}: solutions and exercises are committed without outputs"
    counted = [c.get("id") for c in nb.cells if c.cell_type == "code" and c.get("execution_count") is not None
               and not course.output_is_checked(c)]
    assert not counted, f"{path.name}: no execution counts in committed notebooks (cells {counted})"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters' (papermill)"
    assert "seed" in tagged[0].source, f"{path.name}: the parameters cell must set a seed"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return "".join(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_checked_outputs_are_a_few_lines_of_text(path):
    nb = nbformat.read(path, as_version=4)
    for cell in (c for c in nb.cells if course.output_is_checked(c)):
        where = f"{path.name} cell {cell.get('id')}"
        assert cell.get("outputs"), f"{where}: a `{course.CHECK_OUTPUT_MARKER}` cell keeps the output " \
                                    "nbval compares with (`jornada course keep-outputs`)"
        assert cell.get("execution_count") == course.CHECKED_EXECUTION_COUNT, \
            f"{where}: nbval compares only cells committed as run (`jornada course keep-outputs` sets the count)"
        for out in cell.outputs:
            kind = out.get("output_type")
            assert kind in ("stream", "execute_result"), f"{where}: {kind} output (errors and displays are not facts)"
            if kind == "stream":
                assert out.get("name") == "stdout", f"{where}: stderr in a checked output (a warning?)"
            else:
                assert set(out.get("data", {})) == {"text/plain"}, \
                    f"{where}: text only, no {sorted(set(out.get('data', {})) - {'text/plain'})} (print the facts)"
        size = sum(len(_output_text(o)) for o in cell.outputs)
        assert size <= MAX_CHECKED_OUTPUT_CHARS, f"{where}: {size} characters of output; keep it to the facts"


@pytest.mark.parametrize("path", CHECKED_LESSONS, ids=_ids(CHECKED_LESSONS))
def test_lesson_has_key_outputs_checked_by_nbval(path):
    nb = nbformat.read(path, as_version=4)
    checked = [c for c in nb.cells if course.output_is_checked(c)]
    assert checked, f"{path.name}: mark the cells printing the lesson's facts `{course.CHECK_OUTPUT_MARKER}`"


def _your_turn_pairs(nb) -> list[tuple]:
    """(blank cell, check cell) pairs: a cell that sets `answer = ___`, then one calling your_turn()."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return [(c, nxt) for c, nxt in zip(code, code[1:])
            if any(line.startswith("answer = ___") for line in c.source.splitlines())]


@pytest.mark.parametrize("path", CHECKED_LESSONS, ids=_ids(CHECKED_LESSONS))
def test_lesson_has_your_turn_cells_that_run_with_their_blanks(path):
    pairs = _your_turn_pairs(nbformat.read(path, as_version=4))
    assert len(pairs) >= 2, f"{path.name}: at least two 'your turn' cells (`answer = ___`, then a check)"
    for blank, check in pairs:
        assert "your_turn(" in check.source, f"{path.name} cell {check.get('id')}: check {blank.get('id')} " \
                                             "with jornada.checks.your_turn (one line, no traceback)"
        assert "raise" not in blank.source + check.source


def test_checked_outputs_are_compared_as_nbval_compares_them(tmp_path):
    """tests/test_nbval.py compares the course run's executed lessons with this function."""
    sanitize = course.REPO_ROOT / "tests" / "nbval_sanitize.cfg"
    nb = nbformat.read(course.NOTEBOOKS / "02_generating_data.ipynb", as_version=4)
    cell = next(c for c in nb.cells if course.output_is_checked(c)
                and any(o.output_type == "stream" for o in c.outputs))
    stream = next(o for o in cell.outputs if o.output_type == "stream")
    lesson, executed = tmp_path / "lesson.ipynb", tmp_path / "executed.ipynb"
    stream.text += "took 1.5s at /tmp/a/b\n"
    nbformat.write(nb, lesson)
    stream.text = stream.text.replace("took 1.5s at /tmp/a/b", "took 12.25 s at /work/x/y")
    nbformat.write(nb, executed)
    assert course.checked_output_differences(executed, lesson, sanitize) == []    # timings, paths
    assert course.checked_output_differences(executed, lesson) != []              # without the sanitizers
    fact = next(ch for ch in stream.text if ch.isdigit())
    stream.text = stream.text.replace(fact, str((int(fact) + 1) % 10), 1)
    nbformat.write(nb, executed)
    [diff] = course.checked_output_differences(executed, lesson, sanitize)
    assert cell.id in diff and "\n-" in diff and "\n+" in diff
    cell.outputs = [o for o in cell.outputs if o is not stream]                    # a fact missing
    nbformat.write(nb, executed)
    assert course.checked_output_differences(executed, lesson, sanitize) != []
