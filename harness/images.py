"""Docker images of durabench: their names, and ``durabench images build [--offline]``.

Image names (:class:`ImageSet`, read by the docker environment and ``docker-compose.yml``):

- project image (provider, workers): ``DURABENCH_IMAGE``, default ``durabench:latest``;
- Postgres: ``DURABENCH_POSTGRES_IMAGE``, default ``postgres:16``, offline
  ``durabench-postgres:latest``;
- Toxiproxy: ``DURABENCH_TOXIPROXY_IMAGE``, default ``ghcr.io/shopify/toxiproxy:2.12.0``, offline
  ``durabench-toxiproxy:latest``.

Both Toxiproxy images run the real Toxiproxy server as ``/toxiproxy -host=0.0.0.0`` by default
(API on 8474) and have a ``/toxiproxy-cli list`` for healthchecks; both Postgres images honour
the official image's ``POSTGRES_*`` variables and ``PGDATA``. So a consumer starts either set the
same way.

Online build (needs PyPI and Docker Hub): ``durabench:latest`` from ``python:3.12-slim`` with
``docker/Dockerfile``. Offline build (needs only the Debian mirror apt uses and PyPI on the host;
nothing is pulled), in order:

1. debootstrap a bookworm rootfs (minbase + :data:`BASE_PACKAGES`) into a tarball cached under
   ``<cache>/rootfs-<key>.tar``, keyed by suite and package list;
2. ``docker import`` it as ``durabench-base:bookworm`` (skipped when the image carries the key);
3. ``pip wheel`` the project's dependencies on the host into ``<cache>/wheels-<key>/`` (keyed by
   the dependency list and the Python tag), and the project's own wheel;
4. build ``durabench:latest`` FROM the base with those wheels (no network inside the build);
5. build ``durabench-postgres:latest`` (Postgres 15 from the base) and
   ``durabench-toxiproxy:latest``: the real ``toxiproxy-server`` and ``toxiproxy-cli`` built on the
   host (``DURABENCH_TOXIPROXY_SERVER``, else ``toxiproxy-server`` on PATH; the CLI beside it;
   ``scripts/build-toxiproxy.sh`` makes both from a source tarball) copied onto the base
   (``docker/Dockerfile.toxiproxy``). Without such a binary it falls back to the project image
   running the embedded Toxiproxy-compatible server (``docker/Dockerfile.toxiproxy-embedded``) and
   says so; the image's ``org.durabench.toxiproxy`` label and ``-version`` tell which it is.

Every failure raises :class:`ImagesError` whose message says what to do next.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ENV_IMAGE = "DURABENCH_IMAGE"
ENV_POSTGRES_IMAGE = "DURABENCH_POSTGRES_IMAGE"
ENV_TOXIPROXY_IMAGE = "DURABENCH_TOXIPROXY_IMAGE"
ENV_CACHE_DIR = "DURABENCH_CACHE_DIR"

PROJECT_IMAGE = "durabench:latest"
PUBLIC_POSTGRES_IMAGE = "postgres:16"
PUBLIC_TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
PUBLIC_PYTHON_IMAGE = "python:3.12-slim"
BASE_IMAGE = "durabench-base:bookworm"
OFFLINE_POSTGRES_IMAGE = "durabench-postgres:latest"
OFFLINE_TOXIPROXY_IMAGE = "durabench-toxiproxy:latest"

SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "postgresql-15", "ca-certificates", "procps")
#: bookworm's python3; host-built wheels must carry this tag (or be pure Python).
BASE_PYTHON = (3, 11)
ROOTFS_LABEL = "org.durabench.rootfs"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_PROJECT_FILES = ("pyproject.toml", "README.md", "harness", "reference_runtime")
_DOCKER_FILES = ("Dockerfile", "Dockerfile.postgres", "Dockerfile.toxiproxy",
                 "Dockerfile.toxiproxy-embedded", "toxiproxy-entrypoint.sh", "toxiproxy_cli.py",
                 "postgres-entrypoint.sh")
TOXIPROXY_LABEL = "org.durabench.toxiproxy"
_ENGINE_HINT = ("start one with `sudo scripts/docker-engine.sh` (installs docker.io and runs "
                "dockerd --iptables=false), or point DOCKER_HOST at a running engine")

Log = Callable[[str], None]


class ImagesError(RuntimeError):
    """An image could not be built or inspected; the message says what to do."""


@dataclass(frozen=True)
class ImageSet:
    """The three images a docker run needs. ``from_env`` applies the ``DURABENCH_*`` overrides."""

    project: str = PROJECT_IMAGE
    postgres: str = PUBLIC_POSTGRES_IMAGE
    toxiproxy: str = PUBLIC_TOXIPROXY_IMAGE
    offline: bool = False

    @classmethod
    def defaults(cls, offline: bool) -> ImageSet:
        if offline:
            return cls(PROJECT_IMAGE, OFFLINE_POSTGRES_IMAGE, OFFLINE_TOXIPROXY_IMAGE, True)
        return cls()

    @classmethod
    def from_env(cls, offline: bool, environ: Mapping[str, str] | None = None) -> ImageSet:
        env = os.environ if environ is None else environ
        base = cls.defaults(offline)
        return cls(
            project=env.get(ENV_IMAGE) or base.project,
            postgres=env.get(ENV_POSTGRES_IMAGE) or base.postgres,
            toxiproxy=env.get(ENV_TOXIPROXY_IMAGE) or base.toxiproxy,
            offline=offline,
        )

    def names(self) -> tuple[str, str, str]:
        return (self.project, self.postgres, self.toxiproxy)


@dataclass(frozen=True)
class BuildOptions:
    offline: bool = False
    project_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parents[1])
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    mirror: str | None = None  # None: the Debian mirror apt uses on this host
    images: ImageSet = field(default_factory=ImageSet)
    refresh: bool = False  # rebuild the rootfs and wheel caches


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    detail: str


@dataclass(frozen=True)
class BuildReport:
    stages: tuple[Stage, ...]
    images: tuple[str, ...]

    def format(self) -> str:
        lines = [f"  {s.name:<16} {s.seconds:7.1f} s  {s.detail}" for s in self.stages]
        total = sum(s.seconds for s in self.stages)
        lines.append(f"  {'total':<16} {total:7.1f} s")
        lines.append("images: " + ", ".join(self.images))
        return "\n".join(lines)


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "durabench"


# -- running commands ---------------------------------------------------------------------------


def _run(argv: Sequence[str], what: str, hint: str, *, timeout_s: float = 1800,
         stdin: int | None = None, quiet: bool = True, cwd: Path | None = None,
         env: Mapping[str, str] | None = None) -> str:
    """Run ``argv``; on failure raise ImagesError with the output's tail and ``hint``."""
    try:
        proc = subprocess.run(list(argv), stdin=stdin, capture_output=quiet, text=True,
                              timeout=timeout_s, cwd=cwd, env=env, check=False)
    except FileNotFoundError as exc:
        raise ImagesError(f"{what}: {argv[0]} not found; {hint}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ImagesError(f"{what}: no result after {timeout_s:.0f} s; {hint}") from exc
    if proc.returncode != 0:
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-25:])
        raise ImagesError(f"{what} failed (exit {proc.returncode}); {hint}\n{tail}".rstrip())
    return proc.stdout or ""


def engine_available(timeout_s: float = 10.0) -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    if shutil.which("docker") is None:
        return "the docker CLI is not on PATH"
    try:
        proc = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"`docker version` did not answer within {timeout_s:.0f} s"
    if proc.returncode != 0:
        return "no Docker engine answers: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return None


def _require_engine() -> None:
    reason = engine_available()
    if reason is not None:
        raise ImagesError(f"{reason}; {_ENGINE_HINT}")


def image_label(image: str, label: str) -> str | None:
    """The image's ``label`` value ("" when unset); None when the image does not exist."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}',
         image], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return None
    value = proc.stdout.strip()
    return "" if value == "<no value>" else value


def image_exists(image: str) -> bool:
    return image_label(image, ROOTFS_LABEL) is not None


@contextmanager
def _stage(stages: list[Stage], name: str, log: Log) -> Iterator[list[str]]:
    """Time one stage; the body appends a one-line detail to the yielded list."""
    log(f"[images] {name} ...")
    detail: list[str] = []
    t0 = time.monotonic()
    yield detail
    seconds = time.monotonic() - t0
    stages.append(Stage(name, seconds, " ".join(detail)))
    log(f"[images] {name}: {' '.join(detail)} ({seconds:.1f} s)")


# -- offline base: debootstrap rootfs -> docker import -----------------------------------------


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt uses here (deb822 or one-line sources), else deb.debian.org."""
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.findall(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.findall(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites[0].split():
                return uris[0].rstrip("/")
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s", text, re.M):
            if m.group(2) == SUITE:
                return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def rootfs_key() -> str:
    """Cache key of the rootfs; bump the last field when :data:`_ROOTFS_TRIM` changes."""
    spec = f"{SUITE}|minbase|{','.join(sorted(BASE_PACKAGES))}|trim2"
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


# LLVM (and z3, its dependency) serve only Postgres's JIT, which is then reported unavailable.
_ROOTFS_TRIM = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*",
                "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*/LC_MESSAGES",
                "usr/lib/*-linux-gnu/libLLVM-*", "usr/lib/*-linux-gnu/libz3.so*",
                "usr/lib/postgresql/15/lib/llvmjit*", "usr/lib/postgresql/15/lib/bitcode",
                "var/lib/postgresql/15", "etc/postgresql/15", "var/log/*.log")


def _trim_rootfs(root: Path) -> None:
    """Drop apt caches, docs, translations, LLVM and the cluster postgresql-15's postinst
    created: the base image shrinks from ~470 MB to ~250 MB."""
    for pattern in _ROOTFS_TRIM:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def build_rootfs(options: BuildOptions, log: Log) -> tuple[Path, bool]:
    """The cached rootfs tarball (building it when missing) and whether it was built now."""
    tarball = options.cache_dir / f"rootfs-{rootfs_key()}.tar"
    if tarball.exists() and not options.refresh:
        return tarball, False
    if shutil.which("debootstrap") is None:
        raise ImagesError("debootstrap is not installed; run `apt-get install -y debootstrap` "
                          "(or scripts/docker-engine.sh, which installs it)")
    if os.geteuid() != 0:
        raise ImagesError("debootstrap needs root; run `sudo durabench images build --offline`")
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    mirror = options.mirror or debian_mirror()
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=options.cache_dir) as tmp:
        root = Path(tmp) / "root"
        log(f"[images] debootstrap {SUITE} from {mirror} (+{','.join(BASE_PACKAGES)})")
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
              SUITE, str(root), mirror], "debootstrap",
             f"check that {mirror} is reachable (apt-get update works) or pass --mirror URL",
             timeout_s=1200)
        _trim_rootfs(root)
        partial = tarball.with_suffix(".tar.partial")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
             "tar of the rootfs", f"check free space under {options.cache_dir}")
        partial.replace(tarball)
    _drop_stale(options.cache_dir, "rootfs-*.tar", keep=tarball)
    return tarball, True


def _drop_stale(cache_dir: Path, pattern: str, keep: Path) -> None:
    """Remove cache entries of older keys: one rootfs and one wheel set are kept."""
    for path in cache_dir.glob(pattern):
        if path != keep:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def import_base(tarball: Path, options: BuildOptions) -> bool:
    """``docker import`` the rootfs unless the base image already carries its key."""
    key = rootfs_key()
    if image_label(BASE_IMAGE, ROOTFS_LABEL) == key and not options.refresh:
        return False
    changes = [f"LABEL {ROOTFS_LABEL}={key}", "ENV LANG=C.UTF-8",
               "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               'CMD ["/bin/bash"]']
    argv = ["docker", "import"]
    for change in changes:
        argv += ["--change", change]
    _run([*argv, str(tarball), BASE_IMAGE], "docker import of the rootfs",
         f"remove {tarball} to rebuild it if it is damaged; {_ENGINE_HINT}", timeout_s=600)
    return True


# -- host wheels --------------------------------------------------------------------------------


IMAGE_EXTRAS = ("dbos", "langgraph", "temporal")
"""Optional dependency groups the project image includes (docker/Dockerfile reads the same)."""


def _project_args(base_image: str) -> dict[str, str]:
    return {"BASE_IMAGE": base_image, "EXTRAS": " ".join(IMAGE_EXTRAS)}


def project_dependencies(project_dir: Path) -> list[str]:
    with (project_dir / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    extras = project.get("optional-dependencies", {})
    deps: list[str] = [*project["dependencies"], *(d for e in IMAGE_EXTRAS for d in extras[e])]
    return deps


def build_wheels(options: BuildOptions, log: Log) -> tuple[Path, bool]:
    """Dependency wheels for the base's Python, cached by dependency list; (dir, built now)."""
    if sys.version_info[:2] != BASE_PYTHON:
        want = ".".join(map(str, BASE_PYTHON))
        raise ImagesError(
            f"offline wheels are built by this Python ({sys.version.split()[0]}), but the "
            f"bookworm base runs Python {want}; run `durabench images build --offline` from a "
            f"Python {want} virtualenv")
    deps = project_dependencies(options.project_dir)
    spec = "|".join([*sorted(deps), sys.implementation.cache_tag or "", sys.platform])
    wheels = options.cache_dir / f"wheels-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"
    if (wheels / ".complete").exists() and not options.refresh:
        return wheels, False
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    requirements = wheels / "requirements.txt"
    requirements.write_text("\n".join(deps) + "\n", encoding="utf-8")
    log(f"[images] pip wheel of {len(deps)} dependencies into {wheels}")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), "-r", str(requirements)],
         "pip wheel of the dependencies", "pip needs PyPI (or a mirror set in pip.conf)")
    (wheels / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"), encoding="utf-8")
    _drop_stale(options.cache_dir, "wheels-*", keep=wheels)
    return wheels, True


def build_project_wheel(project_dir: Path, dist: Path) -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    # A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical for identical sources, so the
    # image's last layer stays cached until the code changes.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
          str(project_dir)], "pip wheel of the project",
         "pip needs PyPI to fetch setuptools for the build", env=env)
    found = sorted(dist.glob("durabench-*.whl"))
    if not found:
        raise ImagesError(f"pip wheel wrote no durabench wheel into {dist}")
    return found[-1]


# -- docker build -------------------------------------------------------------------------------


def make_context(project_dir: Path, ctx: Path) -> Path:
    """A clean build context: project sources plus docker/ (the legacy builder has no ignore
    file for ``-f docker/Dockerfile``, and a repo root holds .venv and reports)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    ctx.mkdir(parents=True)
    for name in _PROJECT_FILES:
        src = project_dir / name
        if not src.exists():
            raise ImagesError(f"{src} is missing; run from a durabench checkout")
        if src.is_dir():
            shutil.copytree(src, ctx / name, ignore=ignore)
        else:
            shutil.copy2(src, ctx / name)
    (ctx / "docker").mkdir()
    for name in _DOCKER_FILES:
        shutil.copy2(project_dir / "docker" / name, ctx / "docker" / name)
    return ctx


def docker_build(ctx: Path, dockerfile: str, tag: str, build_args: Mapping[str, str],
                 log: Log, hint: str) -> None:
    argv = ["docker", "build", "-q", "-f", str(ctx / "docker" / dockerfile), "-t", tag]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    log(f"[images] docker build {tag} ({dockerfile})")
    _run([*argv, str(ctx)], f"docker build of {tag}", hint, timeout_s=1800)


_ONLINE_HINT = (f"the online build pulls {PUBLIC_PYTHON_IMAGE} and installs from PyPI; without "
                "registry access use `durabench images build --offline` (see docs/docker.md)")
_OFFLINE_HINT = ("the offline build uses only local images and the host-built wheels; the "
                 "output below says which step failed (`--refresh` rebuilds the caches)")


@contextmanager
def _build_lock(cache_dir: Path, log: Log) -> Iterator[None]:
    """One build at a time per cache (pytest-xdist workers, two shells): the second waits and
    then finds everything cached."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / "build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"[images] another build holds {cache_dir / 'build.lock'}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_images(options: BuildOptions, log: Log = print) -> BuildReport:
    """Build the online or offline image set (module docstring); returns per-stage timings."""
    _require_engine()
    stages: list[Stage] = []
    built: list[str] = []
    with _build_lock(options.cache_dir, log), \
            tempfile.TemporaryDirectory(prefix="durabench-images-") as tmp:
        ctx = make_context(options.project_dir, Path(tmp) / "ctx")
        if not options.offline:
            with _stage(stages, "project image", log) as detail:
                docker_build(ctx, "Dockerfile", options.images.project,
                             _project_args(PUBLIC_PYTHON_IMAGE), log, _ONLINE_HINT)
                detail.append(f"{options.images.project} FROM {PUBLIC_PYTHON_IMAGE}")
            return BuildReport(tuple(stages), (options.images.project,))
        with _stage(stages, "debootstrap", log) as detail:
            tarball, fresh = build_rootfs(options, log)
            detail.append(("built " if fresh else "cached ") + str(tarball))
        with _stage(stages, "docker import", log) as detail:
            imported = import_base(tarball, options)
            detail.append(f"{BASE_IMAGE} {'imported' if imported else 'up to date'}")
        with _stage(stages, "wheels", log) as detail:
            wheels, fresh = build_wheels(options, log)
            shutil.copytree(wheels, ctx / "wheels", ignore=shutil.ignore_patterns(".complete"))
            wheel = build_project_wheel(options.project_dir, ctx / "dist")
            detail.append(f"{'built' if fresh else 'cached'} {wheels.name} + {wheel.name}")
        built += _build_offline_images(ctx, options, stages, log)
    return BuildReport(tuple(stages), (BASE_IMAGE, *built))


def _build_offline_images(ctx: Path, options: BuildOptions, stages: list[Stage],
                          log: Log) -> list[str]:
    project = options.images.project
    postgres = options.images.postgres
    toxiproxy = options.images.toxiproxy
    with _stage(stages, "project image", log) as detail:
        docker_build(ctx, "Dockerfile", project, _project_args(BASE_IMAGE), log, _OFFLINE_HINT)
        detail.append(f"{project} FROM {BASE_IMAGE}")
    with _stage(stages, "postgres image", log) as detail:
        docker_build(ctx, "Dockerfile.postgres", postgres, {"BASE_IMAGE": BASE_IMAGE}, log,
                     _OFFLINE_HINT)
        detail.append(f"{postgres} (PostgreSQL 15) FROM {BASE_IMAGE}")
    with _stage(stages, "toxiproxy image", log) as detail:
        detail.append(_build_toxiproxy_image(ctx, project, toxiproxy, log))
    return [project, postgres, toxiproxy]


def _real_toxiproxy() -> tuple[Path, Path] | None:
    """The host's ``toxiproxy-server`` and the ``toxiproxy-cli`` beside it, if both exist."""
    from harness.net import find_binary

    found = find_binary()
    server = Path(shutil.which(found) or found) if found else None
    if server is None or not server.is_file():
        return None
    cli = server.with_name("toxiproxy-cli")
    return (server, cli) if cli.is_file() else None


def _build_toxiproxy_image(ctx: Path, project: str, tag: str, log: Log) -> str:
    """The real Toxiproxy onto the base image, or the embedded fallback; returns the detail."""
    real = _real_toxiproxy()
    if real is None:
        log("[images] no toxiproxy-server + toxiproxy-cli (DURABENCH_TOXIPROXY_SERVER or PATH): "
            f"{tag} runs the embedded Toxiproxy-compatible server; for the real one build it with "
            "scripts/build-toxiproxy.sh TARBALL OUT_DIR and set DURABENCH_TOXIPROXY_SERVER")
        docker_build(ctx, "Dockerfile.toxiproxy-embedded", tag, {"PROJECT_IMAGE": project}, log,
                     _OFFLINE_HINT)
        return f"{tag} FROM {project} (embedded server: no real toxiproxy-server found)"
    server, cli = real
    version = _run([str(server), "-version"], f"{server} -version",
                   f"{server} does not run here; rebuild it (scripts/build-toxiproxy.sh)").strip()
    label = f"real {version.rsplit(' ', 1)[-1]}"
    (ctx / "toxiproxy").mkdir(exist_ok=True)
    shutil.copy2(server, ctx / "toxiproxy" / "toxiproxy-server")
    shutil.copy2(cli, ctx / "toxiproxy" / "toxiproxy-cli")
    docker_build(ctx, "Dockerfile.toxiproxy", tag,
                 {"BASE_IMAGE": BASE_IMAGE, "TOXIPROXY_LABEL": label}, log, _OFFLINE_HINT)
    return f"{tag} ({label}, from {server}) FROM {BASE_IMAGE}"


# -- CLI: durabench images ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build", "names"),
                        help="build: build the images; names: print the image names in use")
    parser.add_argument("--offline", action="store_true",
                        help="build without any registry: debootstrap a Debian base, host wheels "
                             "(needs root, debootstrap, the apt mirror and PyPI on the host)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help=f"rootfs and wheel cache (default ${ENV_CACHE_DIR} or "
                             "~/.cache/durabench)")
    parser.add_argument("--mirror", default=None, metavar="URL",
                        help="Debian mirror for debootstrap (default: the one apt uses)")
    parser.add_argument("--refresh", action="store_true",
                        help="rebuild the cached rootfs and wheels")


def run_images(args: argparse.Namespace) -> int:
    """``durabench images build|names``; 0 on success, 1 when a build step failed."""
    images = ImageSet.from_env(offline=args.offline)
    if args.action == "names":
        for role, name in zip(("project", "postgres", "toxiproxy"), images.names(), strict=True):
            print(f"{role}\t{name}")
        return 0
    options = BuildOptions(offline=args.offline, images=images, mirror=args.mirror,
                           refresh=args.refresh,
                           cache_dir=args.cache_dir or default_cache_dir())
    mode = "offline" if args.offline else "online"
    print(f"durabench images: {mode} build of {', '.join(images.names()[:1 + 2 * args.offline])}",
          flush=True)
    try:
        report = build_images(options, log=lambda line: print(line, flush=True))
    except ImagesError as exc:
        print(f"durabench images: {exc}", file=sys.stderr)
        return 1
    print(report.format())
    if args.offline:
        print("use them with: export "
              f"{ENV_POSTGRES_IMAGE}={images.postgres} {ENV_TOXIPROXY_IMAGE}={images.toxiproxy}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="durabench images", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_images(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
