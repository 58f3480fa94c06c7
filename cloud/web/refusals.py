"""Refused input in the page's language: what a person reads when a form or a query is not
accepted (422), instead of pydantic's English.

The API validates with pydantic and answers its English ``msg`` (cloud/api/, unchanged). The
pages validate the same request models, then say each error again from its ``type`` and
``ctx`` (pydantic's stable error codes: https://docs.pydantic.dev/latest/errors/validation_errors/)
through the zh_CN catalogue. A model's own check raised as :class:`cloud.errors.InvalidValue`
carries its message id and is translated as a domain sentence is; a type we do not know
keeps pydantic's English text, never nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from fastapi import Request
from pydantic import ValidationError

from cloud.errors import N_, InvalidValue, translate
from cloud.web import i18n
from cloud.web.render import locale_of
from cloud.web.session import PageError

Gettext = Callable[[str], str]

#: pydantic's error types as sentences about a field, their ``ctx`` as parameters.
PYDANTIC: Final[dict[str, str]] = {
    "missing": N_("is required"),
    "string_too_short": N_("may not be empty"),
    "string_too_long": N_("is too long (at most %(max_length)s characters)"),
    "string_pattern_mismatch": N_("has characters that are not allowed, or the wrong format"),
    "string_type": N_("must be text"),
    "int_parsing": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "decimal_parsing": N_("must be a number"),
    "bool_parsing": N_("must be yes or no"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "greater_than": N_("must be more than %(gt)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "less_than": N_("must be less than %(lt)s"),
    "too_short": N_("needs at least %(min_length)s"),
    "too_long": N_("may have at most %(max_length)s"),
    "literal_error": N_("is not one of the choices"),
    "enum": N_("is not one of the choices"),
    "date_parsing": N_("must be a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("must be a date (YYYY-MM-DD)"),
    "datetime_parsing": N_("must be a date and time"),
    "datetime_from_date_parsing": N_("must be a date and time"),
    "list_type": N_("must be a list"),
    "dict_type": N_("must be an object"),
    "model_type": N_("must be an object"),
    "json_invalid": N_("is not valid JSON"),
    "extra_forbidden": N_("is not a field this form takes"),
}

#: The fields the pages' forms and filters send, by the request models' names.
FIELDS: Final[dict[str, str]] = {
    "reason": N_("reason"),
    "note": N_("note"),
    "resolution": N_("resolution"),
    "seller_carrier": N_("courier"),
    "carrier": N_("courier"),
    "warehouse": N_("warehouse"),
    "seller_note": N_("seller note"),
    "order_nos": N_("order numbers"),
    "lines": N_("lines"),
    "status": N_("status"),
    "channel": N_("channel"),
    "shop": N_("shop"),
    "q": N_("keywords"),
    "on_hold": N_("held"),
    "held": N_("held"),
    "arrived_from": N_("arrived from"),
    "arrived_to": N_("arrived to"),
    "shipped_from": N_("shipped from"),
    "shipped_to": N_("shipped to"),
    "page": N_("page"),
    "node_id": N_("node"),
    "username": N_("username"),
    "password": N_("password"),
    "role": N_("role"),
    "name": N_("name"),
    "priority": N_("priority"),
    "mchid": N_("merchant number"),
    "serial_no": N_("API certificate serial number"),
    "private_key": N_("merchant API private key"),
    "platform_key": N_("WeChat Pay public key"),
    "platform_serial": N_("WeChat Pay's key id"),
    "api_v3_key": N_("APIv3 key"),
    "first_day": N_("first day"),
    "api_url": N_("WeChat Pay's address"),
    "day": N_("day"),
}


def gettext_of(request: Request) -> Gettext:
    return i18n.translations(locale_of(request)).gettext


def sentence(gettext: Gettext, error: Any) -> str:
    """One pydantic error (an item of ``errors()``) as a sentence in ``gettext``'s language."""
    ctx = dict(error.get("ctx") or {})
    english = str(error.get("msg", "")).removeprefix("Value error, ")
    raised = ctx.get("error")
    if isinstance(raised, InvalidValue):
        return raised.translated(gettext)
    msgid = PYDANTIC.get(str(error.get("type", "")))
    if msgid is None:
        return english
    params = {k: v for k, v in ctx.items() if isinstance(v, str | int | float)}
    return translate(msgid, params, english, gettext) if params else gettext(msgid)


def where(gettext: Gettext, loc: Sequence[Any]) -> str:
    """A field's place (``lines.0.qty``) with the names a person reads."""
    return ".".join(gettext(FIELDS[p]) if p in FIELDS else str(p) for p in loc)


def located(gettext: Gettext, errors: Iterable[Any], skip: int = 0) -> str:
    """Every error as "field: sentence", joined; ``skip`` leading parts of each ``loc``
    (FastAPI's "query", "body", "path")."""
    parts = []
    for e in errors:
        place = where(gettext, tuple(e.get("loc") or ())[skip:])
        text = sentence(gettext, e)
        parts.append(f"{place}: {text}" if place else text)
    return "; ".join(parts)


def invalid(request: Request, err: ValidationError) -> PageError:
    """A form refused by its request model: a 422 page saying why, in the page's language
    (the first error, as the pages have always shown)."""
    return PageError(422, located(gettext_of(request), err.errors()[:1]))
