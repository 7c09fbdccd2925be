"""jornada.lake.delta_tools: the URL handling its S3 and delta-rs helpers share (pure logic; the
helpers themselves run against the store in tests/test_lesson06.py)."""

from __future__ import annotations

import pytest

from jornada.lake import delta_tools

pytestmark = pytest.mark.unit


def test_a_table_url_is_a_bucket_and_a_folder_prefix():
    assert delta_tools.split_url("s3a://silver/lesson06/pedidos") == ("silver", "lesson06/pedidos/")
    assert delta_tools.split_url("s3://gold/facts/") == ("gold", "facts/")


def test_other_schemes_are_refused():
    with pytest.raises(ValueError, match="s3a://"):
        delta_tools.split_url("/tmp/table")


def test_delta_rs_reads_the_same_object_as_s3():
    assert delta_tools.delta_rs_uri("s3a://silver/lesson06/pedidos") == "s3://silver/lesson06/pedidos"
