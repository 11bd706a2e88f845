"""The marketplace page's section per installed salon: bookings and their notifications with
delivery statuses, and billing (payments, refunds, discounts, the payment link).

The offline demo's way past «Готово»: «Создать запись» books the demo client, our channel
sends the confirmation to the client's phone, and its statuses appear here by themselves.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from aiohttp import web

from yclients_sandbox.clock import MOSCOW
from yclients_sandbox.config import SandboxConfig
from yclients_sandbox.events import spawn
from yclients_sandbox.keys import CONFIG, STATE
from yclients_sandbox.notify import Refused, create_record, deliver_change
from yclients_sandbox.records import Notification, StatusReport
from yclients_sandbox.state import INSTALLED, Salon, SandboxState, Status

routes = web.RouteTableDef()

PANEL_PATH = "/marketplace/panel"
RECORD_FORM_PATH = "/marketplace/demo/records"
SHOWN_NOTIFICATIONS = 8

STATE_LABELS = {
    Status.ACTIVE: "подключено",
    Status.FREEZED: "заморожено",
}
EVENT_LABELS = {
    "record_create": "Подтверждение записи",
    "record_update": "Запись изменена",
    "reminder": "Напоминание",
    "mailing": "Рассылка",
}
OUTCOME_LABELS = {
    "pending": "Отправляется оператору…",
    "retry": "Повтор отправки…",
    "delivered": "Принято оператором",
    "rejected": "Оператор отклонил запрос",
    "dropped": "Оператор не ответил — отправка прекращена",
}

STYLE = """
.salon h2 { font-size: 18px; margin: 0 0 4px; }
.salon { margin-top: 16px; }
.salon h3 { font-size: 15px; margin: 16px 0 8px; }
.salon form { margin: 8px 0; }
.salon label.plain { display: block; border: 0; padding: 0; margin: 8px 0 0; cursor: auto;
  font-size: 14px; color: #6b7080; }
.salon input[type=text], .salon input[type=tel] { width: 100%; padding: 10px; margin: 4px 0;
  border: 1px solid #dde0e8; border-radius: 8px; font-size: 16px; }
.note { border: 1px solid #dde0e8; border-radius: 10px; padding: 10px; margin-bottom: 8px; }
.note p { margin: 4px 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 999px; font-size: 13px;
  background: #eef0f5; }
.badge.ok { background: #d8f5e3; color: #14692f; }
.badge.bad { background: #fde2e2; color: #9b1c1c; }
.billing li { margin-bottom: 4px; }
"""

SCRIPT = """
(function () {
  var panel = document.getElementById("salons");
  if (!panel || !window.fetch) { return; }
  function editing() {
    var el = document.activeElement;
    return !!el && panel.contains(el) && el.tagName === "INPUT";
  }
  function refresh() {
    fetch("__PANEL__", {cache: "no-store"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && !editing()) { panel.innerHTML = html; } })
      .catch(function () {});
  }
  panel.addEventListener("submit", function (event) {
    var form = event.target;
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) { button.disabled = true; button.textContent = "Создаём запись…"; }
    if (document.activeElement) { document.activeElement.blur(); }
    fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form)),
                        redirect: "manual"}).then(refresh, refresh);
  });
  setInterval(refresh, 1500);
})();
""".replace("__PANEL__", PANEL_PATH)


def when(timestamp: float) -> str:
    return f"{datetime.fromtimestamp(timestamp, MOSCOW):%d.%m.%Y %H:%M}"


def status_badge(reports: list[StatusReport]) -> str:
    last = reports[-1]
    tone = "ok" if last["status"] == 1 else "bad" if last["status"] in (2, 16, 52) else ""
    return f'<span class="badge {tone}">{escape(last["label"])}</span>'


def destination_line(notification: Notification, statuses: dict[str, list[StatusReport]]) -> str:
    lines = []
    for destination in notification.destinations:
        reports = statuses.get(destination.id, [])
        if notification.skipped_reason is not None:
            state = f'<span class="badge bad">Не отправлено: {escape(notification.skipped_reason)}'
            state += "</span>"
        elif reports:
            state = status_badge(reports)
        elif destination.error_message is not None or destination.error_code is not None:
            code = f" {destination.error_code}" if destination.error_code is not None else ""
            text = escape(destination.error_message or "")
            state = f'<span class="badge bad">Ошибка оператора{code}: {text}</span>'
        else:
            label = OUTCOME_LABELS.get(notification.outcome, notification.outcome)
            tone = "bad" if notification.outcome in ("rejected", "dropped") else ""
            state = f'<span class="badge {tone}">{escape(label)}</span>'
        lines.append(f"<p>+{escape(destination.phone)} · {state}</p>")
    return "".join(lines)


def notification_item(notification: Notification, state: SandboxState) -> str:
    label = EVENT_LABELS.get(notification.event, notification.event)
    return (
        '<div class="note">'
        f'<p class="muted">{escape(label)} · {when(notification.created_at)}</p>'
        f"<p>{escape(notification.text)}</p>"
        f"{destination_line(notification, state.book.statuses)}"
        "</div>"
    )


def record_form(salon: Salon, phone: str, name: str, service: str) -> str:
    return f"""<form method="post" action="{RECORD_FORM_PATH}">
  <input type="hidden" name="salon_id" value="{salon.id}">
  <label class="plain">Телефон клиента
    <input type="tel" name="client_phone" value="{escape(phone)}"></label>
  <label class="plain">Имя клиента
    <input type="text" name="client_name" value="{escape(name)}"></label>
  <label class="plain">Услуга
    <input type="text" name="service" value="{escape(service)}"></label>
  <button type="submit">Создать запись</button>
</form>"""


def billing(salon: Salon, state: SandboxState) -> str:
    items = []
    if salon.trial_ends_at is not None:
        items.append(f"<li>Пробный период до {when(salon.trial_ends_at)}</li>")
    for payment in state.payments_of(salon.id):
        refunded = " · <strong>возвращён</strong>" if payment.is_refunded else ""
        items.append(
            f"<li>Платёж № {payment.id}: {payment.payment_sum:g} {escape(payment.currency_iso)}"
            f" за {escape(payment.period_from)} — {escape(payment.period_to)}{refunded}</li>"
        )
    if not state.payments_of(salon.id):
        items.append("<li>Платежей нет</li>")
    for discount in salon.discounts:
        items.append(f"<li>Скидка {discount['discount']:g}% с {escape(discount['date'])}</li>")
    if not state.tariffs:
        items.append(
            "<li>Ссылка на оплату: у приложения нет тарифов — YClients отвечает 404 "
            "«Произошла ошибка»</li>"
        )
    elif salon.payment_links:
        link = salon.payment_links[-1]
        href = link["url"].removeprefix(state.public_url or "")
        items.append(
            f"<li>Ссылка на оплату выдана {escape(link['date'])}: "
            f'<a href="{escape(href)}">открыть</a></li>'
        )
    else:
        items.append("<li>Ссылка на оплату: тарифы есть, ссылку ещё не запрашивали</li>")
    return f'<ul class="billing">{"".join(items)}</ul>'


def salon_section(salon: Salon, state: SandboxState, config: SandboxConfig) -> str:
    notes = [n for n in state.book.notifications if n.salon_id == salon.id]
    shown = "".join(notification_item(n, state) for n in reversed(notes[-SHOWN_NOTIFICATIONS:]))
    channel = salon.channels.get("whatsapp")
    if channel is None:
        channel_text = "канал WhatsApp не подключён"
    else:
        channel_text = "канал WhatsApp включён" if channel else "канал WhatsApp выключен"
    return f"""<section class="card salon" id="salon-{salon.id}">
  <h2>{escape(salon.name)}</h2>
  <p class="muted">{escape(STATE_LABELS.get(salon.status, salon.status.value))} · {channel_text}</p>
  {record_form(salon, config.client_phone, config.client_name, config.service)}
  <h3>Уведомления</h3>
  {shown or '<p class="muted">Уведомлений пока нет.</p>'}
  <h3>Оплата</h3>
  {billing(salon, state)}
</section>"""


def render_panel(app: web.Application) -> str:
    state, config = app[STATE], app[CONFIG]
    installed = [salon for salon in state.salons.values() if salon.status in INSTALLED]
    return "\n".join(salon_section(salon, state, config) for salon in installed)


@routes.get(PANEL_PATH)
async def panel(request: web.Request) -> web.Response:
    return web.Response(
        text=render_panel(request.app),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


@routes.post(RECORD_FORM_PATH)
async def record_from_page(request: web.Request) -> web.Response:
    """«Создать запись»: the booking is made now, its sends go on in the background."""
    form = await request.post()
    salon_id = str(form.get("salon_id", ""))
    config = request.app[CONFIG]
    if not salon_id.isdigit():
        raise web.HTTPBadRequest(text="Не выбран филиал.")
    try:
        change = create_record(
            request.app,
            int(salon_id),
            str(form.get("client_phone") or config.client_phone),
            str(form.get("client_name") or "").strip() or None,
            str(form.get("service") or "").strip() or None,
        )
    except Refused as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    spawn(request.app, deliver_change(request.app, change))
    return web.Response(status=303, headers={"Location": f"/#salon-{change.salon.id}"})
