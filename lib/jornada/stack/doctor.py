"""`jornada stack doctor`: is this machine able to run the native stack? Each problem names its fix."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass

from .postgres import pg_bin
from .runtime import Stack, StackError, port_open

MIN_JAVA = 17
MIN_FREE_RAM_GB = 4.0
MIN_FREE_DISK_GB = 5.0
SUPPORTED_ARCH = {"x86_64", "amd64", "aarch64", "arm64"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def java_version() -> int | None:
    java = shutil.which("java")
    if not java:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8" means Java 8


def mem_available_gb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def run_checks(stack: Stack) -> list[Check]:
    checks: list[Check] = []
    jv = java_version()
    checks.append(Check(
        "java", jv is not None and jv >= MIN_JAVA, f"Java {jv}" if jv else "java not found",
        f"install OpenJDK {MIN_JAVA}+: `apt-get install -y openjdk-17-jre-headless`"
        " (Kafka, Connect and Spark need it from lesson 03 on)"))
    ram = mem_available_gb()
    checks.append(Check("memory", ram >= MIN_FREE_RAM_GB, f"{ram:.1f} GB available",
                        f"free memory: the full stack wants about {MIN_FREE_RAM_GB:.0f} GB; "
                        "close other programs or start fewer services (`jornada stack up oltp olap`)"))
    arch = platform.machine().lower()
    checks.append(Check("cpu", arch in SUPPORTED_ARCH, f"{arch}, {_cores()} cores",
                        "use an x86_64 or arm64 machine (the Postgres binaries ship for those)"))
    stack.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(stack.root).free / 1024**3
    checks.append(Check("disk", free >= MIN_FREE_DISK_GB, f"{free:.1f} GB free at {stack.root}",
                        f"free at least {MIN_FREE_DISK_GB:.0f} GB, or set JORNADA_STACK_DIR in .env "
                        "to a bigger disk"))
    for svc in stack.select(None):
        ours = stack.running_pid(svc) is not None
        for port in dict.fromkeys(svc.ports(stack.settings)):
            busy = port_open(port)
            detail = (f"{port} in use by our {svc.name}" if ours and busy else
                      f"{port} taken by another program" if busy else f"{port} free")
            checks.append(Check(f"port {svc.name}" + ("" if port == svc.ports(stack.settings)[0] else f" {port}"),
                                ours or not busy, detail,
                                f"stop the program on port {port} (`ss -ltnp 'sport = :{port}'` shows "
                                f"it) or choose another port for {svc.name} in .env"))
    try:
        checks.append(Check("postgres binaries", True, pg_bin("postgres")))
    except StackError as exc:
        checks.append(Check("postgres binaries", False, str(exc), "run `make setup`"))
    return checks


def _cores() -> int:
    import os

    return os.cpu_count() or 1
