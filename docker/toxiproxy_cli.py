#!/usr/bin/env python3
"""/toxiproxy-cli in durabench images: the subset of toxiproxy-cli that compose and CI need.

    toxiproxy-cli [-h URL] list              GET /version, then GET /proxies; exit 1 if unreachable
    toxiproxy-cli [-h URL] populate FILE     wait for GET /version (--wait S, default 60), then
                                             POST /populate with FILE's JSON array of proxies

``list`` makes the same healthcheck (``["CMD", "/toxiproxy-cli", "list"]``) work in both
ghcr.io/shopify/toxiproxy and durabench-toxiproxy. ``populate`` is durabench's own (the real CLI
has none): the compose file's one-shot init service uses it. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_S = 5.0


def _call(url: str, method: str = "GET", body: bytes | None = None) -> object:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        text = response.read().decode() or "null"
    try:
        return json.loads(text)
    except ValueError:
        return text  # real Toxiproxy answers /version with plain text in old releases


def _list(base: str) -> int:
    version = _call(f"{base}/version")
    proxies = _call(f"{base}/proxies")
    print(f"toxiproxy {version}")
    for name, proxy in sorted(proxies.items()) if isinstance(proxies, dict) else []:
        state = "enabled" if proxy.get("enabled") else "disabled"
        print(f"{name}\t{proxy.get('listen')} -> {proxy.get('upstream')}\t{state}")
    return 0


def _wait_version(base: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            _call(f"{base}/version")
            return
        except (OSError, urllib.error.URLError) as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"toxiproxy-cli: {base}/version did not answer within "
                                 f"{wait_s:.0f} s ({exc}); is the toxiproxy service up?") from exc
            time.sleep(0.5)


def _populate(base: str, path: str, wait_s: float) -> int:
    with open(path, encoding="utf-8") as f:
        proxies = json.load(f)
    _wait_version(base, wait_s)
    created = _call(f"{base}/populate", "POST", json.dumps(proxies).encode())
    names = [p.get("name") for p in created.get("proxies", [])] if isinstance(created, dict) else []
    print(f"toxiproxy-cli: populated {', '.join(map(str, names)) or 'no proxies'} at {base}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toxiproxy-cli", add_help=False)
    parser.add_argument("-h", "--host", default="http://localhost:8474", help="API base URL")
    parser.add_argument("--help", action="help")
    parser.add_argument("--wait", type=float, default=60.0, help="populate: seconds to wait")
    parser.add_argument("command", choices=("list", "ls", "populate"))
    parser.add_argument("file", nargs="?", help="populate: JSON array of proxies")
    args = parser.parse_args(argv)
    base = args.host.rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    try:
        if args.command == "populate":
            if not args.file:
                parser.error("populate needs FILE")
            return _populate(base, args.file, args.wait)
        return _list(base)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        print(f"toxiproxy-cli: {args.command} against {base} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
