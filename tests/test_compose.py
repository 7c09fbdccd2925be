"""Static checks of the docker compose runtime (stack/): no Docker engine needed.

Everything is checked by :func:`problems`, which takes a compose file as a dict and returns one
line per broken rule, so the negative tests below can feed it deliberately broken files and see
each rule fire. Variables are resolved the way `docker compose --env-file .env --env-file
stack/versions.env` resolves them (a later file wins), with `.env.example` standing in for `.env`.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
import yaml

from jornada import versions

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "stack"
COMPOSE_FILE = STACK / "docker-compose.yml"
VERSIONS_FILE = STACK / "versions.env"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = STACK / "jupyter" / "Dockerfile"
INIT_SCRIPT = STACK / "postgres" / "initdb" / "10-course-database.sh"

REQUIRED_SERVICES = ("oltp", "olap", "jupyter")
DOCUMENTED_COMMAND = ("docker compose -f stack/docker-compose.yml --env-file .env "
                      "--env-file stack/versions.env")
LOOPBACK = "127.0.0.1"
GENERATED_SECRET = "generate"  # the marker .env.example uses for secrets `make env` generates
SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY", re.I)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
EXACT_VERSION = re.compile(r"\d+(?:[.-]\d+)+")  # 16.15, 3.11.16, v7.15.4, RELEASE.2025-09-07...
# images whose exact version has more parts than major.minor (python:3.11 still floats)
VERSION_PARTS = {"python": 3, "node": 3, "eclipse-temurin": 3}
# pins of stack/versions.env that no image uses: the Spark jar set (Delta, S3A + AWS SDK), which
# the library fetches with Maven natively and inside the JupyterLab container alike
LIBRARY_ONLY_PINS = {"DELTA_VERSION", "HADOOP_AWS_VERSION", "AWS_SDK_VERSION"}
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:(?P<password>[^@\s/]+)@")


# ---- env files and `${VAR}` interpolation ------------------------------------------------------
def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose/dotenv file (the same parser the library uses)."""
    return versions.parse(path.read_text())


# `$$` is a literal dollar; `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
# `${NAME?error}`, `${NAME:+alt}`, `${NAME+alt}` and `$NAME` as in the compose specification
# (nested `${A:-${B}}` defaults are not used in this repository and not supported here).
_REFERENCE = re.compile(
    r"\$(?:(?P<dollar>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def references(text: str) -> list[tuple[str, str | None, str | None]]:
    """(name, operator, argument) of every variable reference in ``text``."""
    found = []
    for m in _REFERENCE.finditer(text):
        if m.group("dollar"):
            continue
        if m.group("bare"):
            found.append((m.group("bare"), None, None))
        else:
            found.append((m.group("name"), m.group("op"), m.group("arg")))
    return found


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute variables like docker compose does; a failing `${X:?msg}` raises."""

    def one(m: re.Match) -> str:
        if m.group("dollar"):
            return "$"
        name = m.group("bare") or m.group("name")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise MissingVariable(f"{name}: {arg or 'required'}")
            return value
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return arg if value is not None else ""
        return value or ""

    return _REFERENCE.sub(one, text)


def is_single_reference(text: str) -> bool:
    m = _REFERENCE.fullmatch(text.strip())
    return bool(m) and not m.group("dollar")


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) of every string value in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def default_env() -> dict[str, str]:
    """What compose sees with `--env-file .env --env-file stack/versions.env` (.env ~ example)."""
    return {**read_env_file(ENV_EXAMPLE), **read_env_file(VERSIONS_FILE)}


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


# ---- single rules --------------------------------------------------------------------------
def image_problem(ref: str) -> str | None:
    """Why an image reference is not acceptable, or None when it is pinned and allowed."""
    if not ref or not ref.strip():
        return "is empty (unset variable?)"
    if "bitnami" in ref.lower():
        return f"{ref!r} is a Bitnami image (not allowed)"
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if "latest" in tag.lower():
        return f"{ref!r} uses a `latest` tag"
    if digest:
        if not DIGEST.fullmatch("@" + digest):
            return f"{ref!r} has a malformed digest"
        return None
    if not tag:
        return f"{ref!r} has no tag and no digest (means latest)"
    version = EXACT_VERSION.search(tag)
    parts = VERSION_PARTS.get(last.partition(":")[0], 2)
    if not version or len(re.split(r"[.-]", version.group())) < parts:
        return f"{ref!r} has a floating tag {tag!r}: pin an exact version or a digest"
    return None


def _environment(service: dict) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            pairs[key] = value if sep else None
        return pairs
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def _port_problems(where: str, entry: Any, env: dict[str, str],
                   env_keys: set[str]) -> list[str]:
    found = []
    if isinstance(entry, dict):
        host_ip = interpolate(str(entry.get("host_ip", "")), env)
        published = entry.get("published")
        raw_published = "" if published is None else str(published)
        if host_ip != LOOPBACK:
            found.append(f"{where}: port {entry!r} is published on {host_ip or 'every interface'}"
                         f", not {LOOPBACK}")
        if published is not None and "${" not in raw_published:
            found.append(f"{where}: host port {raw_published!r} is hard-coded, take it from .env")
        raw_host = raw_published
    elif isinstance(entry, str):
        value = interpolate(entry, env)
        if value.startswith("["):  # [::1]:8080:80
            host_ip, _, rest = value[1:].partition("]")
            parts = [host_ip] + rest.lstrip(":").split(":")
        else:
            parts = value.split(":")
        if len(parts) < 3:
            found.append(f"{where}: port {entry!r} is published on every interface; "
                         f"write \"{LOOPBACK}:${{PORT_VAR}}:<container port>\"")
        elif parts[0] != LOOPBACK:
            found.append(f"{where}: port {entry!r} is published on {parts[0] or 'every interface'}"
                         f", not {LOOPBACK}")
        if "${" not in entry:
            found.append(f"{where}: host port in {entry!r} is hard-coded, take it from .env")
        raw_host = entry
    else:  # YAML turned it into a number (e.g. 8000:80 is sexagesimal in YAML 1.1)
        return [f"{where}: port {entry!r} is not a quoted \"{LOOPBACK}:HOST:CONTAINER\" string"]
    for name, _, _ in references(raw_host):
        if name not in env_keys:
            found.append(f"{where}: host port variable {name} is not defined in .env.example")
    return found


def _command_text(command: Any, env: dict[str, str]) -> str:
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    return interpolate(str(command or ""), env)


def problems(compose: Any, env: dict[str, str] | None = None,
             pins: dict[str, str] | None = None, example: dict[str, str] | None = None,
             base_dir: Path | None = None) -> list[str]:
    """Every rule this course's compose file must follow; [] when it follows them all.

    ``env`` resolves variables (default: .env.example overlaid by stack/versions.env), ``pins``
    is stack/versions.env, ``example`` is .env.example; ``base_dir`` (the compose file's folder),
    when given, also checks that build contexts, Dockerfiles and bind-mount sources exist.
    """
    example = read_env_file(ENV_EXAMPLE) if example is None else example
    pins = read_env_file(VERSIONS_FILE) if pins is None else pins
    env = {**example, **pins} if env is None else env
    found: list[str] = []

    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        return ["the file has no `services:` mapping"]
    services: dict = compose["services"]
    declared_volumes = set((compose.get("volumes") or {}).keys())

    for name in REQUIRED_SERVICES:
        if name not in services:
            found.append(f"service {name!r} is missing")

    # one place of truth: a default must equal its pin; secrets never have a default
    for where, text in walk_strings(compose):
        for name, op, arg in references(text):
            if op in (":-", "-"):
                if name in pins and arg != pins[name]:
                    found.append(f"{where}: default of ${{{name}}} is {arg!r} but "
                                 f"stack/versions.env pins {pins[name]!r}")
                elif name in example and example[name] == GENERATED_SECRET and arg:
                    found.append(f"{where}: secret ${{{name}}} must not have a default")
                elif (name in example and name not in pins
                      and example[name] != GENERATED_SECRET and arg != example[name]):
                    found.append(f"{where}: default of ${{{name}}} is {arg!r} but .env.example "
                                 f"says {example[name]!r}")
            elif op is None and name not in env:
                found.append(f"{where}: ${{{name}}} is defined nowhere (no default, not in "
                             ".env.example or stack/versions.env)")
        try:
            interpolate(text, env)
        except MissingVariable as exc:
            found.append(f"{where}: required variable is not defined: {exc}")

    for sname, service in services.items():
        where = f"services.{sname}"
        if not isinstance(service, dict):
            found.append(f"{where}: is not a mapping")
            continue

        # healthcheck with a real test command
        health = service.get("healthcheck")
        if not isinstance(health, dict):
            found.append(f"{where}: has no healthcheck")
        elif health.get("disable"):
            found.append(f"{where}: healthcheck is disabled")
        else:
            test = health.get("test")
            if isinstance(test, list):
                ok = (len(test) >= 2 and test[0] in ("CMD", "CMD-SHELL")
                      and all(str(t).strip() for t in test[1:]))
            else:
                ok = isinstance(test, str) and test.strip() not in ("", "NONE")
            if not ok:
                found.append(f"{where}: healthcheck has no test command ({test!r})")

        # images: pinned, not Bitnami; a service without an image must be built
        if "image" in service:
            reason = image_problem(interpolate(str(service["image"]), env))
            if reason:
                found.append(f"{where}.image: {reason}")
        elif "build" not in service:
            found.append(f"{where}: has neither an image nor a build")
        build = service.get("build")
        if isinstance(build, dict):
            args = build.get("args") or {}
            if isinstance(args, list):
                args = dict(str(a).partition("=")[::2] for a in args)
            for key, value in args.items():
                if str(key).upper().endswith("IMAGE"):
                    reason = image_problem(interpolate(str(value), env))
                    if reason:
                        found.append(f"{where}.build.args.{key}: {reason}")
            if base_dir is not None:
                context = (base_dir / interpolate(str(build.get("context", ".")), env)).resolve()
                dockerfile = context / interpolate(str(build.get("dockerfile", "Dockerfile")), env)
                if not context.is_dir():
                    found.append(f"{where}.build.context: {context} does not exist")
                elif not dockerfile.is_file():
                    found.append(f"{where}.build.dockerfile: {dockerfile} does not exist")

        # ports: loopback only, host side from .env
        if service.get("network_mode") == "host":
            found.append(f"{where}: network_mode host publishes every port on every interface")
        for i, entry in enumerate(service.get("ports") or []):
            found += _port_problems(f"{where}.ports[{i}]", entry, env, set(example))

        # no literal secrets
        for key, value in _environment(service).items():
            if value is None or not SECRET_KEY.search(key) or key.upper().endswith("_FILE"):
                continue
            if not is_single_reference(value):
                found.append(f"{where}.environment.{key}: looks like a secret but is a literal; "
                             "use a ${VAR:?...} reference to .env")
                continue
            ((ref, op, arg),) = references(value)
            if op in (":-", "-") and arg:
                found.append(f"{where}.environment.{key}: secret ${{{ref}}} has a default")
        for spot, text in walk_strings(service, where):
            m = URL_WITH_PASSWORD.search(text)
            if m and not m.group("password").startswith("$"):
                found.append(f"{spot}: URL with a literal password")

        # volumes: named ones are declared; Postgres data is a named volume; binds exist
        for i, entry in enumerate(service.get("volumes") or []):
            if isinstance(entry, dict):
                source, target = str(entry.get("source", "")), str(entry.get("target", ""))
                kind = entry.get("type", "volume")
            else:
                source, _, rest = str(entry).partition(":")
                target = rest.split(":")[0] if rest else source
                kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
                if not rest:
                    source = ""  # anonymous volume
            if kind == "volume" and source and source not in declared_volumes:
                found.append(f"{where}.volumes[{i}]: named volume {source!r} is not declared "
                             "under top-level volumes")
            if target.startswith("/var/lib/postgresql") and (kind != "volume" or not source):
                found.append(f"{where}.volumes[{i}]: Postgres data must be a named volume")
            if kind == "bind" and base_dir is not None:
                path = (base_dir / interpolate(source, env)).resolve()
                if not path.exists():
                    found.append(f"{where}.volumes[{i}]: bind source {path} does not exist")

    # the OLTP server: logical decoding for CDC
    oltp = services.get("oltp")
    if isinstance(oltp, dict):
        command = _command_text(oltp.get("command"), env)
        if not re.search(r"wal_level\s*=\s*logical\b", command):
            found.append("services.oltp.command: does not set wal_level=logical")
        for setting in ("max_replication_slots", "max_wal_senders"):
            if not re.search(rf"{setting}\s*=\s*[1-9]\d*\b", command):
                found.append(f"services.oltp.command: does not set {setting} (> 0)")
        if not any(str(v).endswith("/var/lib/postgresql/data") or
                   (isinstance(v, dict) and v.get("target") == "/var/lib/postgresql/data")
                   for v in oltp.get("volumes") or []):
            found.append("services.oltp.volumes: no data volume at /var/lib/postgresql/data")

    # jupyter waits for healthy databases
    jupyter = services.get("jupyter")
    if isinstance(jupyter, dict):
        depends = jupyter.get("depends_on") or {}
        for db in ("oltp", "olap"):
            condition = depends.get(db, {}).get("condition") if isinstance(depends, dict) else None
            if condition != "service_healthy":
                found.append(f"services.jupyter.depends_on: must wait for {db} "
                             "with condition service_healthy")
    return found


# ---- the real files --------------------------------------------------------------------------
def test_compose_file_loads():
    compose = load_compose()
    assert isinstance(compose, dict)
    assert set(REQUIRED_SERVICES) <= set(compose["services"])


def test_compose_file_follows_every_rule():
    assert problems(load_compose(), base_dir=STACK) == []


def test_compose_resolves_to_loopback_endpoints_from_env():
    compose, env = load_compose(), default_env()
    published = {name: [interpolate(p, env) for p in svc.get("ports", [])]
                 for name, svc in compose["services"].items()}
    assert published["oltp"] == [f"127.0.0.1:{env['OLTP_PORT']}:5432"]
    assert published["olap"] == [f"127.0.0.1:{env['OLAP_PORT']}:5432"]
    assert published["jupyter"] == [f"127.0.0.1:{env['JUPYTER_PORT']}:8888"]


def test_jupyter_reaches_databases_by_service_name():
    """lib/jornada/config.py lets the environment override .env: compose points it inside."""
    env = _environment(load_compose()["services"]["jupyter"])
    assert env["OLTP_HOST"] == "oltp" and env["OLAP_HOST"] == "olap"
    assert env["OLTP_PORT"] == "5432" and env["OLAP_PORT"] == "5432"
    for key in ("OLTP_DB", "OLTP_USER", "OLTP_PASSWORD", "OLAP_DB", "OLAP_USER", "OLAP_PASSWORD"):
        assert references(env[key])[0][0] == key, f"{key} must come from .env"


def test_versions_env_is_the_one_place_of_pins():
    pins = read_env_file(VERSIONS_FILE)
    assert {"POSTGRES_IMAGE", "JUPYTER_BASE_IMAGE"} <= set(pins)
    for key, value in pins.items():
        assert value, f"{key} is empty"
        if key.endswith("_IMAGE"):
            assert image_problem(value) is None, f"{key}: {image_problem(value)}"
    # every pin is used by compose, with the same value as default (checked in problems()),
    # except the versions of the Spark jar set: the library fetches it in both runtimes
    compose_text = COMPOSE_FILE.read_text()
    for key in pins:
        if key in LIBRARY_ONLY_PINS:
            assert "${" + key not in compose_text, f"{key}: compose does not run these jars"
            continue
        assert "${" + key + ":-" in compose_text, f"{key} is pinned but compose does not use it"


def test_library_only_pins_are_versions_of_a_jar_set():
    from jornada.stack.spark import SPARK_JARS

    assert LIBRARY_ONLY_PINS <= {key for _, key in SPARK_JARS.properties}


def test_documented_command():
    for path in (COMPOSE_FILE, VERSIONS_FILE):
        assert DOCUMENTED_COMMAND in path.read_text(), f"{path} must document the command"


def _dockerfile_args() -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in
            re.finditer(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)", DOCKERFILE.read_text(), re.M)}


def test_dockerfile_base_image_is_pinned_and_agrees_with_versions_env():
    text = DOCKERFILE.read_text()
    args = _dockerfile_args()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms, "the Dockerfile has no FROM"
    for ref in froms:
        resolved = interpolate(ref, args)
        assert image_problem(resolved) is None, f"FROM {ref}: {image_problem(resolved)}"
    # compose passes versions.env pins as build args: the Dockerfile defaults must agree
    pins = read_env_file(VERSIONS_FILE)
    build_args = load_compose()["services"]["jupyter"]["build"]["args"]
    checked = 0
    for arg, value in build_args.items():
        for name, op, _ in references(str(value)):
            if name in pins:
                assert args.get(arg) == pins[name], (
                    f"Dockerfile ARG {arg} defaults to {args.get(arg)!r}, "
                    f"stack/versions.env pins {name}={pins[name]!r}")
                checked += 1
    assert checked >= 2


def test_dockerfile_runs_unprivileged_and_ships_java_and_the_library():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0", "0:0"), "the image must not run as root"
    assert re.search(r"pip install[^\n]*-r requirements\.txt", text)
    assert re.search(r"pip install[^\n]*-e \.", text), "the repo must be installed editable"
    assert "JAVA_HOME" in text and "JDK_PACKAGE" in text
    assert re.search(r"^COPY[^\n]*\.env\.example", text, re.M), \
        "config.py needs .env.example to let the environment override settings"
    assert not re.search(r"^COPY[^\n]*(\s\.env\s|\s\.env$|\s\.\s+\S)", text, re.M), \
        "never copy .env (secrets) or the whole context into the image"


def test_postgres_init_script_creates_course_role_from_env():
    assert INIT_SCRIPT.is_file()
    assert os.access(INIT_SCRIPT, os.X_OK), "the entrypoint sources (not runs) a non-executable .sh"
    text = INIT_SCRIPT.read_text()
    for var in ("JORNADA_DB", "JORNADA_DB_USER", "JORNADA_DB_PASSWORD"):
        assert var in text
    compose = load_compose()
    for name in ("oltp", "olap"):
        env = _environment(compose["services"][name])
        assert {"JORNADA_DB", "JORNADA_DB_USER", "JORNADA_DB_PASSWORD"} <= set(env)
        assert any(str(v).endswith(":/docker-entrypoint-initdb.d:ro")
                   for v in compose["services"][name]["volumes"])


# ---- the validator catches what it must --------------------------------------------------------
BAD_COMPOSE = {
    "services": {
        "oltp": {
            "image": "postgres:latest",
            "ports": ["0.0.0.0:5432:5432"],
            "environment": {"POSTGRES_PASSWORD": "hunter2"},
            "command": "postgres",
            "volumes": ["./pgdata:/var/lib/postgresql/data"],
        },
        "olap": {
            "image": "bitnami/postgresql:16.4.0",
            "ports": [{"target": 5432, "published": 5433}],
            "healthcheck": {"test": ["CMD", "pg_isready"]},
        },
        "jupyter": {
            "image": "quay.io/jupyter/base-notebook",
            "ports": ["8888:8888"],
            "depends_on": ["oltp", "olap"],
            "healthcheck": {"test": ["NONE"]},
            "environment": ["JUPYTER_TOKEN=letmein",
                            "DATABASE_URL=postgresql://u:secret@oltp/db"],
        },
    },
}


def test_bad_compose_reports_each_problem():
    found = problems(BAD_COMPOSE)
    text = "\n".join(found)

    def reported(*fragments: str) -> bool:
        return any(all(f in line for f in fragments) for line in found)

    assert reported("services.oltp.ports[0]", "0.0.0.0"), text
    assert reported("services.oltp.image", "latest"), text
    assert reported("services.oltp", "no healthcheck"), text
    assert reported("services.jupyter", "healthcheck has no test"), text
    assert reported("services.olap.image", "Bitnami"), text
    assert reported("services.olap.ports[0]", "every interface"), text
    assert reported("services.olap.ports[0]", "hard-coded"), text
    assert reported("services.jupyter.ports[0]", "every interface"), text
    assert reported("services.jupyter.image", "no tag"), text
    assert reported("POSTGRES_PASSWORD", "literal"), text
    assert reported("JUPYTER_TOKEN", "literal"), text
    assert reported("URL with a literal password"), text
    assert reported("wal_level=logical"), text
    assert reported("max_replication_slots"), text
    assert reported("Postgres data must be a named volume"), text
    assert reported("must wait for oltp"), text


def test_not_a_compose_file():
    assert problems([]) == ["the file has no `services:` mapping"]
    assert "service 'jupyter' is missing" in problems({"services": {"oltp": {}, "olap": {}}})


def _mutated(path: list, value: Any = None, *, delete: bool = False) -> dict:
    compose = copy.deepcopy(load_compose())
    node = compose
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return compose


@pytest.mark.parametrize("path, value, delete, expected", [
    (["services", "oltp", "image"], "postgres:16", False, "floating tag"),
    (["services", "oltp", "image"], "postgres:latest@sha256:" + "0" * 64, False, "latest"),
    (["services", "olap", "image"], "${POSTGRES_IMAGE:-postgres:16.14-bookworm}", False,
     "stack/versions.env pins"),
    (["services", "jupyter", "build", "args", "BASE_IMAGE"], "python:3.11-slim", False,
     "floating tag"),
    (["services", "oltp", "ports"], ["${OLTP_PORT:-5432}:5432"], False, "every interface"),
    (["services", "oltp", "ports"], ["127.0.0.1:5432:5432"], False, "hard-coded"),
    (["services", "oltp", "ports"], ["127.0.0.1:${OLTP_PORT:-5999}:5432"], False, ".env.example"),
    (["services", "olap", "ports"], [{"target": 5432, "published": "${OLAP_PORT}",
                                      "host_ip": "0.0.0.0"}], False, "0.0.0.0"),
    (["services", "jupyter", "ports"], [8888], False, "quoted"),
    (["services", "oltp", "command"], ["postgres", "-c", "wal_level=replica"], False,
     "wal_level=logical"),
    (["services", "oltp", "healthcheck"], None, True, "no healthcheck"),
    (["services", "olap", "healthcheck"], {"test": []}, False, "no test command"),
    (["services", "olap", "healthcheck"], {"test": "pg_isready", "disable": True}, False,
     "disabled"),
    (["services", "oltp", "environment", "POSTGRES_PASSWORD"], "postgres", False, "literal"),
    (["services", "olap", "environment", "JORNADA_DB_PASSWORD"], "${OLAP_PASSWORD:-changeme}",
     False, "must not have a default"),
    (["services", "olap"], None, True, "service 'olap' is missing"),
    (["services", "jupyter", "depends_on", "olap"], {"condition": "service_started"}, False,
     "must wait for olap"),
    (["services", "oltp", "volumes"], ["pgdata:/var/lib/postgresql/data"], False,
     "not declared"),
    (["services", "oltp", "environment", "JORNADA_DB"], "${NOT_DEFINED_ANYWHERE}", False,
     "defined nowhere"),
    (["services", "jupyter", "build", "dockerfile"], "stack/jupyter/Nope", False,
     "does not exist"),
])
def test_each_rule_fires_on_a_mutated_real_file(path, value, delete, expected):
    found = problems(_mutated(path, value, delete=delete), base_dir=STACK)
    assert any(expected in line for line in found), "\n".join(found) or "no problem reported"


def test_interpolation_like_compose():
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("${A:-x} ${B:-x} ${EMPTY:-x} ${EMPTY-x} $A $$A", env) == "1 x x  1 $A"
    assert interpolate("${A:+yes}${B:+no}", env) == "yes"
    with pytest.raises(MissingVariable):
        interpolate("${B:?set B}", env)
    with pytest.raises(MissingVariable):
        interpolate("${EMPTY:?set EMPTY}", env)
    assert interpolate("${EMPTY?fine}", env) == ""


# ---- change data capture: kafka + connect (issue 3) ------------------------------------------
def _listeners(value: str) -> dict[str, str]:
    """'A://h:1,B://h:2' → {'A': 'h:1', 'B': 'h:2'}"""
    out = {}
    for part in value.split(","):
        name, _, address = part.strip().partition("://")
        out[name] = address
    return out


def test_cdc_services_use_the_pinned_versions_and_a_profile():
    compose, env = load_compose(), default_env()
    pins = read_env_file(VERSIONS_FILE)
    services = compose["services"]
    kafka_image = interpolate(services["kafka"]["image"], env)
    connect_image = interpolate(services["connect"]["image"], env)
    assert kafka_image.startswith("apache/kafka:"), "the official Apache Kafka image"
    assert kafka_image.split("@")[0] == f"apache/kafka:{pins['KAFKA_VERSION']}"
    assert connect_image == f"quay.io/debezium/connect:{pins['DEBEZIUM_VERSION']}"
    for name in ("kafka", "connect"):
        assert services[name].get("profiles") == ["cdc"], f"{name}: behind the cdc profile"
        assert services[name].get("mem_limit"), f"{name}: a JVM needs a mem_limit"


def test_kafka_is_kraft_with_a_listener_for_containers_and_one_for_the_host():
    compose, env = load_compose(), default_env()
    kafka = _environment(compose["services"]["kafka"])
    assert not any("ZOOKEEPER" in k for k in kafka), "Kafka 4 has no ZooKeeper"
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    advertised = _listeners(interpolate(kafka["KAFKA_ADVERTISED_LISTENERS"], env))
    bound = _listeners(kafka["KAFKA_LISTENERS"])
    internal = [n for n, a in advertised.items() if a.startswith("kafka:")]
    host = [n for n, a in advertised.items() if a.startswith("127.0.0.1:")]
    assert internal and host, f"need one listener per side, got {advertised}"
    # the host listener is advertised on the port compose publishes, and published to its port
    (published,) = [interpolate(p, env) for p in compose["services"]["kafka"]["ports"]]
    host_port, container_port = published.split(":")[1:]
    assert advertised[host[0]] == f"127.0.0.1:{env['KAFKA_PORT']}" == f"127.0.0.1:{host_port}"
    assert bound[host[0]].endswith(f":{container_port}")
    assert kafka["KAFKA_INTER_BROKER_LISTENER_NAME"] == internal[0]
    # the controller listener is not published
    ctrl = kafka["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert ctrl not in advertised and ctrl in bound


def test_connect_and_jupyter_reach_kafka_inside_the_network():
    compose, env = load_compose(), default_env()
    services = compose["services"]
    kafka = _environment(services["kafka"])
    internal = [a for a in _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"]).values()
                if a.startswith("kafka:")][0]
    connect = _environment(services["connect"])
    assert connect["BOOTSTRAP_SERVERS"] == internal
    assert connect["CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE"] == "false"
    assert connect["CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE"] == "false"
    for dep in ("kafka", "oltp"):
        assert services["connect"]["depends_on"][dep]["condition"] == "service_healthy"
    assert [interpolate(p, env) for p in services["connect"]["ports"]] == \
        [f"127.0.0.1:{env['CONNECT_PORT']}:8083"]
    jupyter = _environment(services["jupyter"])
    assert jupyter["JORNADA_KAFKA_BOOTSTRAP"] == internal
    assert jupyter["JORNADA_CONNECT_URL"] == "http://connect:8083"
    assert (jupyter["JORNADA_CDC_DB_HOST"], jupyter["JORNADA_CDC_DB_PORT"]) == ("oltp", "5432")


# ---- the lakehouse: object store and Spark (issue 9) ------------------------------------------
def test_lake_services_use_the_pins_and_their_profiles():
    compose, env = load_compose(), default_env()
    pins = read_env_file(VERSIONS_FILE)
    services = compose["services"]
    assert interpolate(services["s3"]["image"], env) == pins["MINIO_IMAGE"]
    assert pins["MINIO_IMAGE"].startswith("quay.io/minio/minio:RELEASE.")
    assert interpolate(services["s3-buckets"]["image"], env) == pins["MINIO_MC_IMAGE"]
    assert pins["MINIO_MC_IMAGE"].startswith("quay.io/minio/mc:RELEASE.")
    for name in ("spark-master", "spark-worker"):
        assert interpolate(services[name]["image"], env) == f"apache/spark:{pins['SPARK_VERSION']}"
        assert services[name]["profiles"] == ["spark"]
        assert services[name].get("mem_limit")
    for name in ("s3", "s3-buckets"):
        assert services[name]["profiles"] == ["lake"]
    assert services["s3-buckets"]["depends_on"]["s3"]["condition"] == "service_healthy"
    assert services["spark-worker"]["depends_on"]["spark-master"]["condition"] == "service_healthy"


def test_the_store_uses_the_generated_keys_and_loopback_ports():
    compose, env = load_compose(), default_env()
    s3 = compose["services"]["s3"]
    minio = _environment(s3)
    assert references(minio["MINIO_ROOT_USER"])[0][:2] == ("S3_ACCESS_KEY", ":?")
    assert references(minio["MINIO_ROOT_PASSWORD"])[0][:2] == ("S3_SECRET_KEY", ":?")
    assert [interpolate(p, env) for p in s3["ports"]] == [
        f"127.0.0.1:{env['S3_PORT']}:9000", f"127.0.0.1:{env['MINIO_CONSOLE_PORT']}:9001"]
    assert any(str(v).startswith("s3-data:") for v in s3["volumes"])


def test_the_bucket_job_creates_the_library_buckets_none_public():
    from jornada.s3 import BUCKETS

    job = load_compose()["services"]["s3-buckets"]
    script = " ".join(str(c) for c in job["command"])
    listed = re.search(r"for bucket in ([\w\- ]+); do", script).group(1).split()
    assert listed == list(BUCKETS), "compose and lib/jornada/s3.py name the same buckets"
    assert "mb --ignore-existing" in script, "idempotent"
    assert "anonymous set none" in script
    assert not re.search(r"anonymous set (public|download|upload)|policy set", script)
    assert job.get("restart") == "no"


def test_spark_cluster_authenticates_and_publishes_only_its_uis():
    compose, env = load_compose(), default_env()
    services = compose["services"]
    published = {name: [interpolate(p, env) for p in services[name].get("ports", [])]
                 for name in ("spark-master", "spark-worker")}
    assert published == {
        "spark-master": [f"127.0.0.1:{env['SPARK_MASTER_UI_PORT']}:8080"],
        "spark-worker": [f"127.0.0.1:{env['SPARK_WORKER_UI_PORT']}:8081"]}
    for name in ("spark-master", "spark-worker"):
        script = " ".join(str(c) for c in services[name]["command"])
        assert "spark.authenticate true" in script and "--properties-file" in script
        assert references(_environment(services[name])["SPARK_AUTH_SECRET"])[0][:2] == \
            ("SPARK_AUTH_SECRET", ":?")
        assert "-Dspark.authenticate.secret" not in script, "no secret on a command line"
    assert "--cores 1 --memory 1g" in " ".join(services["spark-worker"]["command"])


def test_jupyter_reaches_the_lake_by_service_name():
    compose = load_compose()
    services = compose["services"]
    jupyter = _environment(services["jupyter"])
    assert jupyter["JORNADA_S3_ENDPOINT"] == "http://s3:9000"
    assert jupyter["JORNADA_SPARK_MASTER_URL"] == "spark://spark-master:7077"
    for key in ("S3_ACCESS_KEY", "S3_SECRET_KEY", "SPARK_AUTH_SECRET"):
        assert references(jupyter[key])[0][0] == key
    assert services["jupyter"].get("hostname") == "jupyter", "executors call the driver back"
    # one network: nobody declares its own
    assert not any("networks" in svc for svc in services.values())
    assert "maven" in DOCKERFILE.read_text(), "the image fetches the Spark jar set like natively"
