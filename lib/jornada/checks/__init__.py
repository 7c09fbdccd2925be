"""Auto-checks for the exercises: each raises TaskFailed with a message that teaches.

A check never just says "wrong": it says what was expected, what came back and the most likely
mistake ("did you filter on op = 'd'?"). One module per lesson: lesson01, lesson02, …

Imported inside an IPython kernel, this package registers a custom exception handler
(:func:`install_ipython_handler`) so that a check cell shows ONE short message instead of a
traceback into lib/jornada:

- ``TaskFailed`` → ``✘ not yet: <the hint>``;
- a stopped stack (``ServiceUnavailable`` from :mod:`jornada.db`, ``KafkaUnavailable``,
  ``cdc.CdcError``) → ``the stack is down — run `make up``` plus the service's line;
- the ``NotImplementedError`` of an untouched blank → ``to do: …``.

The exception still counts as the cell's error (``jornada check`` and "Run all" see it).
"""

from __future__ import annotations

STACK_DOWN = "the stack is down — run `make up` (then `make status`)"
TODO = "to do: replace the `raise NotImplementedError(...)` line in the code cell above with your code"
BLANK_MARKER = "your turn"  # the message of the blank jornada.exercises writes


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


# ---- how a failure reads ----------------------------------------------------------------------
def stack_down_names() -> set[str]:
    """Class names of every 'a service cannot be reached' error (ServiceUnavailable's family)."""
    from ..db import ServiceUnavailable
    from .. import cdc, kafka  # noqa: F401 - import so their subclasses exist

    names, todo = set(), [ServiceUnavailable]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def service_line(message: str) -> str:
    """The first line of a ServiceUnavailable message: which service, where, what to do."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    return lines[0] if lines else ""


def short_message(exc: BaseException) -> str | None:
    """The one-line report of an exception the course knows, or None (show a normal traceback)."""
    from ..db import ServiceUnavailable

    if isinstance(exc, TaskFailed):
        return f"✘ not yet: {exc}"
    if isinstance(exc, ServiceUnavailable):
        return f"{STACK_DOWN}\n  {service_line(str(exc))}"
    if isinstance(exc, NotImplementedError) and str(exc).startswith(BLANK_MARKER):
        return TODO
    return None


def _handler(shell, etype, value, tb, tb_offset=None):
    text = short_message(value)
    if text is None:  # e.g. the learner's own NotImplementedError: the usual traceback
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    else:
        color = "\x1b[1;31m" if not isinstance(value, NotImplementedError) else "\x1b[1;33m"
        stb = [f"{color}{text}\x1b[0m"]
    # run_code discards what CustomTB returns: show it here, like showtraceback() would
    shell._showtraceback(etype, value, stb)  # noqa: SLF001 - IPython's documented hook point
    return stb


def install_ipython_handler(shell=None) -> bool:
    """Register the short-message handler in the running IPython shell. True when installed."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    from ..db import ServiceUnavailable

    shell.set_custom_exc((TaskFailed, ServiceUnavailable, NotImplementedError), _handler)
    return True



# ---- "your turn" cells inside the lessons -----------------------------------------------------
class _Blank:
    """The blank of a lesson's "your turn" cell: ``answer = ___  # your turn``.

    It is a value, not a syntax error, so a lesson with its blanks left runs headless (papermill,
    CI, nbval) and the check cell after it answers "not yet" instead of raising.
    """

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "___"

    def __bool__(self) -> bool:
        return False


___ = _Blank()


def _same(value, expected) -> bool:
    import math
    import numbers
    from decimal import Decimal

    if callable(expected):
        try:
            return bool(expected(value))
        except Exception:  # noqa: BLE001 - an answer of the wrong kind is just not right yet
            return False
    real = (numbers.Real, Decimal)  # numpy's numbers too
    if isinstance(value, real) and isinstance(expected, real) \
            and not isinstance(value, bool) and not isinstance(expected, bool):
        return math.isclose(float(value), float(expected), rel_tol=1e-6, abs_tol=1e-9)
    try:
        return bool(value == expected)
    except Exception:  # noqa: BLE001 - e.g. a DataFrame compared with a number
        return False


# name → "passed" | "todo" | "failed", for every your_turn() checked in this kernel
YOUR_TURN: dict[str, str] = {}


def your_turn(name: str, value, expected, hint: str = "") -> None:
    """Check a lesson's "your turn" answer and print ONE line that teaches (never a traceback).

    ``expected`` is the right value (numbers match to 6 significant digits) or a predicate
    ``lambda value: ...``. A blank left as ``___`` is "not yet", not an error: lessons run
    headless with their blanks untouched. The verdict is kept in :data:`YOUR_TURN`.
    """
    plain = value.item() if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () else value
    shown = repr(plain) if len(repr(plain)) <= 60 else repr(plain)[:57] + "..."
    if value is ___:
        status, line = "todo", f"✎ {name}: your turn — replace ___ in the cell above"
    elif _same(value, expected):
        status, line = "passed", f"✔ {name}: {shown} — right"
    else:
        status, line = "failed", f"✘ {name}: {shown} is not it yet"
    if hint and status != "passed":
        line += f" (hint: {hint})"
    YOUR_TURN[name] = status
    print(line)


install_ipython_handler()
