"""Throughput and latency of webhook-ingest beside a bare aiohttp handler, in the same run.

Starts both on loopback, each as ``--workers`` processes sharing one port (SO_REUSEPORT, the
way several webhook-ingest replicas share a host), drives each in turn with wrk (64 connections,
10 s, a realistic YClients record webhook) and prints requests per second, p50 and p99 side by
side with the ratio. Afterwards the service's own counters are compared with wrk's 2xx count:
every 2xx must be backed by a broker confirm or a spool fsync.

    .venv/bin/python -m bench.webhook_ingest_bench [--duration 10] [--connections 64] [--workers 2]

Needs the local PostgreSQL and RabbitMQ (a private database and vhost are created and dropped).
Falls back to an aiohttp load generator when wrk is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

from shared.crypto import new_secret
from shared.db import Database
from shared.models import Company
from testkit.environment import TestEnvironment, create_environment, drop_environment
from testkit.processes import Process, free_port, python_module, wait_http_ok

SALON_ID = 770001


def record_body() -> dict[str, Any]:
    """A record webhook as YClients sends it: the whole appointment in ``data``."""
    return {
        "company_id": SALON_ID,
        "resource": "record",
        "resource_id": 561239873,
        "status": "update",
        "data": {
            "id": 561239873,
            "company_id": SALON_ID,
            "staff_id": 1945623,
            "services": [
                {"id": 10458, "title": "Стрижка женская", "cost": 2500, "discount": 0},
                {"id": 10461, "title": "Укладка", "cost": 1200, "discount": 10},
            ],
            "staff": {"id": 1945623, "name": "Ольга Смирнова", "specialization": "Стилист"},
            "client": {
                "id": 80412377,
                "name": "Анна Петрова",
                "phone": "+79161234567",
                "email": "anna@example.ru",
            },
            "date": "2026-11-28 14:30:00",
            "datetime": "2026-11-28T14:30:00+03:00",
            "create_date": "2026-11-24T18:02:11+03:00",
            "seance_length": 5400,
            "length": 5400,
            "comment": "Просьба не опаздывать, парковка во дворе",
            "online": True,
            "visit_attendance": 0,
            "attendance": 0,
            "confirmed": 1,
            "visit_id": 480293311,
            "sms_before": 1,
            "sms_now": 1,
            "email_now": 0,
            "notified": 0,
            "master_request": 1,
            "api_id": "",
            "from_url": "",
            "review_requested": 0,
            "deleted": False,
            "paid_full": 0,
            "prepaid": False,
            "prepaid_confirmed": False,
            "last_change_date": "2026-11-24T18:05:40+03:00",
            "custom_color": "",
            "record_labels": [{"id": 1, "title": "Постоянный клиент", "color": "#2ecc71"}],
            "activity_id": 0,
            "custom_fields": [],
            "documents": [{"id": 39521833, "type_id": 7, "storage_id": 0, "user_id": 1}],
        },
    }


async def bare_server(port: int) -> None:
    """The baseline: an aiohttp handler that does nothing, on the services' event loop."""

    async def nothing(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/callback/yclients/{secret}", nothing)
    app.router.add_get("/healthz", nothing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    await asyncio.Event().wait()  # until the benchmark stops this process


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"non2xx":%d,"errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def run_wrk(url: str, body: bytes, connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(body.decode(), ensure_ascii=False)))
    completed = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    Path(script.name).unlink()
    if "RESULT " not in completed.stdout:
        raise RuntimeError(f"wrk failed: {completed.stdout}{completed.stderr}")
    result = json.loads(completed.stdout.split("RESULT ", 1)[1])
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "ok": result["requests"] - result["non2xx"],
        "failed": result["non2xx"] + result["errors"],
    }


async def run_aiohttp_load(
    url: str, body: bytes, connections: int, duration: int
) -> dict[str, float]:
    """The fallback load generator: ``connections`` keep-alive clients posting in a loop."""
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + duration
    headers = {"Content-Type": "application/json"}

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal failed
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status >= 300:
                    failed += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(client(http) for _ in range(connections)))
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "ok": len(latencies) - failed,
        "failed": failed,
    }


async def load(url: str, body: bytes, connections: int, duration: int) -> dict[str, float]:
    if shutil.which("wrk"):
        return await asyncio.to_thread(run_wrk, url, body, connections, duration)
    return await run_aiohttp_load(url, body, connections, duration)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def service_metrics(base_url: str, instances: int) -> dict[str, float]:
    """Accepted events by outcome (published, spooled) and the spool backlog in bytes, summed
    over every process: each new connection reaches one of them, named in its instance info."""
    seen: dict[str, dict[str, float]] = {}
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(50 * instances):
            async with http.get(base_url + "/metrics") as response:
                instance, values = _parse_metrics(await response.text())
            seen[instance] = values
            if len(seen) == instances:
                break
    if len(seen) < instances:
        raise RuntimeError(f"only {len(seen)} of {instances} instances answered /metrics")
    return {key: sum(values[key] for values in seen.values()) for key in next(iter(seen.values()))}


def _parse_metrics(text: str) -> tuple[str, dict[str, float]]:
    instance = ""
    values = {"published": 0.0, "spooled": 0.0, "spool_bytes": 0.0}
    for line in text.splitlines():
        if line.startswith("aiadmin_instance_info{"):
            instance = line.split('instance="', 1)[1].split('"', 1)[0]
        elif line.startswith("webhook_ingest_events_total{"):
            labels, value = line.rsplit(" ", 1)
            values[labels.split('outcome="', 1)[1].split('"', 1)[0]] = float(value)
        elif line.startswith("webhook_ingest_spool_bytes "):
            values["spool_bytes"] = float(line.rsplit(" ", 1)[1])
    return instance, values


async def drain_seconds(base_url: str, instances: int, limit: float = 300) -> float:
    """How long the service takes to hand its spool backlog to the broker after the load."""
    started = time.monotonic()
    while (await service_metrics(base_url, instances))["spool_bytes"] > 0:
        if time.monotonic() - started > limit:
            raise TimeoutError(f"the spool did not drain in {limit} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def main(duration: int, connections: int, recorder: bool, workers: int) -> None:
    env: TestEnvironment = await create_environment()
    secret = new_secret()
    database = Database(env.database_url, pool_size=2)
    async with database.unit_of_work() as uow:
        uow.session.add(Company(id=SALON_ID, webhook_secret=secret, integration_status="active"))
        await uow.commit()
    await database.dispose()
    body = json.dumps(record_body(), ensure_ascii=False).encode()
    processes: list[Process] = []
    try:
        bare_port, ingest_port = free_port(), free_port()
        bare = [
            Process(
                f"bench-bare-{n}",
                [sys.executable, "-m", "bench.webhook_ingest_bench", "--bare", str(bare_port)],
                env.env(),
            )
            for n in range(workers)
        ]
        processes += bare
        with tempfile.TemporaryDirectory() as spool:
            ingest = [
                python_module(
                    f"bench-webhook-ingest-{n}",
                    "webhook_ingest",
                    env.env(
                        HTTP_PORT=str(ingest_port),
                        HTTP_REUSE_PORT="true",
                        WEBHOOK_SPOOL_DIR=spool,
                        LOG_LEVEL="WARNING",
                        WEBHOOK_RECORDER_ENABLED="true" if recorder else "false",
                    ),
                )
                for n in range(workers)
            ]
            processes += ingest
            bare_url = f"http://127.0.0.1:{bare_port}"
            ingest_url = f"http://127.0.0.1:{ingest_port}"
            for process in bare:
                await wait_http_ok(bare_url + "/healthz", process=process)
            for process in ingest:
                await wait_http_ok(ingest_url + "/readyz", process=process)
            path = f"/callback/yclients/{secret}"
            # A short warm-up for both, then the measured runs one after the other.
            await load(bare_url + path, body, connections, 2)
            await load(ingest_url + path, body, connections, 2)
            await drain_seconds(ingest_url, workers)
            before = await service_metrics(ingest_url, workers)
            bare_result = await measured(bare, bare_url + path, body, connections, duration)
            ingest_result = await measured(ingest, ingest_url + path, body, connections, duration)
            after = await service_metrics(ingest_url, workers)
            backed = {outcome: after[outcome] - before[outcome] for outcome in after}
            drain = await drain_seconds(ingest_url, workers)
    finally:
        for process in processes:
            process.stop()
        await drop_environment(env)

    tool = "wrk" if shutil.which("wrk") else "aiohttp load generator"
    print(
        f"{tool}, {connections} connections, {duration} s, body {len(body)} bytes, "
        f"{workers} process(es) each, recorder {'on' if recorder else 'off'}"
    )
    print(f"{'':24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>10}{'CPU s':>8}")
    for name, result in (("bare aiohttp handler", bare_result), ("webhook-ingest", ingest_result)):
        print(
            f"{name:24}{result['rps']:>10.0f}{result['p50_ms']:>10.2f}"
            f"{result['p99_ms']:>10.2f}{result['failed']:>10.0f}{result['cpu']:>8.1f}"
        )
    print(f"ratio webhook-ingest / bare: {ingest_result['rps'] / bare_result['rps']:.2f}")
    # The counters also include requests wrk left in flight at the end, hence "at least".
    print(
        f"2xx answered: {ingest_result['ok']:.0f}; events backed by a broker confirm: "
        f"{backed['published']:.0f}, by a spool fsync: {backed['spooled']:.0f}"
    )
    rate = backed["spooled"] / drain if drain > 0 else 0.0
    print(
        f"spool backlog after the run: {after['spool_bytes'] / 1e6:.1f} MB, "
        f"forwarded in {drain:.1f} s (~{rate:.0f} events/s)"
    )


async def measured(
    processes: list[Process], url: str, body: bytes, connections: int, duration: int
) -> dict[str, float]:
    """One load run, with the CPU time the processes spent on it."""
    started = sum(cpu_seconds(process.popen.pid) for process in processes)
    result = await load(url, body, connections, duration)
    result["cpu"] = sum(cpu_seconds(process.popen.pid) for process in processes) - started
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--no-recorder",
        action="store_true",
        help="run the recorder in no process during the measurement (HTTP-only instance)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="processes of each server, sharing its port"
    )
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        uvloop.run(bare_server(args.bare))
    else:
        asyncio.run(main(args.duration, args.connections, not args.no_recorder, args.workers))
