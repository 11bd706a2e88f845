"""The offline demo as a newcomer meets it: ``make run`` (``python -m scripts.run_local``) with
no YClients token, the one URL it prints opened in headless Chromium, two salons picked and
«Подключить» clicked in the sandbox, the QR on our page scanned by the demo button, the salons
active. Then SIGTERM: exit 0 and no process of the run left behind. Ctrl-C does the same; a
child that dies stops the rest and the run exits 1.

It runs on a database and vhost of its own (named after the test run's) and its own port range,
beside a developer's ``make run``. Screenshots go to var/screenshots/demo-*.png.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from shared.db import Database
from shared.models import Company, IntegrationStatus
from testkit import browser
from testkit.environment import ROOT, TEST_SECRETS, TestEnvironment, drop_environment
from testkit.processes import LOG_DIR, eventually

URL_LINE = re.compile(r"Откройте: (http://\S+)")
PORT_SPAN = 13  # RUN_BASE_PORT + 0 … + 12


def free_port_range(span: int = PORT_SPAN) -> int:
    """A base port with ``span`` free ports after it (bound once each to be sure)."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - span)
        sockets = []
        try:
            for offset in range(span):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class MakeRun:
    popen: subprocess.Popen[bytes]
    log_path: Path
    base_port: int
    database: Database

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_make_run(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m scripts.run_local`` in a process group of its own, its output to a log."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"make-run-{os.getpid()}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_local"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return popen, log_path


@pytest.fixture
async def make_run(test_env: TestEnvironment) -> AsyncIterator[MakeRun]:
    # A database and vhost of their own, made and migrated by run_local as on a fresh clone (the
    # sandbox's salons 101-103 are the same in every demo, so not the run's shared database).
    own = replace(
        test_env,
        name=f"{test_env.name}_demo",
        database_url=f"{test_env.database_url}_demo",
        amqp_url=f"{test_env.amqp_url}_demo",
    )
    # The developer's shell minus every secret: no YCLIENTS_PARTNER_TOKEN means the demo.
    env = {k: v for k, v in os.environ.items() if k not in TEST_SECRETS}
    base_port = free_port_range()
    env.update(
        DATABASE_URL=own.database_url,
        AMQP_URL=own.amqp_url,
        RUN_BASE_PORT=str(base_port),
    )
    popen, log_path = start_make_run(env)
    database = Database(own.database_url, pool_size=1)
    try:
        yield MakeRun(popen, log_path, base_port, database)
    finally:
        if group_alive(popen.pid):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)
        for made in (ROOT / "var").glob(f"*{own.name}*"):
            made.unlink()  # this run's demo secrets and emulator root key
        await database.dispose()
        await drop_environment(own)


async def printed_url(make_run: MakeRun) -> str:
    async def found() -> str | None:
        if make_run.popen.poll() is not None:
            raise AssertionError(f"make run exited:\n{make_run.output()[-4000:]}")
        line = URL_LINE.search(make_run.output())
        return line.group(1) if line else None

    return str(await eventually(found, timeout=120, interval=0.5))


async def exits_leaving_nothing(make_run: MakeRun) -> int:
    exit_code = await asyncio.to_thread(make_run.popen.wait, 30)

    async def group_gone() -> bool:
        return not group_alive(make_run.popen.pid)

    await eventually(group_gone, timeout=5)
    return exit_code


def child_pid(make_run: MakeRun, module: str) -> int:
    listed = subprocess.run(
        ["ps", "-o", "pid=,args=", "-g", str(make_run.popen.pid)],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in listed.stdout.splitlines():
        pid, args = line.strip().split(" ", 1)
        if args.endswith(f"-m {module}"):
            return int(pid)
    raise AssertionError(f"no {module} child in:\n{listed.stdout}")


async def test_newcomer_clicks_through_the_demo_that_make_run_prints(make_run: MakeRun) -> None:
    url = await printed_url(make_run)
    assert urlsplit(url).port == make_run.base_port + 10  # the sandbox's marketplace page

    async with browser.chromium() as chromium, browser.phone_page(chromium) as page:
        try:
            await page.goto(url)
            boxes = page.locator('input[name="salon_id"]')
            salons = [int(await boxes.nth(i).get_attribute("value") or 0) for i in range(2)]
            for i in range(2):
                await boxes.nth(i).check()
            await browser.snap(page, "demo-1-sandbox")
            await page.get_by_role("button", name="Подключить").click()

            await page.wait_for_url("**/marketplace/onboarding**", timeout=15000)
            await browser.wait_for_stage(page, "qr", timeout=60)
            await browser.snap(page, "demo-2-qr")
            await page.get_by_role("button", name="Демо: отсканировать эмулятором телефона").click()
            await browser.wait_for_stage(page, "done", timeout=90)
            await browser.snap(page, "demo-3-done")
        except Exception:
            await browser.snap(page, "demo-failure")
            print(make_run.output()[-8000:])
            raise

    async def salons_active() -> bool:
        async with make_run.database.unit_of_work() as uow:
            statuses = list(
                await uow.session.scalars(
                    select(Company.integration_status).where(Company.id.in_(salons))
                )
            )
        return statuses == [IntegrationStatus.ACTIVE] * 2

    await eventually(salons_active, timeout=15)

    make_run.popen.send_signal(signal.SIGTERM)
    assert await exits_leaving_nothing(make_run) == 0, make_run.output()[-4000:]


async def test_ctrl_c_stops_every_child_and_exits_0(make_run: MakeRun) -> None:
    await printed_url(make_run)
    # A terminal's Ctrl-C reaches the whole foreground process group.
    os.killpg(make_run.popen.pid, signal.SIGINT)
    assert await exits_leaving_nothing(make_run) == 0, make_run.output()[-4000:]


async def test_a_crashed_child_stops_the_rest_and_the_run_fails(make_run: MakeRun) -> None:
    await printed_url(make_run)
    os.kill(child_pid(make_run, "activation"), signal.SIGKILL)
    assert await exits_leaving_nothing(make_run) == 1
    assert "activation exited; stopping the rest." in make_run.output()
