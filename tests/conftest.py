"""Shared fixtures. Tests that need services start the real native stack (idempotently)."""

from __future__ import annotations

import pytest

SERVICE_FIXTURES = {"stack_up", "oltp_clean", "olap_conn", "oltp_conn"}


def pytest_collection_modifyitems(items):
    # A test that touches a real service is marked so `make test-unit` can leave it out.
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def stack_up():
    from jornada.config import ensure_env_file, reload
    from jornada.stack import stack

    ensure_env_file()
    st = stack(reload())
    st.up(log=lambda *_: None)
    return st


@pytest.fixture
def oltp_clean(stack_up):
    """An OLTP database with only the schema and the seeded catalogue."""
    from jornada.schema import init_oltp

    init_oltp(reset=True)
    return stack_up


@pytest.fixture
def oltp_conn(stack_up):
    from jornada.db import connect

    with connect("oltp") as conn:
        yield conn


@pytest.fixture
def olap_conn(stack_up):
    from jornada.db import connect

    with connect("olap") as conn:
        yield conn
