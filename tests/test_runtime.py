"""Unit tests of the runtime's selection rules and jar-set bookkeeping (no process is started)."""

from __future__ import annotations

import json

import pytest

from jornada import config
from jornada.stack.compose import ComposeStack
from jornada.stack.jars import MANIFEST, JarSet
from jornada.stack.runtime import Health, Service, Stack

pytestmark = pytest.mark.unit


def _svc(name: str, *, depends_on=(), group=None, optional=False) -> Service:
    return Service(name=name, describe=name, command=lambda ctx: ["true"],
                   health=lambda ctx: Health(True, "ok"), depends_on=depends_on, group=group,
                   optional=optional)


@pytest.fixture
def services():
    return [_svc("db"), _svc("s3"),
            _svc("spark-master", group="spark", optional=True),
            _svc("spark-worker", group="spark", optional=True, depends_on=("spark-master",)),
            _svc("lab", depends_on=("db",))]


def _names(svcs) -> list[str]:
    return [s.name for s in svcs]


@pytest.mark.parametrize("runtime", [Stack, ComposeStack])
def test_a_plain_up_leaves_optional_services_out(services, runtime, tmp_path):
    st = runtime(config.settings().replace(jornada_stack_dir=tmp_path), services)
    assert _names(st.to_start(None)) == ["db", "s3", "lab"]
    assert _names(st.to_start([])) == ["db", "s3", "lab"]
    # named (or by group), they start, with what they depend on
    assert _names(st.to_start(["spark"])) == ["spark-master", "spark-worker"]
    assert _names(st.to_start(["spark-worker"])) == ["spark-master", "spark-worker"]
    assert _names(st.to_start(["lab"])) == ["db", "lab"]
    # down, status and doctor still see every service
    assert _names(st.select(None)) == ["db", "s3", "spark-master", "spark-worker", "lab"]


def test_up_starts_what_to_start_names(services, tmp_path, monkeypatch):
    st = Stack(config.settings().replace(jornada_stack_dir=tmp_path), services)
    started = []
    monkeypatch.setattr(st, "_start", lambda svc, log: started.append(svc.name))
    st.up(log=lambda *_: None)
    assert started == ["db", "s3", "lab"]
    started.clear()
    st.up(["spark"], log=lambda *_: None)
    assert started == ["spark-master", "spark-worker"]


def test_status_says_how_to_start_an_optional_service(services, tmp_path):
    st = Stack(config.settings().replace(jornada_stack_dir=tmp_path), services)
    assert "spark-worker" not in {r["service"] for r in st.status()}, "not started: not a problem"
    rows = {r["service"]: r for r in st.status(every=True)}
    assert "jornada stack up spark" in rows["spark-worker"]["detail"]
    assert "make up" in rows["db"]["detail"]


def test_a_jar_set_is_stale_when_any_of_its_versions_changed(tmp_path, monkeypatch):
    from jornada import versions

    pins = {"A_VERSION": "1.0", "B_VERSION": "2.0"}
    monkeypatch.setattr(versions, "get", lambda key, path=None: pins[key])
    js = JarSet("demo", (("a.version", "A_VERSION"), ("b.version", "B_VERSION")))
    folder = js.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "x.jar").write_bytes(b"")
    (folder / MANIFEST).write_text(json.dumps(
        {"set": "demo", "properties": js.resolved_properties(), "classpath": ["x.jar"]}))
    assert js.fetched(tmp_path).jars == ["x.jar"]
    pins["B_VERSION"] = "2.1"  # same folder name (named after the first version), new pin
    assert js.folder(tmp_path) == folder
    assert js.fetched(tmp_path) is None, "a changed second version must trigger a new fetch"


def test_a_lessons_airflow_home_is_private_even_when_it_existed_open(tmp_path, monkeypatch):
    from jornada.stack.airflow import sandbox_home

    monkeypatch.setenv("JORNADA_STACK_DIR", str(tmp_path))
    s = config.Settings()
    old = tmp_path / "data" / "airflow_lesson05"
    old.mkdir(parents=True, mode=0o755)
    old.chmod(0o755)   # as lessons before the fix left it
    for name in ("airflow_lesson05", "airflow_exercises05"):
        home = sandbox_home(s, name)
        assert home == tmp_path / "data" / name
        assert home.stat().st_mode & 0o077 == 0, f"{home} is open to other users"
