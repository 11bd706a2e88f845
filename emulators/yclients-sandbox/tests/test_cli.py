"""`python -m yclients_sandbox` runs with options and SANDBOX_* variables, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import socket
import sys

import aiohttp
import pytest

pytestmark = pytest.mark.asyncio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_runs_on_its_own_with_options_and_env():
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "yclients_sandbox",
        "--port",
        str(port),
        "--partner-token",
        "T",
        "--salons",
        '201:"Салон на Тверской",202:Салон на Арбате',
        env={"SANDBOX_APPLICATION_ID": "77", "PYTHONIOENCODING": "utf-8"},
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(15):
            while True:
                try:
                    async with http.get(f"{base}/__sandbox/salons") as response:
                        salons = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with http.get(
                f"{base}/marketplace/application/77/salons",
                headers={"Authorization": "Bearer T"},
            ) as response:
                assert response.status == 200
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)

    assert [(s["salon_id"], s["name"]) for s in salons] == [
        (201, "Салон на Тверской"),
        (202, "Салон на Арбате"),
    ]
    assert "YClients sandbox" in stderr.decode()
