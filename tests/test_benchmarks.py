"""The benchmarks' own stack handling, on the running stack: `make bench` is not run by CI, so
its set-up code rots unseen unless something calls it (it did: a Settings field read as a dict key
failed only when someone ran the lake bench at the issue's sizes)."""

from __future__ import annotations

import pytest

from benchmarks import bench_cdc, bench_lake

pytestmark = pytest.mark.services


def test_the_cdc_and_lake_benches_use_the_running_stack_and_start_nothing(stack_up):
    st, started = bench_cdc._stack_for_cdc(log=lambda *_: None)
    assert started == {}
    assert st.settings.kafka_port == stack_up.settings.kafka_port
    st, started = bench_lake._stack_for_lake(log=lambda *_: None)
    assert started == {}
    assert st.settings.s3_port == stack_up.settings.s3_port


def test_the_lake_bench_takes_the_issue_sizes_from_its_command_line(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(bench_lake, "run", lambda *a, **kw: seen.update(args=a, kw=kw) or {})
    bench_lake.main(["--orders", "230000", "--growth", "100000", "1000000", "--driver-memory", "6g"])
    assert seen == {"args": (230_000, (100_000, 1_000_000)), "kw": {"driver_memory": "6g"}}
