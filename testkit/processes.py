"""Start services and emulators as real processes, wait until they are up, stop them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from testkit.environment import ROOT

LOG_DIR = ROOT / "var" / "test-logs"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A child process whose output goes to a log file under var/test-logs/."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOG_DIR / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=self._log, start_new_session=True
        )

    def read_json_line(self, timeout: float = 30.0) -> dict[str, object]:
        """The first stdout line as JSON (emulators announce their ports that way)."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if line:
                return dict(json.loads(line))
            if self.popen.poll() is not None:
                break
        raise RuntimeError(f"{self.name} did not announce itself; see {self.log_path}")

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    async def terminate(self, timeout: float = 30.0) -> tuple[int | None, float]:
        """SIGTERM, then wait for the process to exit by itself: its exit code (None if it did
        not exit within ``timeout``) and how many seconds that took."""
        started = time.monotonic()
        self.signal(signal.SIGTERM)
        try:
            code: int | None = await asyncio.to_thread(self.popen.wait, timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        finally:
            self._log.close()


def python_module(name: str, module: str, env: dict[str, str]) -> Process:
    return Process(name, [sys.executable, "-m", module], env)


async def wait_http_ok(url: str, timeout: float = 30.0, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process is not None and process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.logs()[-4000:]}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
                    last = response.status
            except aiohttp.ClientError as exc:
                last = exc
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} not ready: {last}")


async def eventually(probe, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Await ``probe()`` until it returns a truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met in {timeout}s (last: {last!r})")
