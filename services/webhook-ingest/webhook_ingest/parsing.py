"""Turning a raw body into validated lifecycle or entity bodies, or a precise 4xx.

YClients sends integers, but some integrations send numeric strings; both are taken. Booleans,
floats and anything PostgreSQL or a routing key could not hold are refused here, at the edge,
so that nothing accepted can fail later in the recorder.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from shared.refusals import Refusal

# marketplace_events stores ids as BIGINT and names in short varchar columns.
MAX_ID = 2**63 - 1


class Kind(StrEnum):
    LIFECYCLE = "lifecycle"
    ENTITY = "entity"


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return value


Id = Annotated[StrictInt, BeforeValidator(_whole_number), Field(gt=0, le=MAX_ID)]
AnyInt = Annotated[StrictInt, BeforeValidator(_whole_number), Field(ge=-MAX_ID, le=MAX_ID)]
Name64 = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Name32 = Annotated[StrictStr, Field(min_length=1, max_length=32)]
ResourceId = AnyInt | Annotated[StrictStr, Field(max_length=64)] | None


class LifecycleBody(BaseModel):
    """``{salon_id, application_id, event, partner_token, …}``; extra fields (payment) are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    salon_id: Id
    application_id: AnyInt
    event: Name64


class EntityBody(BaseModel):
    """``{company_id, resource, resource_id, status, data}``: one changed YClients entity."""

    model_config = ConfigDict(extra="allow", frozen=True)

    company_id: Id
    resource: Name64
    resource_id: ResourceId
    status: Name32
    data: dict[str, Any] | list[Any] | None = None


_ENTITY_LIST = TypeAdapter(list[EntityBody])


# Integers of 19 digits or more may not fit in 64 bits, which orjson would silently turn into
# floats. Mapping every digit to "9" and everything else to a space finds such runs in about a
# microsecond, several times faster than a regular expression.
_DIGITS_ONLY = bytes(ord("9") if ord("0") <= byte <= ord("9") else ord(" ") for byte in range(256))
_LONG_DIGIT_RUN = b"9" * 19
MIN_INT, MAX_UINT = -(2**63), 2**64 - 1
TOO_DEEP = "the body is nested too deeply"


def decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise Refusal(400, "empty_body", "the body must be a JSON object or array")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refusal(400, "malformed_json", str(exc)[:200]) from None
    try:
        if _LONG_DIGIT_RUN in raw.translate(_DIGITS_ONLY) and _has_wide_integer(json.loads(raw)):
            raise Refusal(422, "invalid_body", "integers must fit in 64 bits")
        if b"\\u0000" in raw and _contains_nul(document):
            # PostgreSQL cannot store NUL inside JSONB strings.
            raise Refusal(422, "invalid_body", "strings must not contain the NUL character")
    except RecursionError:
        raise Refusal(422, "invalid_body", TOO_DEEP) from None
    return document


def _has_wide_integer(value: Any) -> bool:
    if isinstance(value, int):
        return not MIN_INT <= value <= MAX_UINT
    if isinstance(value, dict):
        return any(_has_wide_integer(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_wide_integer(item) for item in value)
    return False


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


_ENTITY_MARKERS = ("company_id", "resource", "resource_id")
_LIFECYCLE_MARKERS = ("partner_token", "event", "salon_id", "application_id")


def classify(document: Any) -> Kind:
    """Entity webhooks name a company and a resource; lifecycle events a salon and an event."""
    if isinstance(document, list):
        return Kind.ENTITY
    if not isinstance(document, dict):
        raise Refusal(422, "invalid_body", "the body must be a JSON object or array")
    if any(key in document for key in _ENTITY_MARKERS):
        return Kind.ENTITY
    if any(key in document for key in _LIFECYCLE_MARKERS):
        return Kind.LIFECYCLE
    raise Refusal(
        422,
        "unrecognized_body",
        "expected a lifecycle event (salon_id, application_id, event, partner_token) "
        "or an entity webhook (company_id, resource, resource_id, status, data)",
    )


def parse_lifecycle(document: dict[str, Any]) -> LifecycleBody:
    try:
        return LifecycleBody.model_validate(document)
    except ValidationError as exc:
        raise Refusal(
            422, "invalid_body", "the body does not validate", detail=_errors(exc)
        ) from None


def parse_entities(document: Any) -> list[EntityBody]:
    """One entity object or a non-empty array of them."""
    try:
        if isinstance(document, list):
            if not document:
                raise Refusal(422, "invalid_body", "the array is empty")
            return _ENTITY_LIST.validate_python(document)
        return [EntityBody.model_validate(document)]
    except ValidationError as exc:
        raise Refusal(
            422, "invalid_body", "the body does not validate", detail=_errors(exc)
        ) from None


def _invalid(exc: ValidationError) -> Refusal:
    return Refusal(422, "invalid_body", "the body does not validate", detail=_errors(exc))


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Where and what, without echoing the input (it may hold a token)."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)[:20]
    ]
