"""What the lesson tests share: running the learner's grader the way a learner does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_check(lesson: str, notebook: Path) -> subprocess.CompletedProcess:
    """`jornada check <lesson> --notebook <notebook>`, output captured."""
    exe = Path(sys.executable).with_name("jornada")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "jornada.cli"]
    env = {**os.environ, "COLUMNS": "400"}  # one table row per task: hints are not wrapped
    return subprocess.run(cmd + ["check", lesson, "--notebook", str(notebook)], capture_output=True,
                          text=True, env=env, timeout=600)
