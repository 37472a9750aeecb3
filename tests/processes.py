"""Gateways as real subprocesses (``python -m gateway --config ... run``), for the tests that
kill one with SIGKILL: a process that dies mid-write, mid-publish or holding the router."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.support import wait_for


class GatewayProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, base: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(self.config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        async def ready() -> bool:
            try:
                async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, timeout=30, interval=0.2)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
