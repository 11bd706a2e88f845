"""Checks of request fields, collected into YClients' 422 `meta.errors`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yclients_sandbox.state import PartnerError

INVALID = "Ошибка валидации."


class Fields:
    """Reads typed fields from a body; `check()` raises one 422 listing every problem."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = body
        self.errors: dict[str, list[str]] = {}

    def _missing(self, name: str, required: bool) -> bool:
        if self._body.get(name) is None:
            if required:
                self.errors[name] = [f"Поле {name} обязательно для заполнения."]
            return True
        return False

    def integer(self, name: str) -> int:
        if self._missing(name, required=True):
            return 0
        value = self._body[name]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        self.errors[name] = [f"Поле {name} должно быть целым числом."]
        return 0

    def number(self, name: str) -> float:
        if self._missing(name, required=True):
            return 0.0
        value = self._body[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            self.errors[name] = [f"Поле {name} должно быть числом."]
            return 0.0

    def string(self, name: str, required: bool = True) -> str | None:
        if self._missing(name, required):
            return None
        value = self._body[name]
        if isinstance(value, str) and value:
            return value
        self.errors[name] = [f"Поле {name} должно быть непустой строкой."]
        return None

    def strings(self, name: str) -> list[str]:
        if self._missing(name, required=False):
            return []
        value = self._body[name]
        if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
            return value
        self.errors[name] = [f"Поле {name} должно быть массивом строк."]
        return []

    def boolean(self, name: str) -> bool:
        if self._missing(name, required=True):
            return False
        value = self._body[name]
        if value in (True, False, 0, 1, "0", "1", "true", "false"):
            return value in (True, 1, "1", "true")
        self.errors[name] = [f"Поле {name} должно быть логическим значением."]
        return False

    def check(self) -> None:
        if self.errors:
            raise PartnerError(422, INVALID, self.errors)
