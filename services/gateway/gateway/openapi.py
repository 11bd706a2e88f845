"""The OpenAPI 3 description of ``/marketplace/api/``, written by hand: three operations."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Неверный запрос",
        401: "Нет ключа доступа, он неверен, истёк или отозван",
        403: "Сессия другого подключения",
        404: "Не найдено",
        409: "Действие сейчас невозможно (причина в error)",
        422: "Неверные данные",
        429: "Слишком много запросов QR-кода подряд: подождите минуту",
    }
    return {
        str(code): {
            "description": text[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "AI Admin onboarding API",
        "version": "1.0.0",
        "description": "Для страницы подключения: токен из ссылки YClients (Bearer) открывает "
        "только своё подключение.",
    },
    "servers": [{"url": "/marketplace/api"}],
    "security": [{"onboardingToken": []}],
    "paths": {
        "/qr": {
            "post": {
                "summary": "Запустить вход в WhatsApp: QR-коды или код по номеру телефона",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "phone": {
                                        "type": "string",
                                        "pattern": "^\\+?[0-9 ()-]{10,20}$",
                                        "example": "79991234567",
                                        "description": "Для входа по коду вместо QR",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Запрос отправлен; QR или код придут через Socket.IO",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["sessionId", "mode"],
                                    "properties": {
                                        "sessionId": {"type": "string", "format": "uuid"},
                                        "mode": {"type": "string", "enum": ["qr", "pairing_code"]},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 404, 409, 422, 429),
                },
            }
        },
        "/status/{sessionId}": {
            "get": {
                "summary": "Состояние подключения",
                "parameters": [
                    {
                        "name": "sessionId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "Состояние",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}
                        },
                    },
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/activate": {
            "post": {
                "summary": "Повторить подключение филиалов в YClients (после входа в WhatsApp)",
                "responses": {
                    "202": {"description": "Запрос отправлен"},
                    **_errors(401, 404, 409),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "onboardingToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "description": "Код для программ"},
                    "message": {"type": "string", "description": "Текст для человека, по-русски"},
                },
            },
            "Status": {
                "type": "object",
                "required": ["sessionId", "stage", "whatsapp", "salons"],
                "properties": {
                    "sessionId": {"type": "string", "format": "uuid"},
                    "stage": {
                        "type": "string",
                        "enum": [
                            "waiting",
                            "qr",
                            "linked",
                            "activating",
                            "done",
                            "failed",
                            "superseded",
                        ],
                    },
                    "connectionStatus": {"type": "string"},
                    "whatsapp": {
                        "type": "object",
                        "properties": {
                            "state": {"type": "string"},
                            "reason": {"type": "string", "nullable": True},
                        },
                    },
                    "salons": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "name": {"type": "string", "nullable": True},
                                "status": {"type": "string"},
                            },
                        },
                    },
                    "activationError": {"type": "string", "nullable": True},
                    "user": {
                        "type": "object",
                        "description": "The YClients user who opened the connection",
                        "properties": {"name": {"type": "string", "nullable": True}},
                    },
                },
            },
        },
    },
}
