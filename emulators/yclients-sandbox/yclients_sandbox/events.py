"""What YClients sends on its own: lifecycle events and entity webhooks, built and delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from yclients_sandbox.keys import BACKGROUND, CONFIG, SENDER, STATE
from yclients_sandbox.payloads import entity_body, lifecycle_body
from yclients_sandbox.state import INSTALLED, SOURCE_SANDBOX, Status
from yclients_sandbox.webhooks import Delivery

AFTER_ANSWER: web.RequestKey[list[Callable[[], None]]] = web.RequestKey("after_answer")


def apply_lifecycle(app: web.Application, salon_id: int, event: str) -> None:
    """Change the installation as YClients would before telling us: uninstall, freeze, payment."""
    state = app[STATE]
    salon = state.salons.get(salon_id)
    if salon is None or salon.status not in INSTALLED:
        return
    if event == "uninstall":
        state.mark_uninstalled(salon, SOURCE_SANDBOX)
    elif event == "freeze":
        state.freeze(salon_id, source=SOURCE_SANDBOX)
    elif event == "payment":
        salon.trial_ends_at = None
        salon.change(state.clock.now(), Status.ACTIVE, "payment", "Оплата", SOURCE_SANDBOX)


async def send_lifecycle(
    app: web.Application, salon_id: int, event: str, extra: dict[str, Any] | None = None
) -> Delivery:
    config = app[CONFIG]
    body = lifecycle_body(salon_id, config.application_id, event, config.partner_token, extra)
    return await app[SENDER].deliver("lifecycle", salon_id, app[STATE].callback_url, body)


def spawn(app: web.Application, work: Coroutine[Any, Any, object]) -> None:
    """Run in the background, owned by the app (cancelled when it stops)."""
    task: asyncio.Task[object] = asyncio.create_task(work)
    app[BACKGROUND].add(task)
    task.add_done_callback(app[BACKGROUND].discard)


def spawn_lifecycle(
    app: web.Application, salon_id: int, event: str, extra: dict[str, Any] | None = None
) -> None:
    """Send in the background, the way YClients notifies after a change of its own."""
    spawn(app, send_lifecycle(app, salon_id, event, extra))


def after_answer(request: web.Request, action: Callable[[], None]) -> None:
    """Do `action` once the answer to `request` has been written (see `partner_gate`).

    YClients tells us of a change it made on our request only after answering that request, so
    a lifecycle event never overtakes the answer it follows.
    """
    request.setdefault(AFTER_ANSWER, []).append(action)


def lifecycle_after_answer(
    request: web.Request, salon_id: int, event: str, extra: dict[str, Any] | None = None
) -> None:
    after_answer(request, lambda: spawn_lifecycle(request.app, salon_id, event, extra))


class NoWebhookUrls(Exception):
    pass


async def send_entities(
    app: web.Application,
    salon_id: int,
    resource: str,
    status: str,
    count: int,
    as_array: bool,
) -> list[Delivery]:
    """`count` entities to every webhook URL the salon registered: one POST each, or one array."""
    salon = app[STATE].salons.get(salon_id)
    if salon is None or not salon.webhook_urls:
        raise NoWebhookUrls(f"salon {salon_id} has no webhook_urls registered")
    now = app[STATE].clock.now()
    bodies = [
        entity_body(salon_id, resource, app[STATE].next_resource_id(), status, now)
        for _ in range(count)
    ]
    payloads: list[Any] = [bodies] if as_array else list(bodies)
    sender = app[SENDER]
    return list(
        await asyncio.gather(
            *(
                sender.deliver("entity", salon_id, url, payload)
                for url in salon.webhook_urls
                for payload in payloads
            )
        )
    )
