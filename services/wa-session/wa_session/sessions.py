"""One state machine per WhatsApp session this instance owns.

Every transition is one transaction: ``wa_sessions`` (state, seq+1, reason), fenced by owner and
epoch, plus the ``wa.session.status`` event (and any other event) in the outbox. The close codes
are handled as WhatsApp means them: 515 open again at once, QR refs ended stop until asked, 401
wipe the auth state, 440 never fight back, transient codes back off with jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, get_args

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import case, func, update

from shared.bus import Outbox
from shared.db import Database
from shared.messages import (
    Event,
    PairingCodeIssued,
    QrIssued,
    SessionConnected,
    SessionFailed,
    SessionLoggedOut,
    SessionState,
    SessionStateChanged,
)
from shared.models import WaSession
from wa_session.auth_store import wipe
from wa_session.bridge import BridgeError

log = structlog.get_logger(__name__)

ALL_STATES: tuple[SessionState, ...] = get_args(SessionState)
SESSIONS = Gauge("wa_sessions", "Sessions owned by this instance, by state", ["state"])
RECONNECTS = Counter(
    "wa_reconnects_total", "Reconnects scheduled after a transient close", ["reason"]
)
QR_ISSUED = Counter("wa_qr_issued_total", "QR codes shown for new logins")
QR_REFRESHED = Counter(
    "wa_qr_refreshed_total", "QR codes re-rendered after WhatsApp retired their secret"
)
CLIENT_TOO_OLD = Counter(
    "wa_client_too_old_total",
    "Logins refused because our WhatsApp Web version is too old (405), by what followed",
    ["outcome"],
)

# Close reasons (named by the bridge from Baileys' codes) that a new connection may cure.
# "stopped" here is a close we did not ask for; "bridge_error" a socket the bridge could not keep.
TRANSIENT = {"connection_lost", "connection_closed", "bad_session", "unavailable"}
TRANSIENT |= {"multidevice_mismatch", "stopped", "bridge_error"}
BACKOFF_START = 1.0
BACKOFF_CAP = 60.0


class BridgeCommands(Protocol):
    async def command(self, cmd: str, timeout: float | None = None, **fields: Any) -> Any: ...


@dataclass
class LiveSession:
    id: uuid.UUID
    epoch: int
    pairing_phone: str | None
    state: str = "starting"
    # Between an `open` sent and its `closed` event: the bridge holds a socket for it.
    socket: bool = False
    # Why we are closing it ourselves: "stop", "logout", "handover" or "fenced".
    closing: str | None = None
    attempts: int = 0
    phone: str | None = None
    # The phone has linked this login (paired or logged in with stored creds).
    linked: bool = False
    # When (monotonic) the lease this instance holds on it was last taken or renewed.
    lease_since: float = 0.0
    # One retry after a 405, once the bridge has a newer WhatsApp Web version.
    retried_with_newer_version: bool = False
    retry: asyncio.Task[None] | None = field(default=None, repr=False)


def backoff_delay(attempt: int) -> float:
    """1 s doubling to 60 s, with ±20 % jitter so that many sessions do not reconnect in step."""
    base = min(BACKOFF_CAP, BACKOFF_START * 2 ** (attempt - 1))
    jittered: float = base * random.uniform(0.8, 1.2)  # noqa: S311 (timing, not secrets)
    return round(min(BACKOFF_CAP, jittered), 2)


def _session_log(live: LiveSession) -> Any:
    """A logger bound to the session (its id is the connection id: the correlation id)."""
    return log.bind(session_id=str(live.id), correlation_id=str(live.id))


class SessionManager:
    def __init__(
        self, database: Database, outbox: Outbox, instance_id: str, lease_ttl: float
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._instance_id = instance_id
        self._lease_ttl = lease_ttl
        # Leeway for the pipe to the bridge and the clocks' reading: a tenth, at most 2 s.
        self._lease_margin = min(2.0, lease_ttl / 10)
        self._live: dict[uuid.UUID, LiveSession] = {}
        self.bridge: BridgeCommands | None = None
        for state in ALL_STATES:
            SESSIONS.labels(state=state).set_function(self._counter_of(state))

    def _counter_of(self, state: str) -> Callable[[], float]:
        return lambda: sum(1 for live in self._live.values() if live.state == state)

    # --- what the lease keeper and the bridge ask -------------------------------------------

    def epoch_of(self, session_id: uuid.UUID) -> int | None:
        live = self._live.get(session_id)
        return live.epoch if live is not None and live.closing != "fenced" else None

    def owned(self) -> dict[uuid.UUID, LiveSession]:
        return dict(self._live)

    def lease_ms(self, live: LiveSession) -> int:
        """How long the bridge may keep this session's socket without hearing of a renewal: ends
        a margin before the lease can lapse, so a stalled instance's socket is closed before
        another instance may take the session over."""
        left = live.lease_since + self._lease_ttl - self._lease_margin - time.monotonic()
        return max(1, int(left * 1000))

    async def renewed(self, lives: list[LiveSession], since: float) -> None:
        """The leases of ``lives`` were renewed by a round that started at ``since``: tell the
        bridge their new deadlines."""
        for live in lives:
            live.lease_since = since
        if not lives or self.bridge is None:
            return
        leases = [
            {"session": str(live.id), "ms": self.lease_ms(live)} for live in lives if live.socket
        ]
        if not leases:
            return
        try:
            await self.bridge.command("lease", leases=leases)
        except BridgeError as exc:
            log.warning("lease deadlines not sent to the bridge", error=str(exc))

    async def adopt(
        self,
        session_id: uuid.UUID,
        epoch: int,
        pairing_phone: str | None,
        logout: bool,
        linked: bool = False,
        lease_since: float | None = None,
    ) -> None:
        """A session this instance just leased (by a claim that started at ``lease_since``):
        open it (resumed from stored state if any)."""
        live = LiveSession(
            session_id,
            epoch,
            pairing_phone,
            linked=linked,
            lease_since=time.monotonic() if lease_since is None else lease_since,
        )
        self._live[session_id] = live
        if logout:
            await self.logout(live)
        else:
            await self._open(live)

    async def stop(self, live: LiveSession) -> None:
        """Close without logging out (desired_running is already false in the database)."""
        if live.closing is not None:
            return
        live.closing = "stop"
        self._cancel_retry(live)
        if live.socket:
            await self._bridge_call("close", live)
        else:
            await self._transition(live, "stopped", release=True)

    async def logout(self, live: LiveSession) -> None:
        if live.closing in ("logout", "fenced", "handover"):
            return
        live.closing = "logout"
        self._cancel_retry(live)
        if live.socket:
            # Its `closed` event (401, or "stopped" if WhatsApp could not be told) wipes the state.
            await self._bridge_call("logout", live)
        else:
            await self._logged_out(live, "requested")

    async def lose(self, live: LiveSession) -> None:
        """The lease is gone (taken over, not renewed): close the socket at once, write nothing."""
        if self._live.get(live.id) is live:
            del self._live[live.id]
        live.closing = "fenced"
        self._cancel_retry(live)
        _session_log(live).warning("lease lost; closing the session")
        if live.socket:
            await self._bridge_call("close", live)

    def bridge_exited(self) -> None:
        for live in self._live.values():
            live.socket = False
            self._cancel_retry(live)

    async def bridge_restarted(self) -> None:
        """The new bridge has no sockets: open every session again from its stored state."""
        for live in list(self._live.values()):
            # A stop or logout whose `closed` event died with the old bridge ends here.
            if live.closing == "stop":
                await self._transition(live, "stopped", release=True)
            elif live.closing == "logout":
                await self._logged_out(live, "requested")
            elif live.closing is None:
                await self._open(live, reason="bridge_restarted")

    def handover(self) -> list[LiveSession]:
        """Shutdown: mark every session as being handed over; the caller closes the bridge."""
        lives = list(self._live.values())
        for live in lives:
            live.closing = "handover"
            self._cancel_retry(live)
        return lives

    async def release_all(self, lives: list[LiveSession]) -> None:
        """After the sockets are closed: give the leases up so another instance resumes at once."""
        for live in lives:
            await self._transition(live, "reconnecting", reason="handover", release_lease=True)
        self._live.clear()

    # --- bridge events ----------------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> None:
        try:
            session_id = uuid.UUID(str(event.get("session")))
        except ValueError:
            return
        live = self._live.get(session_id)
        if live is None:
            return
        kind = event.get("type")
        if kind == "qr":
            refresh = bool(event.get("refresh"))
            (QR_REFRESHED if refresh else QR_ISSUED).inc()
            index = int(event.get("index", 0))
            expires_at = datetime.now(UTC) + timedelta(milliseconds=int(event.get("ttlMs", 0)))
            await self._transition(
                live,
                "waiting_for_scan",
                status={"qr_index": index, "qr_expires_at": expires_at},
                events=[
                    QrIssued(
                        session_id=str(live.id),
                        qr=str(event["qr"]),
                        index=index,
                        expires_at=expires_at,
                        refresh=refresh,
                    )
                ],
            )
        elif kind == "pairing_code":
            await self._transition(
                live,
                "waiting_for_scan",
                reason="pairing_code",
                events=[PairingCodeIssued(session_id=str(live.id), code=str(event["code"]))],
            )
        elif kind == "paired":
            live.phone = event.get("phone") or live.phone
            live.linked = True
            await self._transition(live, "paired")
        elif kind == "open":
            live.attempts = 0
            live.linked = True
            live.phone = event.get("phone") or live.phone
            await self._transition(
                live,
                "connected",
                events=[SessionConnected(session_id=str(live.id), phone=live.phone or "")],
            )
        elif kind == "closed":
            live.socket = False
            await self._on_closed(
                live,
                str(event.get("reason")),
                event.get("code"),
                str(event.get("message", "")),
                bool(event.get("versionRefreshed")),
            )

    async def _on_closed(
        self, live: LiveSession, reason: str, code: Any, message: str, version_refreshed: bool
    ) -> None:
        _session_log(live).info("session closed", code=code, close_reason=reason)
        if live.closing in ("handover", "fenced"):
            return
        if live.closing == "logout" or reason == "logged_out":
            await self._logged_out(live, "requested" if live.closing == "logout" else reason)
        elif live.closing == "stop":
            await self._transition(live, "stopped", release=True)
        elif reason in ("fenced", "lease_expired"):
            # The bridge ended it because our lease may be someone else's now.
            await self.lose(live)
        elif reason == "restart_required":
            # 515 right after pairing: the new creds are stored, log in with them now.
            await self._transition(live, "restarting")
            await self._open(live)
        elif reason == "qr_expired":
            await self._transition(live, "qr_expired", reason=reason, release=True, stay=False)
        elif reason == "replaced":
            # Another client took this login: fighting back would make both reconnect forever.
            await self._transition(live, "replaced", reason=reason, release=True, stay=False)
        elif reason == "client_too_old":
            await self._client_too_old(live, code, message, version_refreshed)
        elif reason in TRANSIENT:
            await self._reconnect_later(live, reason)
        else:
            detail = f"{reason} ({code}): {message}" if message else f"{reason} ({code})"
            await self._transition(
                live,
                "failed",
                reason=detail,
                release=True,
                stay=False,
                events=[SessionFailed(session_id=str(live.id), reason=reason, message=message)],
            )

    async def _client_too_old(
        self, live: LiveSession, code: Any, message: str, version_refreshed: bool
    ) -> None:
        """405: WhatsApp refuses our WhatsApp Web version. Once, if the bridge could move to a
        newer one, open again at once; otherwise stop and say so (an operator must set a newer
        WA_BRIDGE_WA_VERSION), rather than retry into the same refusal."""
        if version_refreshed and not live.retried_with_newer_version:
            live.retried_with_newer_version = True
            CLIENT_TOO_OLD.labels("retried").inc()
            await self._open(live, reason="client_too_old")
            return
        CLIENT_TOO_OLD.labels("stopped").inc()
        _session_log(live).error("whatsapp refuses our web version", code=code)
        await self._transition(
            live,
            "client_too_old",
            reason="client_too_old",
            release=True,
            stay=False,
            events=[
                SessionFailed(session_id=str(live.id), reason="client_too_old", message=message)
            ],
        )

    async def _logged_out(self, live: LiveSession, reason: str) -> None:
        await self._transition(
            live,
            "logged_out",
            reason=reason,
            release=True,
            stay=False,
            start_if_asked=True,
            wipe_state=True,
            events=[SessionLoggedOut(session_id=str(live.id), phone=live.phone, reason=reason)],
        )

    async def _reconnect_later(self, live: LiveSession, reason: str) -> None:
        live.attempts += 1
        delay = backoff_delay(live.attempts)
        RECONNECTS.labels(reason=reason).inc()
        await self._transition(
            live, "reconnecting", reason=reason, status={"retry_in_seconds": delay}
        )
        live.retry = asyncio.create_task(self._open_after(live, delay))

    async def _open_after(self, live: LiveSession, delay: float) -> None:
        await asyncio.sleep(delay)
        live.retry = None
        if self._live.get(live.id) is live and live.closing is None:
            await self._open(live)

    def _cancel_retry(self, live: LiveSession) -> None:
        if live.retry is not None and live.retry is not asyncio.current_task():
            live.retry.cancel()
        live.retry = None

    async def _open(self, live: LiveSession, reason: str | None = None) -> None:
        if not await self._transition(live, "starting", reason=reason):
            return
        live.socket = True
        try:
            await self._command(
                "open", live, pairingPhone=live.pairing_phone, leaseMs=self.lease_ms(live)
            )
        except BridgeError as exc:
            live.socket = False
            if "not running" in str(exc) or "exited" in str(exc):
                return  # the bridge restarts and reopens every owned session
            await self._reconnect_later(live, "bridge_error")

    async def _command(self, cmd: str, live: LiveSession, **fields: Any) -> Any:
        assert self.bridge is not None
        return await self.bridge.command(cmd, session=str(live.id), **fields)

    async def _bridge_call(self, cmd: str, live: LiveSession) -> None:
        try:
            await self._command(cmd, live)
        except BridgeError as exc:
            _session_log(live).warning("bridge command failed", cmd=cmd, error=str(exc))

    # --- persistence --------------------------------------------------------------------------

    async def _transition(
        self,
        live: LiveSession,
        state: SessionState,
        *,
        reason: str | None = None,
        status: dict[str, Any] | None = None,
        events: list[Event] | None = None,
        release: bool = False,
        stay: bool = True,
        release_lease: bool = False,
        wipe_state: bool = False,
        start_if_asked: bool = False,
    ) -> bool:
        """Persist and publish one transition; False (and the session dropped) if fenced.

        ``release``: the session ends here, the lease is given up and the instance forgets it;
        ``stay=False`` also clears desired_running (WhatsApp ended it: no restart until asked).
        ``release_lease``: only the lease is given up (a handover), the session should run on.
        ``start_if_asked``: with ``stay=False``, a start recorded while a logout was pending
        (desired_running true beside ``pending_action = 'logout'``) is kept, so that the session
        is claimed again as a fresh login once this transition released it.
        """
        values: dict[str, Any] = {
            "state": state,
            "seq": WaSession.seq + 1,
            "reason": reason,
            "updated_at": func.now(),
        }
        if live.phone:
            values["phone"] = live.phone
        if live.linked:
            values["linked_at"] = func.coalesce(WaSession.linked_at, func.now())
        if wipe_state:
            # WhatsApp forgot the device: the next start is a new, unlinked login.
            live.linked = False
            values |= {"linked_at": None, "phone": None}
        if release or release_lease:
            values["lease_expires_at"] = func.now()
        if release:
            values["pending_action"] = None
        if not stay and start_if_asked:
            # Evaluated on the row as it was: a start that came after the logout command wins.
            values["desired_running"] = case(
                (WaSession.pending_action == "logout", WaSession.desired_running), else_=False
            )
        elif not stay:
            values["desired_running"] = False
        async with self._database.unit_of_work() as uow:
            seq = (
                await uow.session.execute(
                    update(WaSession)
                    .where(
                        WaSession.id == live.id,
                        WaSession.owner == self._instance_id,
                        WaSession.epoch == live.epoch,
                    )
                    .values(**values)
                    .returning(WaSession.seq)
                )
            ).scalar_one_or_none()
            if seq is None:
                await uow.commit()
                await self.lose(live)
                return False
            if wipe_state:
                await wipe(uow, live.id)
            uow.publish(
                SessionStateChanged(
                    session_id=str(live.id), state=state, seq=seq, reason=reason, **(status or {})
                ),
                str(live.id),
            )
            for event in events or []:
                uow.publish(event, str(live.id))
            await uow.commit()
        live.state = state
        if release and self._live.get(live.id) is live:
            del self._live[live.id]
        _session_log(live).info("session state", state=state, seq=seq, reason=reason)
        try:
            await self._outbox.flush(uow)
        except Exception as exc:
            # Committed in the outbox: the relay publishes it once the broker is back.
            log.warning("publishing after commit failed", error=str(exc))
        return True
