"""Planted wrong answers, one module per lesson, beside that lesson's checks.

Each ``lessonNN.CASES`` entry is one planted exercise notebook:

- ``name``: what the mistake is (the test's id);
- ``plant``: {function name: code} — in the exercise, the line ``raise NotImplementedError(...)``
  inside ``def <function>(`` is replaced by ``code`` (written at the function body's indentation);
- ``expect``: {check task: [substrings of its hint]} — those tasks must FAIL with every substring
  in their hint; every other task of the notebook must still say "to do".

tests/test_graders.py plants every case, runs ``jornada check NN --notebook <planted> --json`` and
compares. A new classic mistake is a new entry here, not new test code.
"""

from __future__ import annotations

from importlib import import_module

import nbformat

BLANK = "raise NotImplementedError"


def cases(lesson: str) -> list[dict]:
    try:
        return list(import_module(f"{__name__}.lesson{lesson}").CASES)
    except ModuleNotFoundError:
        return []


def plant(nb: nbformat.NotebookNode, function: str, code: str) -> None:
    """Replace the blank of ``def function(`` by ``code`` (in place)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and f"def {function}(" in c.source]
    if len(cells) != 1:
        raise ValueError(f"{len(cells)} code cells define {function}(): expected exactly one")
    lines = cells[0].source.splitlines()
    blanks = [i for i, line in enumerate(lines) if BLANK in line]
    if len(blanks) != 1:
        raise ValueError(f"the cell of {function}() has {len(blanks)} blanks: expected one")
    lines[blanks[0]:blanks[0] + 1] = code.strip("\n").splitlines()
    cells[0].source = "\n".join(lines)
