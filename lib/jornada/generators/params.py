"""Sizes, parameter validation and the reference "now"."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from collections.abc import Callable
from datetime import datetime, timedelta, UTC

import numpy as np


# ---------------------------------------------------------------------------------------------
# Ground truth: which frauds happen, and which honest behaviour looks like fraud to the rules
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroundTruth:
    """How the simulated shop's frauds and honest surprises are mixed (issue 10 §1).

    Real confirmed fraud (chargebacks) is not what the two rules of :mod:`jornada.fraud` look
    for, so the generators do not make it so:

    * ``location``, ``device``, ``takeover`` — shares of the frauds (they sum to 1).
      ``localizacao``: from outside SP/MG/RJ on the customer's own device; ``dispositivo``: from
      home on a device that is not the customer's; ``conta_invadida`` (account takeover): from
      home AND on the customer's own device — invisible to both rules — but with an unusual
      basket (expensive products), at night (history) or in a burst of orders (stream).
    * ``travel`` — share of the honest orders placed while travelling: from another state, on the
      habitual device (the location rule's false alarms).
    * ``device_change`` — share of customers who replace their phone after a few orders; the new
      phone then becomes habitual (the device rule's false alarms until it does).
    """
    location: float = 0.40
    device: float = 0.40
    takeover: float = 0.20
    travel: float = 0.006
    device_change: float = 0.04

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not _is_number(v) or not 0.0 <= v <= 1.0:
                raise ValueError(f"GroundTruth.{f.name} must be a share between 0 and 1, got {v!r}")
        if not math.isclose(self.location + self.device + self.takeover, 1.0, abs_tol=1e-9):
            raise ValueError("GroundTruth: the fraud shares location + device + takeover must sum "
                             f"to 1, got {self.location + self.device + self.takeover:g}")


# ---------------------------------------------------------------------------------------------
# Sizes and parameter validation
# ---------------------------------------------------------------------------------------------

SIZE_PROFILES: dict[str, dict] = {
    "tiny": {"customers": 200, "orders": 2_000},
    "course": {"customers": 2_000, "orders": 20_000},
    "full": {"customers": 50_000, "orders": 1_000_000},
}

MAX_COUNT = 20_000_000  # far beyond any lesson; protects the machine from a typo


def resolve_profile(name: str) -> dict:
    """The size preset called ``name`` (a copy), or ValueError listing the valid names."""
    try:
        return dict(SIZE_PROFILES[name])
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {name!r}: choose one of "
                         f"{', '.join(SIZE_PROFILES)}") from None


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def validate(count=None, rate=None, fraud_rate=None, duration=None, max_days=None,
             new_customer_share=None) -> None:
    """Check generator parameters before anything touches the database; ValueError if wrong.

    ``None`` means "not given" and is always accepted.
    """
    if count is not None:
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool):
            raise ValueError(f"count must be a whole number, got {count!r}")
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        if count > MAX_COUNT:
            raise ValueError(f"count {count:,} is too large (at most {MAX_COUNT:,})")
    if rate is not None:
        if not _is_number(rate) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be a positive number of orders per second, got {rate!r}"
                             " (leave it out to go as fast as possible)")
    if fraud_rate is not None:
        if not _is_number(fraud_rate) or not 0.0 <= fraud_rate <= 1.0:
            raise ValueError(f"fraud rate must be a share between 0 and 1 (0.01 = 1%), "
                             f"got {fraud_rate!r}")
    if duration is not None:
        if not _is_number(duration) or not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    if max_days is not None:
        if not isinstance(max_days, (int, np.integer)) or isinstance(max_days, bool):
            raise ValueError(f"max_days must be a whole number of days, got {max_days!r}")
        if not 1 <= max_days <= 36_500:
            raise ValueError(f"max_days must be between 1 and 36500, got {max_days}")
    if new_customer_share is not None:
        if not _is_number(new_customer_share) or not 0.0 <= new_customer_share <= 1.0:
            raise ValueError(f"new customer share must be between 0 and 1, "
                             f"got {new_customer_share!r}")


def _naive_utc(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise ValueError(f"now must be a datetime, got {now!r}")
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now


def utcnow() -> datetime:
    """The current time as a naive UTC datetime (the stream's default clock)."""
    return datetime.now(UTC).replace(tzinfo=None)


def shop_clock(start: datetime, every_s: float = 1.0) -> Callable[[], datetime]:
    """A stream clock that ignores the wall clock: ``start``, then ``every_s`` seconds later at
    each call (``run_stream`` calls it once per order), so the same seed gives the same orders.

    The wall clock would change ages, hence baskets and every draw after them, from day to day.
    """
    start = _naive_utc(start)
    if not _is_number(every_s) or not math.isfinite(every_s) or every_s <= 0:
        raise ValueError(f"every_s must be a positive number of seconds, got {every_s!r}")
    ticks = iter(range(2**62))
    return lambda: start + timedelta(seconds=every_s * next(ticks))


DEFAULT_TRUTH = GroundTruth()   # after _is_number: its check runs at import
