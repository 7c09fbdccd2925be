"""Waiting and retrying, through tenacity: one vocabulary for every poll and retry in the course."""

from __future__ import annotations

from typing import TypeVar
from collections.abc import Callable

from tenacity import (Retrying, RetryError, retry_if_exception_type, retry_if_result,
                      stop_after_attempt, stop_after_delay, wait_exponential, wait_fixed)

T = TypeVar("T")


class TimedOut(RuntimeError):
    """A wait ran out of time; ``last`` is the last value the condition returned."""

    def __init__(self, message: str, last=None):
        super().__init__(message)
        self.last = last


def poll_until(fn: Callable[[], T], *, timeout_s: float, interval_s: float = 0.25,
               done: Callable[[T], bool] = bool, what: str = "condition") -> T:
    """Call ``fn`` every ``interval_s`` until ``done(result)``; the result, or :class:`TimedOut`."""
    policy = Retrying(stop=stop_after_delay(timeout_s), wait=wait_fixed(interval_s),
                      retry=retry_if_result(lambda r: not done(r)))
    try:
        return policy(fn)
    except RetryError as exc:
        raise TimedOut(f"{what} not reached after {timeout_s:.0f}s", exc.last_attempt.result()) from None


def retrying(exceptions: type[BaseException] | tuple[type[BaseException], ...], *, attempts: int,
             backoff_s: float = 0.5, max_backoff_s: float = 5.0) -> Retrying:
    """``for attempt in retrying(Deadlock, attempts=4): with attempt: ...`` — the last error re-raised."""
    return Retrying(stop=stop_after_attempt(attempts), reraise=True,
                    wait=wait_exponential(multiplier=backoff_s, max=max_backoff_s),
                    retry=retry_if_exception_type(exceptions))
