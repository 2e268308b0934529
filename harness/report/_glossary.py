"""The words of the report's first screen, defined once (HTML and Markdown show the same text).

Exact definitions of the figures are in :mod:`harness.figures`; these are the reader's version.
"""

from __future__ import annotations

__all__ = ["GLOSSARY"]

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("redundant tokens", "tokens the provider billed for a faulted run beyond its golden run "
     "(same runtime, workload and seed, no fault): the work the fault made the runtime pay "
     "for twice. Redundant dollars: the same, priced at the model's list price."),
    ("time to resume", "seconds from the fault to the first sign of life of an execution the "
     "fault does not hold: an LLM request, a tool start or a step record of a replacement "
     "worker, or of the same worker when it rode the fault out (a database or network outage, "
     "a failing provider) or once a pause was healed. A killed worker's requests still on the "
     "wire do not count."),
    ("time to recover", "seconds from the fault until the execution that completed the "
     "workflow asked for a step beyond the frontier (the last step answered before the fault) "
     "and got its answer: back where the fault caught it. Never before time to resume. For a "
     "database or network outage it includes the outage when the runtime needs the store to "
     "go on (a checkpointing runtime waits to record its step; one that records nothing may "
     "carry on)."),
    ("completion delay", "how much later the faulted run finished than its golden run. Two "
     "separate runs: run-to-run noise of a few hundred ms (more on a loaded machine) can make "
     "it negative."),
    ("twin", "the checkpointing-off SUT a runtime is compared with: its own code with "
     "checkpointing off (reference-nockpt, langgraph-nockpt), or plain where the runtime "
     "cannot switch it off."),
    ("plain", "no durable runtime: a job table and a worker that reruns the agent loop from "
     "step 0 after a crash."),
    ("n", "the number of trials a figure is over. Below 5 per side the report prints the "
     "figures and n, never a percentage."),
    ("p50", "the median over the trials (p95: the 95th percentile, shown only over 20 or more "
     "trials)."),
    ("known finding", "a behaviour of a runtime that breaks one of its promises or the "
     "scenario's expectation, documented by its SUT (`durabench suts`); the scenario test is an "
     "expected failure (xfail) when it shows, so the suite stays green and the finding stays "
     "visible."),
)
