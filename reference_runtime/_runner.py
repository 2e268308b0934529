"""One execution of a claimed workflow, on its own thread.

Steps, in order:
1. load the workflow's recorded steps in one query (checkpointing on only);
2. run the body with the execution bound to this thread (steps replay or record);
3. write the outcome, fenced by epoch: SUCCESS with the JSON output, or ERROR with
   ``{"type", "message"}`` of the exception that escaped the body; the row keeps the writer's
   epoch and executor (``outcome_epoch``, ``outcome_executor``) as evidence.

An execution that is fenced (a newer epoch owns the workflow), cancelled, evicted by a draining
worker, or cut off from Postgres beyond the retry bound is abandoned: one log line, no outcome
written, the workflow stays PENDING for whoever owns it (or reclaims it after its lease).
"""

from __future__ import annotations

import json
import logging

from reference_runtime._app import WorkflowDef
from reference_runtime._context import (
    EvictedError,
    Execution,
    ExecutionHost,
    WorkflowContext,
    executing,
)
from reference_runtime._errors import (
    FencedError,
    UnreachableDatabaseError,
    WorkflowCancelledError,
)
from reference_runtime._steps import encode, error_record
from reference_runtime._types import Claim

log = logging.getLogger("reference_runtime")

Outcome = tuple[str, str, str | None]  # status, output JSON text, error JSON text


def execute(host: ExecutionHost, context: WorkflowContext, claim: Claim, wf: WorkflowDef) -> None:
    """Run one claimed execution to its outcome, or abandon it (see module doc)."""
    wid = claim.workflow_id
    try:
        recorded = host.store.load_steps(wid) if context.checkpointing else {}
        outcome = _run_body(Execution(context, recorded, host), claim, wf)
        if outcome is None:
            return
        host.store.record_outcome(wid, context.epoch, *outcome, context.executor_id)
        log.info("workflow %s (epoch %d) finished: %s", wid, context.epoch, outcome[0])
    except EvictedError:
        # Released here, at the boundary: once this thread ends the worker no longer holds the
        # claim, so a lease left for drain() to release would wait out its expiry instead.
        try:
            host.store.release([(wid, context.epoch)])
        except UnreachableDatabaseError as exc:
            log.error("could not release %s (its lease will expire): %s", wid, exc)
            return
        log.info("workflow %s epoch %d stopped at a step boundary and released: worker draining",
                 wid, context.epoch)
    except FencedError as exc:
        log.warning("workflow %s epoch %d fenced, abandoned: %s", wid, context.epoch, exc)
    except WorkflowCancelledError:
        log.info("workflow %s was cancelled; execution (epoch %d) stopped", wid, context.epoch)
    except UnreachableDatabaseError as exc:
        log.error("workflow %s epoch %d abandoned: %s", wid, context.epoch, exc)


def _run_body(execution: Execution, claim: Claim, wf: WorkflowDef) -> Outcome | None:
    wid = claim.workflow_id
    epoch = execution.context.epoch
    try:
        with executing(execution):
            value = wf.fn(*claim.inputs)
        return "SUCCESS", encode(value, f"the output of workflow {wf.name!r}"), None
    except (FencedError, UnreachableDatabaseError):
        raise
    except WorkflowCancelledError as exc:
        if exc.workflow_id == wid:
            raise
        return "ERROR", "null", json.dumps(error_record(exc))
    except EvictedError:
        raise
    except Exception as exc:
        log.info("workflow %s epoch %d raised %s: %s", wid, epoch, type(exc).__name__, exc)
        return "ERROR", "null", json.dumps(error_record(exc))
    except BaseException as exc:  # KeyboardInterrupt, SystemExit on a worker thread
        log.warning("workflow %s epoch %d abandoned on %r", wid, epoch, exc)
        return None
