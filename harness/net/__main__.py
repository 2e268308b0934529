"""``python -m harness.net serve``: the embedded Toxiproxy-compatible server.

1. parse ``--host`` (127.0.0.1), ``--port`` (8474; 0 picks a free port), ``--seed``; a
   non-loopback ``--host`` is refused (exit 2) unless ``--allow-remote`` is given, and warned about
   when it is; a bad port or a port in use is one line and exit 2;
2. start the HTTP API, then print ``listening on http://<host>:<port>`` as the first line (flushed);
3. serve until SIGTERM / SIGINT, then close every proxy and its connections.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys

from aiohttp import web

from harness.bind import port_number, refuse_remote

from ._api import make_app
from ._collection import ProxyCollection
from ._proxy import join_address


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.net")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the embedded Toxiproxy-compatible server")
    serve.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8474,
                       help="API port; 0 picks a free one")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    serve.add_argument("--seed", type=int, default=None, help="seed for toxicity rolls/jitter")
    return parser


async def serve(host: str, port: int) -> None:
    proxies = ProxyCollection()
    runner = web.AppRunner(make_app(proxies), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server
    bound = server.sockets[0].getsockname() if isinstance(server, asyncio.Server) else (host, port)
    print(f"listening on http://{join_address(str(bound[0]), int(bound[1]))}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        async with proxies.lock:
            proxies.stop_all()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.seed is not None:
        random.seed(args.seed)
    error, warning = refuse_remote(args.host, args.allow_remote, "the Toxiproxy API")
    if error is not None:
        print(error, file=sys.stderr)
        return 2
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    try:
        asyncio.run(serve(args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; pick "
              "another --port (0 picks a free one)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
