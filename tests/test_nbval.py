"""The lessons' key outputs: every cell of lessons 01-07 marked `# NBVAL_CHECK_OUTPUT` must print,
in the course run, what the committed notebook shows.

The comparison is nbval's lax mode (`jornada.course.checked_output_differences`, built on nbval's
own helpers), applied to the notebooks the session's course run already executed rather than
executing each lesson a second time; tests/nbval_sanitize.cfg blanks timings, paths, pids and
ports on both sides. The marked cells print the lessons' facts — row counts, fraud rates,
reconciliations, lesson 04's ×3.00 over-count — which seed + reference NOW (and the live shop's
own clock) make identical on every run. When a lesson changes on purpose:
`jornada course run --output DIR --no-solutions`, then `jornada course keep-outputs --output DIR`
commits the new facts (and nothing else). nbval itself still works on a lesson, with the stack up:
`pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/02_generating_data.ipynb`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jornada import course
from jornada.config import REPO_ROOT

pytestmark = pytest.mark.notebooks

SANITIZE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
CHECKED = [p for p in course.lesson_paths() if "01" <= p.name[:2] <= "07"]


@pytest.mark.parametrize("path", CHECKED, ids=[p.stem for p in CHECKED])
def test_key_outputs_match_the_committed_ones(path, course_run):
    row = course_run[f"{path.parent.name}/{path.stem}"]
    assert row["status"] == "ok", row.get("error")
    diffs = course.checked_output_differences(Path(row["output"]), path, SANITIZE)
    assert not diffs, ("\n\n".join(diffs) + "\n\nA lesson changed on purpose? `jornada course run --output DIR "
                       "--no-solutions`, then `jornada course keep-outputs --output DIR`.")
