"""The native runtime: real services as local processes, one small declaration each.

A :class:`Service` says how to prepare its data folder once, which command runs it in the
foreground, which ports it owns, what it depends on and how to tell it is healthy. :class:`Stack`
starts services in dependency order, each in its own process group (so `down` stops exactly what
`up` started, children included), records the group id in a pid file, and keeps data and logs
under one ignored folder (`.stack/`) that other users cannot read. Which services exist, and what
runs once one is healthy, is said by the composition root, :mod:`jornada.services`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import psutil

from ..config import Settings

SERVICE_USER = "jornada"


class StackError(RuntimeError):
    """A service could not be started or checked; the message names the fix."""


@dataclass
class Health:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Service:
    """One service of the stack, declared like a Procfile line with a health check.

    Every value a service needs comes from the typed :class:`~jornada.config.Settings` it is
    handed (ports, paths, credentials): the declaration itself holds no defaults.
    """

    name: str
    describe: str
    command: Callable[["ServiceContext"], list[str]]       # runs in the foreground
    health: Callable[["ServiceContext"], Health]           # must answer within health_timeout_s
    port: Callable[[Settings], int] | None = None         # the port it listens on, if any
    depends_on: tuple[str, ...] = ()                      # started first, stopped after
    prepare: Callable[["ServiceContext"], None] | None = None   # once per start, before command
    ready: Callable[["ServiceContext"], None] | None = None     # once healthy (own set-up only)
    env: Callable[["ServiceContext"], dict[str, str]] | None = None
    endpoint: Callable[[Settings], str] | None = None
    other_ports: Callable[[Settings], list[int]] | None = None  # doctor checks them too
    group: str | None = None                              # `stack up airflow` = every airflow-*
    # Optional: a plain `stack up` leaves it out; it starts only when named (or its group is).
    optional: bool = False
    # Postgres refuses to run as root; such services run as an unprivileged user when we are root.
    needs_unprivileged_user: bool = False
    stop_signal: int = signal.SIGTERM
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 30.0
    health_timeout_s: float = 3.0

    def address(self, s: Settings) -> str:
        if self.endpoint:
            return self.endpoint(s)
        return f"127.0.0.1:{self.port(s)}" if self.port else "-"

    def ports(self, s: Settings) -> list[int]:
        own = [self.port(s)] if self.port else []
        return own + (self.other_ports(s) if self.other_ports else [])


# A hook runs after a service is healthy, on every `up` (so it must be idempotent): the
# composition root (jornada.services) uses them for what lies above the runtime (schema, CDC).
Hook = Callable[[Settings, Callable[[str], None]], None]


@dataclass
class ServiceContext:
    service: Service
    settings: Settings
    data_dir: Path
    run_dir: Path
    log_file: Path
    user: str | None = None
    log: Callable[[str], None] = print

    def run_as_user(self, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a one-off preparation command as the service's user, raising with its output."""
        result = subprocess.run(cmd, capture_output=True, text=True, env=kwargs.pop("env", None),
                                **drop_privileges(self.user), **kwargs)
        if result.returncode != 0:
            raise StackError(f"{self.service.name}: `{' '.join(cmd[:2])} …` failed:\n"
                             f"{result.stdout}{result.stderr}")
        return result


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is as good as dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def ensure_service_user() -> str | None:
    """When running as root, return (creating if needed) the unprivileged user for services."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", SERVICE_USER], check=True)
    return SERVICE_USER


def drop_privileges(user: str | None) -> dict:
    """subprocess arguments that run a child as `user` with only its own group.

    Changing the uid alone keeps root's group: a folder with mode 701 (e.g. `mktemp -d`) would
    then deny it through its group bits although "others" may traverse it.
    """
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def ensure_traversable(path: Path) -> None:
    """Let the unprivileged service user walk down to the stack folder.

    A checkout in a private folder (e.g. `mktemp -d`, mode 700) would hide the data directory from
    the `jornada` user; adding only the search bit (o+x) to such ancestors lets it through without
    letting anyone list them.
    """
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            continue
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


class Stack:
    """The native runtime: each service a process group of its own, started in dependency order."""

    def __init__(self, settings: Settings, services: list[Service],
                 hooks: dict[str, list[Hook]] | None = None):
        self.settings = settings
        self.services = {svc.name: svc for svc in services}
        self.hooks = hooks or {}
        self.root = settings.stack_dir
        self.order = _start_order(self.services)

    # ---- folders -------------------------------------------------------------------------
    def context(self, svc: Service, log=print) -> ServiceContext:
        user = ensure_service_user() if svc.needs_unprivileged_user else None
        return ServiceContext(
            service=svc, settings=self.settings,
            data_dir=self.root / "data" / svc.name, run_dir=self.root / "run" / svc.name,
            log_file=self.root / "logs" / f"{svc.name}.log", user=user, log=log,
        )

    def pid_file(self, svc: Service) -> Path:
        return self.root / "run" / f"{svc.name}.pid"

    def running_pid(self, svc: Service) -> int | None:
        pf = self.pid_file(svc)
        try:
            pid = int(pf.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    # ---- selection -----------------------------------------------------------------------
    def _expand(self, names: list[str] | None) -> set[str]:
        if not names:
            return set(self.order)
        chosen: set[str] = set()
        unknown = []
        for n in names:
            members = [s.name for s in self.services.values() if s.group == n]
            if n in self.services:
                chosen.add(n)
            elif members:
                chosen.update(members)
            else:
                unknown.append(n)
        if unknown:
            groups = sorted({s.group for s in self.services.values() if s.group})
            raise StackError(f"unknown service(s) {unknown}; known: {', '.join(self.order)}"
                             + (f" (groups: {', '.join(groups)})" if groups else ""))
        return chosen

    def select(self, names: list[str] | None) -> list[Service]:
        """The named services (or groups), in start order."""
        chosen = self._expand(names)
        return [self.services[n] for n in self.order if n in chosen]

    def with_dependencies(self, names: list[str] | None) -> list[Service]:
        """The named services and everything they depend on, in start order."""
        chosen = self._expand(names)
        todo = list(chosen)
        while todo:
            for dep in self.services[todo.pop()].depends_on:
                if dep not in chosen:
                    chosen.add(dep)
                    todo.append(dep)
        return [self.services[n] for n in self.order if n in chosen]

    def with_dependents(self, names: list[str] | None) -> list[Service]:
        """The named services and everything that depends on them, in start order."""
        chosen = self._expand(names)
        grew = True
        while grew:
            grew = False
            for svc in self.services.values():
                if svc.name not in chosen and chosen & set(svc.depends_on):
                    chosen.add(svc.name)
                    grew = True
        return [self.services[n] for n in self.order if n in chosen]

    def to_start(self, names: list[str] | None) -> list[Service]:
        """What `up` starts: the named services (or, with no names, every service that is not
        optional) and everything they depend on, in start order."""
        if not names:
            names = [n for n in self.order if not self.services[n].optional]
            if not names:
                return []
        return self.with_dependencies(names)

    # ---- lifecycle -----------------------------------------------------------------------
    def up(self, names: list[str] | None = None, log=print) -> None:
        for svc in self.to_start(names):
            self._start(svc, log)

    def _after_healthy(self, svc: Service, ctx: ServiceContext, log) -> None:
        if svc.ready:
            svc.ready(ctx)
        for hook in self.hooks.get(svc.name, []):
            hook(self.settings, log)

    def _start(self, svc: Service, log) -> None:
        ctx = self.context(svc, log)
        pid = self.running_pid(svc)
        if pid is not None:
            if svc.health(ctx).ok:
                log(f"{svc.name}: already running (pid {pid}) at {svc.address(self.settings)}")
            else:
                self._wait_healthy(svc, ctx, pid)
            self._after_healthy(svc, ctx, log)
            return
        for port in svc.ports(self.settings):
            if port_open(port):
                raise StackError(
                    f"{svc.name}: port {port} on 127.0.0.1 is already taken by a process this stack "
                    f"did not start — stop it, or choose another port in .env, then `make up`")
        for d in (ctx.data_dir.parent, ctx.run_dir, ctx.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        ensure_private(ctx.log_file.parent)
        if ctx.user:
            ensure_traversable(ctx.data_dir.parent)
        if svc.prepare:
            svc.prepare(ctx)
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        chown_tree(ctx.run_dir, ctx.user)
        ensure_private(ctx.data_dir)
        env = dict(os.environ)
        if svc.env:
            env.update(svc.env(ctx))
        with open(ctx.log_file, "ab") as logf:
            logf.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {svc.name}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                svc.command(ctx), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=ctx.data_dir, env=env, start_new_session=True, **drop_privileges(ctx.user),
            )
        self.pid_file(svc).write_text(str(proc.pid))
        try:
            self._wait_healthy(svc, ctx, proc.pid)
        except StackError:
            self._stop(svc, log=lambda *_: None)
            raise
        log(f"{svc.name}: started (pid {proc.pid}) at {svc.address(self.settings)}")
        self._after_healthy(svc, ctx, log)

    def _wait_healthy(self, svc: Service, ctx: ServiceContext, pid: int) -> None:
        from ..waits import TimedOut, poll_until

        def check() -> Health:
            if not pid_alive(pid):
                raise StackError(f"{svc.name}: exited during start-up — last lines of "
                                 f"{ctx.log_file}:\n{tail(ctx.log_file)}")
            return svc.health(ctx)

        try:
            poll_until(check, timeout_s=svc.start_timeout_s, interval_s=0.3, done=lambda h: h.ok)
        except TimedOut as exc:
            detail = exc.last.detail if exc.last else "not checked"
            raise StackError(f"{svc.name}: not healthy after {svc.start_timeout_s:.0f}s ({detail}) — "
                             f"see {ctx.log_file}:\n{tail(ctx.log_file)}") from None

    def down(self, names: list[str] | None = None, log=print) -> None:
        """Stop the services (and whatever depends on them), dependents first."""
        for svc in reversed(self.with_dependents(names)):
            self._stop(svc, log)

    def stop_only(self, names: list[str], log=print) -> None:
        """Stop exactly these services, leaving their dependents running (fault-injection tests:
        a broker restart under a live Connect worker)."""
        for svc in reversed(self.select(names)):
            self._stop(svc, log)

    def _stop(self, svc: Service, log) -> None:
        pid = self.running_pid(svc)
        pf = self.pid_file(svc)
        if pid is None:
            pf.unlink(missing_ok=True)
            log(f"{svc.name}: not running")
            return
        procs = _tree(pid)
        try:
            os.killpg(pid, svc.stop_signal)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + svc.stop_timeout_s
        while time.monotonic() < deadline and _alive(procs):
            time.sleep(0.2)
        leftovers = _alive(procs)
        if leftovers:
            for p in leftovers:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            log(f"{svc.name}: did not stop in {svc.stop_timeout_s:.0f}s, killed")
        pf.unlink(missing_ok=True)
        log(f"{svc.name}: stopped")

    def status(self, *, every: bool = False) -> list[dict]:
        """One row per service; an optional service that is not running is listed only with
        ``every=True`` (it is not a problem: `up` does not start it unless asked)."""
        rows = []
        for svc in self.select(None):
            pid = self.running_pid(svc)
            if svc.optional and not pid and not every:
                continue
            how = f"`jornada stack up {svc.group or svc.name}` (optional)" if svc.optional else "`make up`"
            health = (svc.health(self.context(svc)) if pid
                      else Health(False, f"not running — {how}"))
            rows.append({"service": svc.name, "describe": svc.describe, "pid": pid,
                         "healthy": health.ok, "detail": health.detail, "optional": svc.optional,
                         "endpoint": svc.address(self.settings)})
        return rows

    def reset(self, names: list[str] | None = None, log=print) -> None:
        """Stop the services and delete their data (the next `up` starts from scratch)."""
        self.down(names, log=log)
        for svc in self.select(names):
            data = self.root / "data" / svc.name
            if data.exists():
                shutil.rmtree(data)
                log(f"{svc.name}: data removed")

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each running service's whole process group, in MiB."""
        out = {}
        for svc in self.select(None):
            pid = self.running_pid(svc)
            if pid or not svc.optional:
                out[svc.name] = group_rss_mb(pid) if pid else 0.0
        return out


def _start_order(services: dict[str, Service]) -> list[str]:
    """Declaration order, moved only as far as dependencies require (a stable topological sort)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in visiting:
            raise StackError(f"dependency cycle: {' → '.join((*path, name))}")
        if name not in services:
            raise StackError(f"{path[-1]} depends on unknown service {name!r}")
        visiting.add(name)
        for dep in services[name].depends_on:
            visit(dep, (*path, name))
        visiting.discard(name)
        order.append(name)

    for name in services:
        visit(name, ())
    return order


def ensure_private(path: Path) -> None:
    """Data and logs hold secrets and every row of the shop: no access for other users."""
    try:
        path.chmod(path.stat().st_mode & 0o700)
    except OSError:
        pass


def _tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (Postgres children leave our process group)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def group_rss_mb(pid: int) -> float:
    total = 0
    for p in _alive(_tree(pid)):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1024 / 1024


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


START_MARKER = "==== "  # the line `up` writes into a service's log before each start


def last_start(path: Path, lines: int = 8, until: str | None = None) -> str:
    """The log of a service's latest start: from the marker line `up` wrote, ``lines`` lines, or
    up to and including the first line containing ``until`` (e.g. Postgres' "ready to accept
    connections"). Not the end of the file: that holds whatever clients provoked later (lesson
    01's deliberate constraint violations end up in the OLTP's log as ERROR lines)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    starts = [i for i, line in enumerate(text) if line.startswith(START_MARKER)]
    text = text[starts[-1] if starts else 0:]
    if until:
        end = next((i for i, line in enumerate(text) if until in line), None)
        if end is not None:
            return "\n".join(text[:end + 1])
    return "\n".join(text[:lines])
