"""Jar sets: JVM dependencies fetched once by Maven from Maven Central, never committed.

A set is a pom under ``stack/maven/<set>/`` plus the versions it takes from stack/versions.env
(passed as ``-D`` properties). :meth:`JarSet.ensure` copies what the pom resolves into
``.cache/jars/<set>-<version>`` (a temporary folder renamed when complete, so a half-done fetch
is never used) and writes a manifest listing the jars. The classpath is that explicit list — only
the jars whose names start with one of ``classpath`` when the set says so — never a folder glob.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import REPO_ROOT
from .runtime import StackError

JAR_CACHE = REPO_ROOT / ".cache" / "jars"
MAVEN_DIR = REPO_ROOT / "stack" / "maven"
MANIFEST = "jornada-jars.json"  # written last: its presence means the folder is complete


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Fetched:
    folder: Path          # where the jars are (a plugin set: the plugin path)
    jar_dir: Path         # the folder holding the jar files themselves
    jars: list[str]       # the jars that go on a classpath, by file name
    manifest: dict

    @property
    def classpath(self) -> str:
        return os.pathsep.join(str(self.jar_dir / j) for j in self.jars)


@dataclass(frozen=True)
class JarSet:
    name: str                                   # stack/maven/<name>/pom.xml
    properties: tuple[tuple[str, str], ...]     # (maven property, stack/versions.env key)
    classpath: tuple[str, ...] = ()             # jar-name prefixes on the classpath (() = all)
    plugin: str | None = None                   # Kafka Connect plugin: jars go in <folder>/<plugin>

    @property
    def pom(self) -> Path:
        return MAVEN_DIR / self.name / "pom.xml"

    def resolved_properties(self) -> dict[str, str]:
        from .. import versions

        return {prop: versions.get(key) for prop, key in self.properties}

    def version(self) -> str:
        return self.resolved_properties()[self.properties[0][0]]

    def folder(self, cache: Path = JAR_CACHE) -> Path:
        return cache / f"{self.name}-{self.version()}"

    def fetched(self, cache: Path = JAR_CACHE) -> Fetched | None:
        folder = self.folder(cache)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            jars = list(manifest["classpath"])
        except (OSError, ValueError, KeyError):
            return None
        # the folder is named after the first version only: a set of several versions (say
        # Spark's, whose Delta pin can move alone) is stale when any other one changed
        if manifest.get("properties", {}) != self.resolved_properties():
            return None
        jar_dir = folder / self.plugin if self.plugin else folder
        return Fetched(folder, jar_dir, jars, manifest)

    def ensure(self, log=_stderr, cache: Path = JAR_CACHE) -> Fetched:
        """Fetch once; later calls read the manifest (a new version gets a new folder)."""
        done = self.fetched(cache)
        if done:
            return done
        props = self.resolved_properties()
        target = self.folder(cache)
        log(f"fetching the {self.name} jars ({', '.join(props.values())}) with Maven into "
            f"{_rel(target)} (first start only) …")
        t0 = time.monotonic()
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        jar_dir = tmp / self.plugin if self.plugin else tmp
        jar_dir.mkdir(parents=True)
        run_mvn(self.pom, props, ["dependency:copy-dependencies", f"-DoutputDirectory={jar_dir}"],
                log, self.name)
        every = sorted(p.name for p in jar_dir.glob("*.jar"))
        if not every:
            raise StackError(f"Maven copied no jar for {self.name} into {jar_dir}")
        on_path = [j for j in every if not self.classpath or j.startswith(self.classpath)]
        missing = [p for p in self.classpath if not any(j.startswith(p) for j in every)]
        if missing:
            raise StackError(f"the {self.name} jar set lacks {missing}: check {_rel(self.pom)}")
        for extra in sorted(set(every) - set(on_path)):  # resolved but not wanted: not kept
            (jar_dir / extra).unlink()
        size = sum((jar_dir / j).stat().st_size for j in on_path)
        (tmp / MANIFEST).write_text(json.dumps({
            "set": self.name, "properties": props, "classpath": on_path, "bytes": size,
            "fetched": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2))
        if target.exists():  # someone else finished first (or a stale half-done folder): replace
            shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        log(f"  {self.name}: {len(on_path)} jars ({size / 1e6:.0f} MB) ready in "
            f"{time.monotonic() - t0:.0f}s")
        return self.fetched(cache)


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (`mvn`) is needed once to fetch the jars from Maven Central — "
                         "`make system-deps` (or `apt-get install -y maven`)")
    return mvn


def run_mvn(pom: Path, props: dict[str, str], goals: list[str], log=_stderr, what: str = "",
            profiles: list[str] = ()) -> str:
    """Run Maven in batch mode on ``pom``, reporting download progress every few seconds."""
    cmd = [_mvn(), "-B", "-Dstyle.color=never", "-f", str(pom),
           *[f"-D{k}={v}" for k, v in props.items()], *[a for p in profiles for a in ("-P", p)],
           *goals]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO_ROOT)
    lines: list[str] = []
    downloads = 0
    last_report = time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if "Downloaded from" in line:
            downloads += 1
            if time.monotonic() - last_report > 2:
                log(f"  {what}: {downloads} files downloaded …")
                last_report = time.monotonic()
    if proc.wait() != 0:
        tail = "\n".join(lines[-25:])
        raise StackError(f"Maven could not fetch the {what} jars (is Maven Central reachable?):\n"
                         f"  {' '.join(cmd)}\n{tail}")
    return "\n".join(lines)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
