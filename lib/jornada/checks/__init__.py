"""Auto-checks for the exercises: each raises TaskFailed with a message that teaches.

A check never just says "wrong": it says what was expected, what came back and the most likely
mistake ("did you filter on op = 'd'?"). One module per lesson: lesson01, lesson02, …
"""

from __future__ import annotations


class TaskFailed(AssertionError):
    """The learner's answer is not right yet; the message is the hint."""


def expect(condition: bool, hint: str) -> None:
    if not condition:
        raise TaskFailed(hint)


def call(fn, *args, **kwargs):
    """Call the learner's function; a blank left in it surfaces as NotImplementedError."""
    if not callable(fn):
        raise TaskFailed(f"expected a function, got {type(fn).__name__}: keep the `def` line as given")
    return fn(*args, **kwargs)


def passed(task: str, detail: str = "") -> None:
    print(f"✔ {task} passed" + (f" — {detail}" if detail else ""))
