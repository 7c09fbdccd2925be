"""Defects found by testing lessons 00–05 (issue 8 §6), each reproduced first: no service needed."""

from __future__ import annotations

import socket
import time

import numpy as np
import pandas as pd
import pytest

from jornada import fraud, geo
from jornada.config import settings
from jornada.db import ServiceUnavailable

pytestmark = pytest.mark.unit

SP = geo.encode(-23.5505, -46.6333, 7)   # São Paulo
BA = geo.encode(-12.9714, -38.5014, 7)   # Salvador, Bahia


def _orders(geohashes):
    return pd.DataFrame({"id_pedido": range(1, len(geohashes) + 1), "geohash": geohashes})


@pytest.mark.parametrize("missing", [None, np.nan, "", "  "])
def test_a_missing_geohash_is_never_flagged_and_does_not_shift_the_others(missing):
    flags = fraud.location_flags(_orders([missing, SP, BA]))
    assert flags.tolist() == [False, False, True]
    assert fraud.location_flags(_orders([missing])).tolist() == [False]
    assert fraud.location_flags(_orders([BA, missing, missing, SP])).tolist() == [True, False, False, False]


def test_location_flags_of_no_orders():
    assert fraud.location_flags(_orders([])).tolist() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dbt_with_the_warehouse_down_fails_in_seconds_naming_make_up():
    from jornada import warehouse

    down = settings().replace(olap_port=_free_port())
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"OLAP Postgres not reachable at 127\.0\.0\.1:\d+ — run `make up`"):
        warehouse.dbt("build", s=down)
    assert time.monotonic() - t0 < 5
