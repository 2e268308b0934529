"""The ``durabench`` command line.

Subcommands: ``suite`` (the main job: chaos suite + report), ``report`` (results store -> report
directory), ``gate`` (results store -> exit status for CI), ``sweep`` (remove what a killed run
left), ``images``, ``suts`` (the registered systems under test), ``soak`` and ``mutants``
(deliberately broken reference runtimes against the scenarios meant to catch them). Each
subcommand is registered by one ``_add_<name>`` function that sets a ``handler`` default; add new
subcommands the same way in :func:`build_parser`.

Exit statuses: 0 success; 1 the command ran and found a failure (gate failed, report written but
some lines were unreadable); 2 usage error or unreadable input. User errors print one line to
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _error(command: str, message: str) -> None:
    print(f"durabench {command}: {message}", file=sys.stderr)


def _run_report(args: argparse.Namespace) -> int:
    from harness.report import ResultsInputError, load_results, write_report
    from harness.report._money import Projection

    try:
        results = load_results(args.results)
    except ResultsInputError as exc:
        _error("report", str(exc))
        return 2
    for issue in results.issues:
        print(issue, file=sys.stderr)
    try:
        files = write_report(results, args.out, title=args.title, projection=Projection(
            args.failures_per_hour, args.runs_per_day))
    except OSError as exc:
        _error("report", f"cannot write the report to {args.out}: {exc.strerror or exc}")
        return 2
    print(f"report: {files.index_html}")
    print(files.headline)
    if results.errors:
        _error("report", f"{len(results.errors)} unreadable line(s) left out of the report "
                         "(listed above and in the report)")
        return 1
    return 0


def _run_gate(args: argparse.Namespace) -> int:
    from harness.report import (
        GateLimits,
        ResultsInputError,
        evaluate_gate,
        format_gate,
        load_results,
    )

    try:
        results = load_results(args.results)
    except ResultsInputError as exc:
        _error("gate", str(exc))
        return 2
    for issue in results.issues:
        print(issue, file=sys.stderr)
    if results.errors:
        _error("gate", f"cannot judge: {len(results.errors)} unreadable line(s); a gate must not "
                       "pass on results it could not read; fix or remove those lines")
        return 2
    from harness.report._gate import known_findings
    from harness.report._sanity import figure_failures, run_failures
    from harness.run_plan import incomplete_runs, read_run_summaries

    limits = GateLimits(max_redundant_ratio=args.max_redundant_ratio,
                        max_ttr_p95=args.max_ttr_p95, allow_unknown=args.allow_unknown)
    result = evaluate_gate(results.trials, limits,
                           known_findings(read_run_summaries(args.results)))
    extra = [*figure_failures(results.trials)]
    if not args.allow_partial:
        extra += run_failures(incomplete_runs(args.results))
    result = dataclasses.replace(result, failures=(*extra, *result.failures))
    print(format_gate(result, sources=", ".join(args.results)))
    return 0 if result.passed else 1


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report", help="turn a results store into an HTML/Markdown/CSV/PNG report",
        description="Write index.html, summary.md, trials.csv, summary.csv, savings.csv and "
                    "charts into --out, then print the report path and the headline.")
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="results JSONL file(s)")
    parser.add_argument("--out", required=True, metavar="DIR", help="report directory")
    parser.add_argument("--title", default=None, metavar="T", help="report title")
    _add_projection_arguments(parser)
    parser.set_defaults(handler=_run_report)


def _add_projection_arguments(parser: argparse.ArgumentParser) -> None:
    """The money projection of crash sweeps (harness/report/_money.py)."""
    from harness.report._money import DEFAULT_FAILURES_PER_HOUR, DEFAULT_RUNS_PER_DAY

    parser.add_argument("--failures-per-hour", type=_non_negative,
                        default=DEFAULT_FAILURES_PER_HOUR, metavar="F",
                        help="worker failures per hour of running, for the monthly projection "
                             "(default 1/24: a Google Cloud preemptible VM stops within 24 h)")
    parser.add_argument("--runs-per-day", type=_non_negative, default=DEFAULT_RUNS_PER_DAY,
                        metavar="N", help="agent runs per day, for the monthly projection "
                                          "(default 100, an assumption)")


def _add_gate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "gate", help="exit non-zero when a verdict is false/unknown or a figure passes its limit",
        description="Exit 0 when every promised verdict is true and every limit holds, 1 "
                    "otherwise (with one line per failure), 2 on unreadable input.")
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="results JSONL file(s)")
    parser.add_argument("--max-redundant-ratio", type=_non_negative, default=None, metavar="R",
                        help="checkpointing-on trials: redundant_tokens / golden_tokens_billed "
                             "must be <= R")
    parser.add_argument("--max-ttr-p95", type=_non_negative, default=None, metavar="S",
                        help="per scenario x SUT: p95 of time_to_recover_s must be <= S seconds")
    parser.add_argument("--allow-unknown", action="store_true",
                        help="let unknown verdicts pass (false never passes)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="judge the trials of a run that did not finish all it planned")
    parser.set_defaults(handler=_run_gate)


def _run_sweep(args: argparse.Namespace) -> int:
    from harness.env.sweep import SweepError, find_leftovers, sweep

    try:
        found = (find_leftovers(args.run_id) if args.dry_run else sweep(args.run_id))
    except SweepError as exc:
        _error("sweep", str(exc))
        return 1
    verb = "would remove" if args.dry_run else "removed"
    for line in found.lines():
        print(f"{verb} {line}")
    print(f"durabench sweep: {verb} {len(found)} item(s)"
          f"{'' if args.run_id is None else f' of run {args.run_id}'}")
    return 0


def run_id_argument(text: str) -> str:
    """argparse type of ``--run-id`` (``sweep``, ``suite``): what pytest's ``--run-id`` takes."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{5,80}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id (6-81 letters, digits, '.', '_' or '-')")
    return text


def _add_sweep(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sweep", help="remove what a killed run left: processes, temp dirs, cgroups, containers",
        description="Remove the processes and Docker containers and networks labelled with a "
                    "run id, and the temp files, dirs and memory cgroups the run recorded as "
                    "it made them (never an entry found by its name alone). Use it after a run "
                    "was SIGKILLed, or lost its machine mid-run: a normal end, Ctrl-C, SIGTERM "
                    "or SIGHUP clean up by themselves, and a run's watchdog sweeps it when its "
                    "owner dies. Without --run-id, every run whose owner process is gone is "
                    "swept. A live run is never swept.")
    parser.add_argument("--run-id", type=run_id_argument, default=None, metavar="ID",
                        help="only this run (and its pytest workers, ID-gw0, ...)")
    parser.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    parser.set_defaults(handler=_run_sweep)


def _add_suite(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness import suite

    parser = commands.add_parser(
        "suite", help="run the chaos suite on the local environment and write its report",
        description=suite.__doc__)
    suite.add_arguments(parser)
    parser.set_defaults(handler=suite.run_suite)


def _add_images(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness import images

    parser = commands.add_parser(
        "images", help="build the Docker images (add --offline without registry access)",
        description=images.__doc__)
    images.add_arguments(parser)
    parser.set_defaults(handler=images.run_images)


def _add_suts(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.sut import _catalog

    parser = commands.add_parser(
        "suts", help="list the registered systems under test, installed or not",
        description=_catalog.__doc__)
    _catalog.add_arguments(parser)
    parser.set_defaults(handler=_catalog.run_suts)


def _add_soak(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.soak import _cli as soak

    parser = commands.add_parser(
        "soak", help="many workflows on several workers under a seeded random nemesis",
        description=soak.__doc__)
    soak.add_arguments(parser)
    parser.set_defaults(handler=soak.run)


def _add_mutants(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.mutants import _cli as mutants

    parser = commands.add_parser(
        "mutants", help="run broken variants of the reference runtime against the scenarios "
                        "meant to catch them: caught / missed",
        description=mutants.__doc__)
    mutants.add_arguments(parser)
    parser.set_defaults(handler=mutants.run)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; one ``_add_<name>`` call per subcommand."""
    parser = argparse.ArgumentParser(
        prog="durabench",
        description="Chaos benchmark for durable execution of LLM agent workflows.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_suite(commands)
    _add_report(commands)
    _add_gate(commands)
    _add_sweep(commands)
    _add_images(commands)
    _add_suts(commands)
    _add_soak(commands)
    _add_mutants(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (argparse's usage errors give 2)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
