"""The Node bridge (Baileys) as a supervised child process, spoken to in JSON lines on stdio.

Commands go down with an id and are answered by a ``reply``; the bridge's own requests for auth
state (``creds.get``, ``keys.get``, ``state.set``) are answered with a ``result``; everything
else it prints is a session event, handed to ``on_event`` in the order it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import Counter

from wa_session.auth_store import AuthStore, Fenced
from wa_session.settings import WaSessionSettings

log = structlog.get_logger(__name__)

BRIDGE_RESTARTS = Counter(
    "wa_bridge_restarts_total", "Times the Node bridge died and was restarted"
)

# Auth state lines can be large (many pre-keys at once).
LINE_LIMIT = 64 * 1024 * 1024
RESTART_BACKOFF_CAP = 30.0

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]
EpochOf = Callable[[uuid.UUID], int | None]
RestartHandler = Callable[[], Awaitable[None]]


class BridgeError(Exception):
    """A command the bridge refused or did not answer in time."""


class Bridge:
    def __init__(
        self,
        settings: WaSessionSettings,
        auth: AuthStore,
        epoch_of: EpochOf,
        on_event: EventHandler,
        on_restart: RestartHandler,
        on_exit: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._auth = auth
        self._epoch_of = epoch_of
        self._on_event = on_event
        self._on_restart = on_restart
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        settings = self._settings
        if settings.websocket_url:
            env["WA_BRIDGE_WS_URL"] = settings.websocket_url
        if settings.trust_emulator_root_key is not None:
            log.warning(
                "WA_TRUST_EMULATOR_ROOT_KEY is set: the bridge trusts an EMULATOR instead of "
                "WhatsApp; never use this in production"
            )
            env["WA_BRIDGE_TRUST_ROOT_KEY"] = settings.trust_emulator_root_key.get_secret_value()
        if settings.qr_timeout_ms:
            env["WA_BRIDGE_QR_TIMEOUT_MS"] = str(settings.qr_timeout_ms)
        # The bridge needs no secrets of ours.
        for name in ("WA_STATE_KEYS", "DATABASE_URL", "AMQP_URL", "JWT_SECRET"):
            env.pop(name, None)
        return env

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch_events())
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self) -> None:
        self._ready.clear()
        self._process = await asyncio.create_subprocess_exec(
            self._settings.node_binary,
            self._settings.bridge_path,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self._environment(),
            limit=LINE_LIMIT,
        )
        reader = asyncio.create_task(self._read(self._process))
        self._tasks.add(reader)
        reader.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=30)
        except TimeoutError:
            # Killed so that the supervisor's next wait() returns and it tries again.
            self._process.kill()
            raise BridgeError("the bridge did not report bridge.ready within 30 s") from None
        log.info("bridge started", pid=self._process.pid)

    async def _supervise(self) -> None:
        """Restart a bridge that died, with capped backoff, then let the sessions resume."""
        failures = 0
        while True:
            assert self._process is not None
            code = await self._process.wait()
            if self._stopping:
                return
            BRIDGE_RESTARTS.inc()
            self._fail_pending("the bridge exited")
            self._on_exit()
            delay = min(RESTART_BACKOFF_CAP, 0.5 * 2**failures)
            log.error("bridge exited; restarting", exit_code=code, restart_in_seconds=delay)
            await asyncio.sleep(delay)
            try:
                await self._spawn()
            except (OSError, BridgeError) as exc:
                failures += 1
                log.error("bridge restart failed", error=str(exc))
                continue
            failures = 0
            await self._on_restart()

    async def stop(self) -> None:
        """Close stdin: the bridge then ends every socket without logging out, and exits."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in (self._supervisor, self._dispatcher, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._supervisor, self._dispatcher, *self._tasks) if t is not None),
            return_exceptions=True,
        )

    async def command(self, cmd: str, timeout: float | None = None, **fields: Any) -> Any:
        process = self._process
        if process is None or process.returncode is not None or not self._ready.is_set():
            raise BridgeError("the bridge is not running")
        command_id = self._next_id
        self._next_id += 1
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = reply
        try:
            await self._write(process, {"id": command_id, "cmd": cmd, **fields})
            answer = await asyncio.wait_for(
                reply, timeout or self._settings.bridge_request_timeout_seconds
            )
        except TimeoutError:
            raise BridgeError(f"no reply to {cmd} in time") from None
        finally:
            self._replies.pop(command_id, None)
        if not answer.get("ok"):
            raise BridgeError(str(answer.get("error", "refused")))
        return answer.get("value")

    async def _write(self, process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()

    def _fail_pending(self, why: str) -> None:
        for reply in self._replies.values():
            if not reply.done():
                reply.set_result({"ok": False, "error": why})

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("bridge printed a line that is not JSON", length=len(line))
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "reply":
                reply = self._replies.get(message.get("id", -1))
                if reply is not None and not reply.done():
                    reply.set_result(message)
            elif kind in ("creds.get", "keys.get", "state.set"):
                # Answered concurrently: the bridge serializes writes per session itself.
                task = asyncio.create_task(self._answer(process, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif kind == "bridge.ready":
                self._ready.set()
            else:
                self._events.put_nowait(message)

    async def _answer(self, process: asyncio.subprocess.Process, request: dict[str, Any]) -> None:
        rid = request.get("rid")
        try:
            value = await self._serve(request)
            result: dict[str, Any] = {"type": "result", "rid": rid, "ok": True, "value": value}
        except Fenced:
            result = {"type": "result", "rid": rid, "ok": False, "error": "fenced"}
        except Exception as exc:
            log.error("auth state request failed", request=request.get("type"), error=repr(exc))
            result = {"type": "result", "rid": rid, "ok": False, "error": "storage_error"}
        if process.returncode is None:
            await self._write(process, result)

    async def _serve(self, request: dict[str, Any]) -> Any:
        session_id = uuid.UUID(str(request.get("session")))
        kind = request["type"]
        if kind == "creds.get":
            return await self._auth.get_creds(session_id)
        if kind == "keys.get":
            return await self._auth.get_keys(
                session_id, str(request["category"]), [str(i) for i in request.get("ids", [])]
            )
        epoch = self._epoch_of(session_id)
        if epoch is None:
            raise Fenced(str(session_id))
        await self._auth.set_state(
            session_id, epoch, request.get("creds"), request.get("keys") or {}
        )
        return None

    async def _dispatch_events(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._on_event(event)
            except Exception:
                log.exception("handling a bridge event failed", event_type=event.get("type"))
