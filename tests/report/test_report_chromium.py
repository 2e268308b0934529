"""index.html renders in headless Chromium: every image loads and the console stays clean.

Drives Chromium over the Chrome DevTools Protocol (a websocket on 127.0.0.1). Skipped when
/usr/bin/chromium (or $DURABENCH_CHROMIUM) is missing, unless DURABENCH_REQUIRE contains
"chromium" (CI), then it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.report import load_results, write_report
from harness.require import skip_or_fail

CHROMIUM = Path(os.environ.get("DURABENCH_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")
IMAGES_JS = ("JSON.stringify(Array.from(document.images).map("
             "i => ({src: i.src, complete: i.complete, width: i.naturalWidth})))")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    skip_or_fail("chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")


@contextmanager
def chromium() -> Iterator[int]:
    """A headless Chromium with a fresh profile; yields its DevTools port; always killed."""
    with tempfile.TemporaryDirectory(prefix="durabench-chromium-") as profile:
        process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            yield _devtools_port(Path(profile), process)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text().splitlines()[0])
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
            raise RuntimeError(f"chromium exited with {process.returncode}: {err}")
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port within 30 s")


class _Cdp:
    """Just enough of the DevTools Protocol: numbered commands and a log of events."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.socket.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.socket.receive_json()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    async def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(await self.socket.receive_json())


async def _render(port: int, page: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        target = next(t for t in targets if t.get("type") == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            cdp = _Cdp(socket)
            for domain in ("Page", "Runtime", "Log"):
                await cdp.call(f"{domain}.enable")
            await cdp.call("Page.navigate", url=page.as_uri())
            await cdp.wait_for("Page.loadEventFired")
            result = await cdp.call("Runtime.evaluate", expression=IMAGES_JS, returnByValue=True)
            images = json.loads(result["result"]["value"])
            await asyncio.sleep(0.3)  # let late console messages arrive
            await cdp.call("Runtime.evaluate", expression="1")
            return images, _errors(cdp.events)


def _errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        console_error = params.get("type") in ("error", "assert")
        if method == "Runtime.exceptionThrown" or (
                method == "Runtime.consoleAPICalled" and console_error):
            errors.append(params)
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"])
    return errors


@pytest.mark.slow
def test_index_html_renders_in_chromium(fixture_path: Path, tmp_path: Path) -> None:
    _require_chromium()
    files = write_report(load_results([fixture_path]), tmp_path / "report")
    with chromium() as port:
        images, errors = asyncio.run(asyncio.wait_for(_render(port, files.index_html), 60))
    assert len(images) == 3, images
    for image in images:
        assert image["complete"] and image["width"] > 0, f"image did not load: {image}"
    assert errors == [], f"console errors: {errors}"
