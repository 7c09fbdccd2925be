"""Rules every committed notebook obeys, read from the files (nothing is executed)."""

from __future__ import annotations


import nbformat
import pytest

from jornada import course, exercises

pytestmark = pytest.mark.unit

LESSONS = course.lesson_paths()
SOLUTIONS = course.lesson_paths(course.SOLUTIONS)
EXERCISES = course.lesson_paths(exercises.EXERCISES)


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
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{path.name}: strip outputs before committing"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters' (papermill)"
    assert "seed" in tagged[0].source, f"{path.name}: the parameters cell must set a seed"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
