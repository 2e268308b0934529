"""The SUT registry: every object registered under the entry point group ``durabench.suts``.

A distribution registers a SUT in its ``pyproject.toml``::

    [project.entry-points."durabench.suts"]
    myruntime = "mypackage.durabench_sut:SUT"

The entry point's name is the SUT's name (what ``--sut`` selects) and must equal the object's
``name``. The object is an instance (not a class) with every attribute of
:data:`~harness.sut._protocol.REQUIRED_ATTRIBUTES`. The reference runtime's SUTs are registered
exactly this way in durabench's own ``pyproject.toml``.

Loading is lazy: :func:`sut_names` reads only the installed distributions' metadata; an entry
point is imported the first time :func:`get_sut` asks for it, validated then, and cached. So a
broken third-party SUT costs nothing until someone selects it, and then fails with a
:class:`SutLoadError` naming the distribution and the entry point, not a traceback mid-trial.

An adapter's module must import without its runtime installed (import the runtime inside
``available()``, ``connect()`` and the worker's own entry point): ``durabench suts`` lists a SUT
that is registered but not installed, with what to install.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import metadata
from typing import cast, get_args

from harness.history import PROPERTIES
from harness.images import default_cache_dir
from harness.sut._protocol import REQUIRED_ATTRIBUTES, RecoveryPolicyName, SystemUnderTest
from harness.sut._releases import (
    ReleaseError,
    RunsReleases,
    ensure_release,
    parse_sut_spec,
    runtime_versions,
)

ENTRY_POINT_GROUP = "durabench.suts"


class SutLoadError(RuntimeError):
    """A registered SUT cannot be used: its entry point failed to import, or the object it names
    does not follow the SUT protocol. The message names the distribution and the entry point."""


class UnknownSutError(ValueError):
    """A name that no installed distribution registered; the message lists the valid names."""


@dataclass(frozen=True)
class Registration:
    """One entry point of the group, before it is loaded."""

    name: str
    value: str
    """``module:attribute`` as written in the distribution's metadata."""
    distribution: str

    def where(self) -> str:
        return (f"entry point {self.name!r} = {self.value!r} of distribution "
                f"{self.distribution!r} (group {ENTRY_POINT_GROUP})")  # fmt: skip


_lock = threading.Lock()
_loaded: dict[Registration, SystemUnderTest] = {}


def registrations() -> dict[str, Registration]:
    """Every registered SUT by name, from installed distributions' metadata (nothing imported).

    Raises :class:`SutLoadError` when two distributions register the same name.
    """
    found: dict[str, Registration] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "(unknown distribution)"
        reg = Registration(ep.name, ep.value, dist)
        other = found.get(ep.name)
        if other is not None and other != reg:
            raise SutLoadError(
                f"SUT {ep.name!r} is registered twice: {other.where()} and {reg.where()}; "
                "uninstall one of them"
            )
        found[ep.name] = reg
    return dict(sorted(found.items()))


def sut_names() -> tuple[str, ...]:
    """The names of every registered SUT, installed runtime or not, sorted."""
    return tuple(registrations())


def get_sut(name: str) -> SystemUnderTest:
    """The registered SUT ``name``, loaded and validated on first use; ``NAME==VERSION`` is the
    same SUT running that release of its runtime (:mod:`harness.sut._releases`), installed into
    a cached environment on first use.

    Raises :class:`UnknownSutError` (a name nobody registered), :class:`SutLoadError`, or
    :class:`~harness.sut._releases.ReleaseError` (a pin that cannot run, with what to do).
    """
    spec = parse_sut_spec(name)
    if spec.version is not None:
        return _get_pinned(spec.name, spec.version)
    regs = registrations()
    reg = regs.get(name)
    if reg is None:
        raise UnknownSutError(
            f"unknown SUT {name!r}; registered SUTs: {', '.join(regs) or '(none)'} "
            f"(a SUT is registered under the entry point group {ENTRY_POINT_GROUP!r})"
        )
    with _lock:
        if reg not in _loaded:
            _loaded[reg] = _load(reg, set(regs))
        return _loaded[reg]


_pinned: dict[tuple[str, str], SystemUnderTest] = {}
"""(pinned name, cache directory) -> the pinned SUT: a new cache directory is a new install."""


def _get_pinned(name: str, version: str) -> SystemUnderTest:
    pinned = f"{name}=={version}"
    key = (pinned, str(default_cache_dir()))
    if key in _pinned:
        return _pinned[key]
    base = get_sut(name)
    if not isinstance(base, RunsReleases):
        raise ReleaseError(f"{pinned}: the {name} SUT runs only the release installed with it "
                           f"(its adapter declares no release_support); run `--sut {name}`")
    support = base.release_support
    support.check(name, version)
    release = ensure_release(support, version, name)
    twin = base.twin
    if twin is not None:
        other = get_sut(twin)
        if isinstance(other, RunsReleases) and other.release_support == support:
            twin = f"{twin}=={version}"  # langgraph==X pairs with langgraph-nockpt==X
    sut = cast(SystemUnderTest, base.with_release(pinned, release, twin))
    with _lock:
        return _pinned.setdefault(key, sut)


def sut_versions(sut: SystemUnderTest) -> tuple[str, dict[str, str]]:
    """(the release of the runtime ``sut`` runs, every package of it -> version).

    A SUT that runs releases (:class:`RunsReleases`): its pinned release, else the installed one
    (``release_support.packages``). Any other: the version of the distribution that registered
    it (durabench's own SUTs: durabench's version), no packages. "" when unknown."""
    if isinstance(sut, RunsReleases):
        packages = runtime_versions(sut.release_support, sut.release)
        return packages.get(sut.release_support.packages[0], ""), packages
    reg = registrations().get(parse_sut_spec(sut.name).name)
    if reg is None:
        return "", {}
    try:
        return metadata.version(reg.distribution), {}
    except metadata.PackageNotFoundError:
        return "", {}


def _load(reg: Registration, registered: set[str]) -> SystemUnderTest:
    ep = metadata.EntryPoint(reg.name, reg.value, ENTRY_POINT_GROUP)
    try:
        obj = ep.load()
    except Exception as exc:
        raise SutLoadError(
            f"{reg.where()} failed to import: {type(exc).__name__}: {exc}; fix or reinstall "
            f"{reg.distribution}"
        ) from exc
    problems = protocol_problems(obj, reg.name, registered)
    if problems:
        raise SutLoadError(
            f"{reg.where()} does not follow the SUT protocol: {'; '.join(problems)} "
            "(see harness.sut.SystemUnderTest)"
        )
    return cast(SystemUnderTest, obj)


def protocol_problems(obj: object, name: str, registered: set[str]) -> list[str]:
    """What keeps ``obj`` from being the SUT registered as ``name`` (empty when nothing)."""
    if isinstance(obj, type):
        return [f"it names the class {obj.__name__}, not an instance of it"]
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(obj, a)]
    if missing:
        return [f"{type(obj).__name__} lacks {', '.join(missing)}"]
    problems: list[str] = []
    sut = cast(SystemUnderTest, obj)
    if sut.name != name:
        problems.append(f"its name is {sut.name!r}, not the entry point's name {name!r}")
    unknown = set(sut.promises) - set(PROPERTIES)
    if unknown:
        problems.append(f"it promises unknown properties {sorted(unknown)}; valid: "
                        f"{', '.join(PROPERTIES)}")  # fmt: skip
    policies = set(get_args(RecoveryPolicyName))
    if not sut.recovery_policies or set(sut.recovery_policies) - policies:
        problems.append(f"recovery_policies {sorted(sut.recovery_policies)} must be a non-empty "
                        f"subset of {', '.join(sorted(policies))}")  # fmt: skip
    if sut.twin is not None and sut.twin not in registered:
        problems.append(f"its twin {sut.twin!r} is not a registered SUT")
    for method in ("available", "describe", "services", "worker_command", "connect"):
        if not callable(getattr(obj, method)):
            problems.append(f"{method} is not callable")
    return problems


__all__ = [
    "ENTRY_POINT_GROUP",
    "Registration",
    "ReleaseError",
    "SutLoadError",
    "UnknownSutError",
    "get_sut",
    "protocol_problems",
    "registrations",
    "sut_names",
    "sut_versions",
]
