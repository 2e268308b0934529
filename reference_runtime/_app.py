"""The registry of workflows and steps: ``App`` and its two decorators.

``@app.workflow()`` registers a function under a name and returns it unchanged (calling it
directly just runs it). ``@app.step()`` returns a wrapper that is durable inside a workflow
execution and a plain call anywhere else. Names default to the function's ``__qualname__``; they
are what the store records, so keep them stable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from reference_runtime._steps import RetryPolicy, StepDef, call_step

F = TypeVar("F", bound=Callable[..., Any])
_WORKFLOW_ATTR = "__reference_runtime_workflow__"


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    fn: Callable[..., Any]


class App:
    """A named registry of workflows and steps; define it at module level so workers import it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._workflows: dict[str, WorkflowDef] = {}
        self._steps: dict[str, StepDef] = {}

    def __repr__(self) -> str:
        return f"App({self.name!r}, workflows={sorted(self._workflows)})"

    def workflow(self, name: str | None = None) -> Callable[[F], F]:
        """Register a workflow ``fn(*args) -> JSON``."""

        def register(fn: F) -> F:
            wf_name = name or fn.__qualname__
            if wf_name in self._workflows and self._workflows[wf_name].fn is not fn:
                raise ValueError(f"app {self.name!r} already has a workflow named {wf_name!r}")
            self._workflows[wf_name] = WorkflowDef(wf_name, fn)
            setattr(fn, _WORKFLOW_ATTR, wf_name)
            return fn

        return register

    def step(
        self,
        name: str | None = None,
        retries: int = 0,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        resumable: bool = False,
    ) -> Callable[[F], F]:
        """Register a step; ``retries`` further attempts with exponential backoff on Exception.

        ``resumable``: the step may call :func:`record_pending_ref` before it waits on external
        work, and reads it back with :func:`pending_ref` when a later execution replays it
        without a final record (``_pending``; one more write per step)."""
        if retries < 0 or backoff_s < 0 or backoff_max_s < 0:
            raise ValueError("retries, backoff_s and backoff_max_s must be >= 0")

        def register(fn: F) -> F:
            step = StepDef(
                name or fn.__qualname__, fn, RetryPolicy(retries, backoff_s, backoff_max_s),
                resumable,
            )
            if step.name in self._steps and self._steps[step.name].fn is not fn:
                raise ValueError(f"app {self.name!r} already has a step named {step.name!r}")
            self._steps[step.name] = step

            @functools.wraps(fn)
            def durable_step(*args: Any, **kwargs: Any) -> Any:
                return call_step(step, args, kwargs)

            return durable_step  # type: ignore[return-value]

        return register

    # -- lookups ---------------------------------------------------------------------------------
    @property
    def workflow_names(self) -> list[str]:
        return sorted(self._workflows)

    def workflow_def(self, name: str) -> WorkflowDef:
        try:
            return self._workflows[name]
        except KeyError:
            raise KeyError(
                f"app {self.name!r} has no workflow named {name!r} "
                f"(known: {', '.join(self.workflow_names) or 'none'})"
            ) from None

    def workflow_name(self, fn_or_name: Callable[..., Any] | str) -> str:
        """The registered name of a workflow function, or the name itself."""
        if isinstance(fn_or_name, str):
            return fn_or_name
        name = getattr(fn_or_name, _WORKFLOW_ATTR, None)
        if not isinstance(name, str):
            raise TypeError(
                f"{fn_or_name!r} is not a workflow: decorate it with @app.workflow() "
                "or pass a workflow name"
            )
        return name
