"""The lessons' key outputs, checked with nbval: each lesson 01-07 is executed again by nbval's own
kernel and every cell marked `# NBVAL_CHECK_OUTPUT` must print what the committed notebook shows.

nbval's lax mode (`--nbval-lax`) compares only the marked cells (every other cell must merely run
without an error); tests/nbval_sanitize.cfg blanks timings, paths, pids and ports on both sides.
The marked cells print the lessons' facts — row counts, fraud rates, reconciliations, lesson 04's
×3.00 over-count — which seed + reference NOW make identical on every run. When a lesson changes
on purpose: `jornada course run --output DIR --no-solutions`, then
`jornada course keep-outputs --output DIR` commits the new facts (and nothing else).

nbval runs a lesson with the defaults of its parameters cell (papermill is not involved): those
defaults are the course's sizes. One subprocess per lesson, in course order (lessons share the
stack's databases), so a failure names its lesson and shows nbval's diff.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jornada import course
from jornada.config import REPO_ROOT

pytestmark = pytest.mark.notebooks

SANITIZE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
CHECKED = [p for p in course.lesson_paths() if "01" <= p.name[:2] <= "07"]
TIMEOUT_S = 900  # per lesson; the slowest takes about two minutes


@pytest.mark.parametrize("path", CHECKED, ids=[p.stem for p in CHECKED])
def test_key_outputs_match_the_committed_ones(path, stack_up, tmp_path):
    env = dict(os.environ)
    # the kernel imports this checkout's library and saves maps under tmp_path; nothing is recorded
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "lib"), env.get("PYTHONPATH")]))
    env[course.OUTPUT_ENV] = str(tmp_path)
    env.pop(course.RECORD_ENV, None)
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE),
           "--nbval-cell-timeout", str(course.DEFAULT_TIMEOUT_S), "-p", "no:cacheprovider",
           "-q", "--no-header", "-x", str(path.relative_to(REPO_ROOT))]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert run.returncode == 0, f"nbval on {path.name} (exit {run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert " passed" in run.stdout and " failed" not in run.stdout, run.stdout[-2000:]
