"""Any release of a peer runtime: ``NAME==VERSION`` SUT specs and their cached environments.

A SUT spec is a registered SUT's name, optionally pinned to one release of its runtime:
``dbos==2.23.0``, ``langgraph-nockpt==1.0.1``. An adapter that can run another release than the
installed one says so with :class:`RunsReleases` (the packages it needs, the range of releases
it works with); the registry (:func:`harness.sut.get_sut`) turns a pinned spec into the same
adapter configured for that release (``with_release``): its workers run on the release's
interpreter, its name carries the pin, so two releases sit side by side in one run.

Lifecycle of a release environment (:func:`ensure_release`), once per machine:

1. ``<cache>/releases/<package>-<version>-py<X.Y>/`` exists (it was renamed into place only when
   complete): reuse it, install nothing;
2. else take an exclusive ``flock`` on ``<key>.lock`` (parallel pytest-xdist workers wait on one
   another) and look again;
3. build it in ``<key>.partial``: a venv without pip, the release installed into it from the
   package registry by this interpreter's pip (``pip --python``), a ``.pth`` file that appends the
   harness's own paths (:data:`ENV_HOST_PATH`, set on every worker) *after* the venv's own
   site-packages, so the pinned package and its own dependency pins win while ``harness`` and its
   dependencies still import;
4. ask the new interpreter which versions it imports (``release.json``), then rename the
   directory into place.

``<cache>`` is ``$DURABENCH_CACHE_DIR`` or ``~/.cache/durabench`` (the image builder's too).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.images import default_cache_dir

ENV_HOST_PATH = "DURABENCH_HOST_PATH"
"""The harness's import paths (os.pathsep-separated), appended by a release environment's
``.pth`` after its own site-packages."""
PTH_NAME = "zz_durabench_host.pth"
PTH_LINE = ("import os, sys; sys.path.extend(p for p in os.environ.get("
            f"{ENV_HOST_PATH!r}, '').split(os.pathsep) if p and p not in sys.path)\n")
INSTALL_TIMEOUT_S = 900.0


class ReleaseError(ValueError):
    """A pinned SUT spec that cannot run: malformed, a release outside the adapter's range, a
    SUT that cannot be pinned, or a release the package registry does not have. One line, saying
    what to do."""


@dataclass(frozen=True)
class SutSpec:
    """``NAME`` or ``NAME==VERSION`` as given to ``--sut``."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}=={self.version}"


def parse_sut_spec(text: str) -> SutSpec:
    """``dbos`` -> SutSpec("dbos"); ``dbos==2.23.0`` -> SutSpec("dbos", "2.23.0").

    Raises :class:`ReleaseError` for anything else (another operator, an invalid version)."""
    text = text.strip()
    if "==" not in text:
        for op in (">=", "<=", "~=", "!=", ">", "<", "="):
            if op in text:
                raise ReleaseError(f"SUT {text!r}: pin one release with NAME==VERSION "
                                   f"(e.g. dbos==3.2.0), not a range")  # fmt: skip
        return SutSpec(text)
    name, _, version = (p.strip() for p in text.partition("=="))
    if not name or not version or "=" in version:
        raise ReleaseError(f"SUT {text!r}: expected NAME==VERSION, e.g. dbos==3.2.0")
    try:
        canonical = str(Version(version))
    except InvalidVersion:
        raise ReleaseError(f"SUT {text!r}: {version!r} is not a release version "
                           "(PEP 440, e.g. 2.23.0)") from None  # fmt: skip
    return SutSpec(name, version if canonical == version else canonical)


@dataclass(frozen=True)
class ReleaseSupport:
    """What an adapter needs to run another release of its runtime.

    ``packages[0]`` is the runtime the pin names (``dbos==X`` installs ``dbos==X``); the others
    are installed beside it at whatever release the package manager finds compatible (LangGraph's
    Postgres checkpointer). ``supported`` is the range of ``packages[0]`` releases the adapter
    works with (a PEP 440 specifier, e.g. ``>=3.0``)."""

    packages: tuple[str, ...]
    supported: str
    why: str = ""
    """Why older (or newer) releases are left out, for the error message."""

    def check(self, sut: str, version: str) -> None:
        """Raises :class:`ReleaseError` when ``version`` is outside :attr:`supported`."""
        try:
            spec = SpecifierSet(self.supported)
        except InvalidSpecifier as exc:  # the adapter's own mistake
            raise ReleaseError(f"SUT {sut!r} declares an invalid release range: {exc}") from exc
        if not spec.contains(Version(version), prereleases=True):
            raise ReleaseError(
                f"{sut}=={version}: {self.packages[0]} {version} is outside the releases the "
                f"{sut} adapter supports ({self.packages[0]}{self.supported}"
                f"{': ' + self.why if self.why else ''}); pick a release "
                f"in that range, or run `--sut {sut}` (the installed one)")

    def requirements(self, version: str) -> tuple[str, ...]:
        return (f"{self.packages[0]}=={version}", *self.packages[1:])


@dataclass(frozen=True)
class InstalledRelease:
    """A release environment, complete on disk."""

    path: Path
    python: str
    versions: Mapping[str, str]
    """Distribution -> version the environment's interpreter imports (every ``packages``)."""

    def version_of(self, package: str) -> str:
        return self.versions.get(package, "")


@runtime_checkable
class RunsReleases(Protocol):
    """An adapter that can run a pinned release of its runtime (optional SUT ability)."""

    release_support: ReleaseSupport
    release: InstalledRelease | None
    """The pinned release it runs, None: the one installed with the harness."""

    def with_release(self, name: str, release: InstalledRelease, twin: str | None) -> object:
        """This SUT as ``name`` (``dbos==2.23.0``), its workers on ``release.python``."""
        ...


def runtime_versions(support: ReleaseSupport, release: InstalledRelease | None) -> dict[str, str]:
    """Distribution -> version of every package ``support`` names that this SUT runs: the pinned
    release's, else the harness's own installed ones (missing packages left out)."""
    if release is not None:
        return dict(release.versions)
    from importlib import metadata

    found: dict[str, str] = {}
    for package in support.packages:
        with suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def release_worker_env(release: InstalledRelease | None) -> dict[str, str]:
    """What a worker on ``release``'s interpreter needs in its environment to import the harness
    (nothing for the harness's own interpreter)."""
    return {} if release is None else {ENV_HOST_PATH: host_path()}


class PinnableRelease:
    """The release plumbing of a frozen-dataclass peer adapter (:class:`RunsReleases`): its
    workers' interpreter, its worker environment and its pinned copy. The adapter declares the
    ``release`` field (default None) and ``release_support``."""

    release: InstalledRelease | None

    @property
    def python(self) -> str:
        """The interpreter of its workers: the pinned release's environment, else the harness's."""
        return self.release.python if self.release is not None else sys.executable

    def with_release(self, name: str, release: InstalledRelease, twin: str | None) -> Self:
        """This SUT as ``name`` (``dbos==3.2.0``), running ``release``."""
        return dataclasses.replace(self, name=name, release=release, twin=twin)  # type: ignore[type-var]

    def _worker_env(self) -> dict[str, str]:
        return release_worker_env(self.release)


def release_key(support: ReleaseSupport, version: str) -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{support.packages[0]}-{version}-py{py}"


def host_path() -> str:
    """The harness's import paths for :data:`ENV_HOST_PATH`: the directory holding the
    ``harness`` package, then this interpreter's site-packages."""
    import site

    import harness

    root = str(Path(harness.__file__).resolve().parent.parent)
    return os.pathsep.join(dict.fromkeys([root, *site.getsitepackages()]))


def ensure_release(support: ReleaseSupport, version: str, sut: str,
                   root: Path | None = None) -> InstalledRelease:  # fmt: skip
    """The environment of ``support.packages[0]==version``, built once (module docstring).

    Raises :class:`ReleaseError` when the package registry has no such release or pip fails."""
    base = (root or default_cache_dir()) / "releases"
    target = base / release_key(support, version)
    if not (target / "release.json").is_file():
        base.mkdir(parents=True, exist_ok=True)
        with _locked(base / f"{target.name}.lock"):
            if not (target / "release.json").is_file():
                _build(support, version, sut, target)
    return _read(target)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(support: ReleaseSupport, version: str, sut: str, target: Path) -> None:
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)  # a directory without release.json is incomplete
    print(f"[durabench] installing {' '.join(support.requirements(version))} into {target} "
          "(once; later runs reuse it)", file=sys.stderr, flush=True)  # fmt: skip
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(partial)], check=True,
                       capture_output=True, text=True)  # fmt: skip
        python = partial / "bin" / "python"
        _pip_install(support, version, sut, python)
        site_dir = _run_python(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        (Path(site_dir) / PTH_NAME).write_text(PTH_LINE)
        versions = json.loads(_run_python(python, _VERSIONS_SCRIPT, *support.packages))
        (partial / "release.json").write_text(json.dumps({
            "requirements": list(support.requirements(version)), "versions": versions,
            "python": sys.version.split()[0]}, indent=2))  # fmt: skip
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _pip_install(support: ReleaseSupport, version: str, sut: str, python: Path) -> None:
    argv = [sys.executable, "-m", "pip", "--python", str(python), "install",
            "--disable-pip-version-check", "--no-input", "-q",
            *support.requirements(version)]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"{sut}=={version}: pip did not finish installing it within "
                           f"{INSTALL_TIMEOUT_S:.0f} s; check the package registry is "
                           "reachable") from None  # fmt: skip
    if done.returncode != 0:
        raise ReleaseError(f"{sut}=={version}: {pip_failure(done.stderr, support, version)}")


def pip_failure(stderr: str, support: ReleaseSupport, version: str) -> str:
    """pip's failure in one line, with what to do."""
    errors = [ln.removeprefix("ERROR:").strip() for ln in stderr.splitlines()
              if ln.startswith("ERROR:")]  # fmt: skip
    package = support.packages[0]
    if any("No matching distribution found for" in e for e in errors):
        return (f"the package registry has no release {package}=={version} (pip: "
                f"{errors[-1]}); pick one from `pip index versions {package}`")
    detail = errors[-1] if errors else (stderr.strip().splitlines() or ["no output"])[-1]
    return f"pip could not install {package}=={version}: {detail}"


_VERSIONS_SCRIPT = """
import json, sys
from importlib import metadata
print(json.dumps({p: metadata.version(p) for p in sys.argv[1:]}))
"""


def _run_python(python: Path, script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != ENV_HOST_PATH}
    done = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True,
                          env=env)  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReleaseError(f"the release environment's python failed: {last}")
    return done.stdout.strip()


def _read(target: Path) -> InstalledRelease:
    data = json.loads((target / "release.json").read_text())
    return InstalledRelease(target, str(target / "bin" / "python"), dict(data["versions"]))


__all__ = [
    "ENV_HOST_PATH",
    "InstalledRelease",
    "ReleaseError",
    "ReleaseSupport",
    "RunsReleases",
    "SutSpec",
    "ensure_release",
    "host_path",
    "parse_sut_spec",
    "pip_failure",
    "release_worker_env",
    "runtime_versions",
]
