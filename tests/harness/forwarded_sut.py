"""A test SUT with a service of its own: ``plain`` whose durable store is reached through a TCP
forwarder process in front of the environment's Postgres (a stand-in for a peer's own server).

The forwarder is a real process: ``crash()`` SIGKILLs it (every connection through it drops,
new ones are refused) and ``restart()`` starts it again on the same port. Registered by the
services test under the entry point name ``forwarded-plain`` (see sut_dists.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg

from harness import ServiceContext, WorkerCommand, WorkerSpec
from harness.env import url_address
from harness.sut.plain import ENV_POSTGRES, PlainSut

FORWARDER = r'''
import asyncio, sys

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def main(port, up_host, up_port):
    async def handle(reader, writer):
        print("accepted", flush=True)
        try:
            up_reader, up_writer = await asyncio.open_connection(up_host, up_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    server = await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()

asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
'''


class ForwarderService:
    """A TCP forwarder process to the environment's Postgres server."""

    name = "pgfwd"

    def __init__(self, ctx: ServiceContext) -> None:
        params = psycopg.conninfo.conninfo_to_dict(ctx.postgres_url)
        host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
        self.upstream = (host, port)
        self.log_path = Path(ctx.work_dir) / "pgfwd.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", FORWARDER, str(self.port), *map(str, self.upstream)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.pids.append(self.process.pid)
        deadline = time.monotonic() + 30
        while self.port == 0 and time.monotonic() < deadline:
            found = re.findall(r"listening on 127.0.0.1:(\d+)", self.tail(50))
            if found:
                self.port = int(found[-1])
            time.sleep(0.02)

    def crash(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._spawn()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> ForwarderService:
        self._spawn()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self.process is not None and self.process.poll() is None:
            self.crash()


@dataclass(frozen=True)
class ForwardedPlain(PlainSut):
    name: str = "forwarded-plain"
    durable_store: str = "pgfwd"

    def services(self, ctx: ServiceContext) -> Sequence[ForwarderService]:
        return (ForwarderService(ctx),)

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand:
        command = super().worker_command(spec)
        host, port = url_address(spec.service_urls["pgfwd"])
        params = psycopg.conninfo.conninfo_to_dict(spec.postgres_url)
        params.update(host=host, port=str(port))
        dsn = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
        return WorkerCommand(command.argv, {**command.env, ENV_POSTGRES: dsn})


SUT = ForwardedPlain()
