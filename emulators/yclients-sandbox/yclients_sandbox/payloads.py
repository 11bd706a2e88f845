"""Bodies YClients sends: lifecycle events to the callback URL, entity webhooks to webhook_urls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

MOSCOW = timezone(timedelta(hours=3))


def lifecycle_body(
    salon_id: int,
    application_id: int,
    event: str,
    partner_token: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "salon_id": salon_id,
        "application_id": application_id,
        "event": event,
        "partner_token": partner_token,
        **(extra or {}),
    }


def entity_body(
    company_id: int,
    resource: str,
    resource_id: int,
    status: str,
    now: float,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if data is None and resource == "record":
        data = record_data(company_id, resource_id, status, now)
    elif data is None and resource == "client":
        data = client_data(company_id, resource_id)
    elif data is None:
        data = {"id": resource_id, "company_id": company_id}
    return {
        "company_id": company_id,
        "resource": resource,
        "resource_id": resource_id,
        "status": status,
        "data": data,
    }


def client_data(
    company_id: int,
    client_id: int,
    name: str = "Ольга Петрова",
    phone: str = "79031234567",
) -> dict[str, Any]:
    return {
        "id": client_id,
        "company_id": company_id,
        "name": name,
        "surname": "",
        "display_name": name,
        "phone": f"+{phone}",
        "email": "olga.petrova@example.ru",
        "sex_id": 2,
        "birth_date": "1990-04-12",
        "comment": "",
        "visits": 7,
        "spent": 17500,
        "discount": 0,
        "categories": [],
    }


def record_data(
    company_id: int,
    record_id: int,
    status: str,
    now: float,
    *,
    start_at: float | None = None,
    service: str = "Стрижка женская",
    client_name: str = "Ольга Петрова",
    client_phone: str = "79031234567",
    client_id: int = 98765432,
) -> dict[str, Any]:
    changed = datetime.fromtimestamp(now, MOSCOW).replace(microsecond=0)
    if start_at is None:
        start = (changed + timedelta(days=1)).replace(hour=14, minute=0, second=0)
    else:
        start = datetime.fromtimestamp(start_at, MOSCOW).replace(microsecond=0)
    return {
        "id": record_id,
        "company_id": company_id,
        "staff_id": 1473520,
        "services": [
            {
                "id": 8954410,
                "title": service,
                "cost": 2500,
                "cost_to_pay": 2500,
                "manual_cost": 2500,
                "cost_per_unit": 2500,
                "discount": 0,
                "first_cost": 2500,
                "amount": 1,
            }
        ],
        "goods_transactions": [],
        "staff": {
            "id": 1473520,
            "name": "Мария Иванова",
            "specialization": "Парикмахер-стилист",
            "avatar": "",
            "rating": 5,
        },
        "client": client_data(company_id, client_id, client_name, client_phone),
        "date": start.strftime("%Y-%m-%d %H:%M:%S"),
        "datetime": start.isoformat(),
        "create_date": changed.isoformat(),
        "last_change_date": changed.isoformat(),
        "comment": "Записалась через WhatsApp",
        "online": True,
        "attendance": 0,
        "visit_attendance": 0,
        "confirmed": 1,
        "seance_length": 3600,
        "length": 3600,
        "sms_before": 0,
        "sms_now": 0,
        "email_now": 0,
        "notified": 0,
        "master_request": 1,
        "api_id": "",
        "from_url": "",
        "review_requested": 0,
        "visit_id": record_id + 1000000,
        "created_user_id": 1209543,
        "deleted": status == "delete",
        "paid_full": 0,
        "prepaid": False,
        "prepaid_confirmed": False,
        "activity_id": 0,
        "custom_fields": [],
        "record_labels": [],
        "documents": [],
    }
