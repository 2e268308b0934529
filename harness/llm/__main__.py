"""``python -m harness.llm serve ...``: run the mock LLM provider in this process.

The first line on stdout is exactly ``listening on http://HOST:PORT`` (flushed) once the server
accepts connections; the ledger path follows on stderr. SIGTERM / SIGINT stop it. A non-loopback
``--host`` is refused (exit code 2) unless ``--allow-remote`` is given, and warned about when it
is. A port outside 0..65535 or already in use is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.bind import port_number, refuse_remote
from harness.llm._prices import DEFAULT_PRICES, load_prices
from harness.llm._script import load_script
from harness.llm._server import bind_socket, serve
from harness.llm._state import (
    DEFAULT_RESPONSE_TTL_S,
    DEFAULT_TOKENS_PER_SECOND,
    ProviderConfig,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.llm")
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("serve", help="run the mock OpenAI-compatible provider")
    s.add_argument("--port", type=port_number, default=0, help="TCP port; 0 picks a free one")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    s.add_argument("--script", type=Path, help="JSON script of turns (scripted mode)")
    s.add_argument("--ledger", type=Path, help="ledger JSONL file (default: a new temp file)")
    s.add_argument("--seed", type=int, default=0, help="seed of the response nonces")
    s.add_argument("--tokens-per-second", type=float, default=DEFAULT_TOKENS_PER_SECOND,
                   help="simulated generation speed; 0 = no delay")
    s.add_argument("--response-ttl", type=float, default=DEFAULT_RESPONSE_TTL_S,
                   help="seconds a stored Response (Responses API) can be retrieved")
    s.add_argument("--prices", type=Path, help="JSON price table replacing the default one")
    s.add_argument("--run-id", default="adhoc", help="label for sweepers (appears in argv)")
    return parser


def _config(args: argparse.Namespace) -> ProviderConfig:
    ledger = args.ledger
    if ledger is None:
        from harness.env.created import temp_file  # lazily: the provider needs no environment

        handle, ledger = temp_file(args.run_id, f"durabench-{args.run_id}-ledger-", ".jsonl")
        os.close(handle)
    return ProviderConfig(
        ledger_path=ledger,
        prices=load_prices(args.prices) if args.prices else dict(DEFAULT_PRICES),
        script=load_script(args.script) if args.script else None,
        seed=args.seed,
        tokens_per_second=args.tokens_per_second,
        response_ttl_s=args.response_ttl,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    host = "127.0.0.1" if args.host == "localhost" else args.host
    error, warning = refuse_remote(host, args.allow_remote, "the provider")
    if error is not None:
        print(error, file=sys.stderr)
        return 2
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    try:
        config = _config(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{args.port}: {exc.strerror or exc}; pick another "
              "--port (0 picks a free one)", file=sys.stderr)
        return 2

    def announce(url: str) -> None:
        print(f"listening on {url}", flush=True)
        print(f"ledger at {config.ledger_path}", file=sys.stderr, flush=True)

    asyncio.run(serve(config, sock, announce=announce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
